"""Reference data (countries, categories, users, products) computed from an id and a seed.

Nothing is stored: every attribute of user `U00001234` or product `P000042` is a pure function of
its number and the reference seed (splitmix64 over integers, identical on every platform and
Python version). So 10M users and 250K products cost nothing at start-up, and any job (a stream
query, the nightly batch building dim_customer / dim_product) computes exactly the records the
generator used, from the ids it sees in the events:

    from globalmart.generators import reference
    ref = reference.Reference(seed=settings.data_gen_seed)
    ref.user_by_id("U00001234")       # dict matching schemas/.../reference/user
    ref.products(1_000)               # iterator over the first 1,000 product records

The records match the `reference` Avro schemas (amounts as Decimal, timestamps as UTC epoch
microseconds). The seed is `DATA_GEN_SEED` (settings.data_gen_seed) unless a run says otherwise;
the generator records the one it used in its run summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

M64: Final = (1 << 64) - 1
USER_PREFIX: Final = "U"
PRODUCT_PREFIX: Final = "P"
CATEGORY_PREFIX: Final = "C"
MAX_USERS: Final = 10_000_000
MAX_PRODUCTS: Final = 250_000
CATEGORY_COUNT: Final = 100

# Hash streams: one per attribute family, so adding an attribute never shifts the others.
_S_USER, _S_USER2, _S_PRODUCT, _S_PRODUCT2, _S_SEGMENT, _S_TIME = 1, 2, 3, 4, 5, 6


def mix64(seed: int, stream: int, n: int) -> int:
    """splitmix64 of (seed, stream, n): a well-spread 64-bit value, pure integer arithmetic."""
    x = (seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03 + n * 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _micros(year: int, month: int = 1, day: int = 1) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp()) * 1_000_000


# -- countries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    currency: str
    region: str
    timezone: str
    #: share of users living there
    weight: float
    cities: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    #: payment methods and their weights, in the transaction schema's symbols
    payments: tuple[tuple[str, float], ...]


COUNTRIES: Final[tuple[Country, ...]] = (
    Country(
        "US", "United States", "USD", "North America", "America/New_York", 0.40,
        ("New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Seattle", "Denver", "Boston"),
        ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
         "Sarah", "Daniel", "Emily"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson",
         "Moore"),
        (("credit_card", 0.45), ("debit_card", 0.2), ("paypal", 0.15), ("apple_pay", 0.1),
         ("google_pay", 0.07), ("bank_transfer", 0.02), ("other", 0.01)),
    ),
    Country(
        "GB", "United Kingdom", "GBP", "Europe", "Europe/London", 0.15,
        ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol", "Edinburgh"),
        ("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Charlie", "Grace"),
        ("Taylor", "Evans", "Thomas", "Roberts", "Walker", "Wright", "Hughes", "Green", "Hall"),
        (("debit_card", 0.4), ("credit_card", 0.3), ("paypal", 0.15), ("apple_pay", 0.1),
         ("google_pay", 0.03), ("bank_transfer", 0.01), ("other", 0.01)),
    ),
    Country(
        "DE", "Germany", "EUR", "Europe", "Europe/Berlin", 0.18,
        ("Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt", "Stuttgart", "Leipzig"),
        ("Lukas", "Anna", "Leon", "Lena", "Finn", "Mia", "Jonas", "Hannah", "Paul", "Lea"),
        ("Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"),
        (("paypal", 0.35), ("bank_transfer", 0.25), ("debit_card", 0.15), ("credit_card", 0.15),
         ("apple_pay", 0.05), ("google_pay", 0.03), ("other", 0.02)),
    ),
    Country(
        "FR", "France", "EUR", "Europe", "Europe/Paris", 0.12,
        ("Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Bordeaux", "Lille"),
        ("Gabriel", "Louise", "Raphael", "Jade", "Louis", "Emma", "Arthur", "Alice", "Jules"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
        (("credit_card", 0.5), ("debit_card", 0.15), ("paypal", 0.2), ("apple_pay", 0.08),
         ("google_pay", 0.04), ("bank_transfer", 0.02), ("other", 0.01)),
    ),
    Country(
        "JP", "Japan", "JPY", "Asia-Pacific", "Asia/Tokyo", 0.15,
        ("Tokyo", "Osaka", "Yokohama", "Nagoya", "Sapporo", "Fukuoka", "Kobe", "Kyoto"),
        ("Haruto", "Yui", "Sota", "Hina", "Yuto", "Sakura", "Riku", "Aoi", "Ren", "Mei"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"),
        (("credit_card", 0.55), ("other", 0.1), ("debit_card", 0.05), ("paypal", 0.08),
         ("apple_pay", 0.12), ("google_pay", 0.05), ("bank_transfer", 0.05)),
    ),
)  # fmt: skip
COUNTRY_BY_CODE: Final = {c.code: c for c in COUNTRIES}

# -- categories -----------------------------------------------------------------------------------

#: department -> (its 10 categories, typical unit price in USD, brands)
DEPARTMENTS: Final[tuple[tuple[str, tuple[str, ...], int, tuple[str, ...]], ...]] = (
    ("Electronics", ("Smartphones", "Laptops", "Tablets", "Headphones", "Cameras", "Televisions",
     "Smartwatches", "Speakers", "Monitors", "Drones"), 400,
     ("Voltix", "Nexon", "Auralis", "Pixelon", "Quantra")),
    ("Computers & Office", ("Keyboards", "Mice", "Printers", "Routers", "Storage", "Desks",
     "Office Chairs", "Webcams", "Cables", "Ink & Toner"), 60,
     ("Keystone", "Datavia", "Officio", "Linkport", "Ergon")),
    ("Home & Kitchen", ("Cookware", "Small Appliances", "Coffee Makers", "Cutlery", "Bedding",
     "Lighting", "Storage & Organization", "Vacuum Cleaners", "Decor", "Bath"), 45,
     ("Casa Nova", "Hearthly", "Kitchara", "Lumio", "Nestwell")),
    ("Fashion", ("Men's Clothing", "Women's Clothing", "Shoes", "Bags", "Watches", "Jewelry",
     "Sunglasses", "Accessories", "Kids' Clothing", "Outerwear"), 35,
     ("Urbanne", "Velour", "Stridex", "Maison Rue", "Cotonia")),
    ("Beauty & Health", ("Skincare", "Makeup", "Fragrances", "Hair Care", "Vitamins",
     "Personal Care", "Oral Care", "Fitness Trackers", "Shaving", "First Aid"), 20,
     ("Glowa", "Purelle", "Vitalis", "Aromé", "Dermix")),
    ("Sports & Outdoors", ("Fitness Equipment", "Cycling", "Camping", "Running", "Yoga",
     "Team Sports", "Fishing", "Swimming", "Hiking", "Winter Sports"), 55,
     ("Peakline", "Stride", "Trailix", "Aquafin", "Corefit")),
    ("Toys & Games", ("Board Games", "Puzzles", "Building Sets", "Dolls", "Action Figures",
     "Video Games", "Outdoor Play", "Educational Toys", "Plush", "Card Games"), 25,
     ("Playwise", "Brickly", "Funforge", "Toyora", "Gamecraft")),
    ("Books & Media", ("Fiction", "Non-fiction", "Children's Books", "Comics", "Textbooks",
     "Music", "Movies", "Magazines", "Audiobooks", "E-readers"), 15,
     ("Pageturn", "Inkwell", "Storyhouse", "Chapterly", "Folio")),
    ("Grocery", ("Coffee & Tea", "Snacks", "Beverages", "Pantry", "Breakfast", "Organic",
     "International", "Baking", "Candy", "Pet Food"), 8,
     ("Harvesta", "Pantrio", "Greenly", "Brewhaus", "Nibble")),
    ("Automotive & Tools", ("Power Tools", "Hand Tools", "Car Electronics", "Car Care",
     "Tires & Wheels", "Garden Tools", "Safety Equipment", "Hardware", "Paint", "Generators"), 120,
     ("Torqueline", "Ironclad", "Motiva", "Gripwell", "Voltmax")),
)  # fmt: skip
_ADJECTIVES: Final = ("Classic", "Pro", "Essential", "Ultra", "Compact", "Deluxe", "Eco", "Smart",
                      "Premium", "Lite", "Max", "Prime")  # fmt: skip
_GENDERS: Final = ("female", "male", "non-binary", None)
_TIERS: Final = (("bronze", 0.60), ("silver", 0.25), ("gold", 0.11), ("platinum", 0.04))
#: behaviour segments (not part of the user record: they steer the generator's model)
SEGMENTS: Final = ("browser", "regular", "bargain_hunter", "big_spender")
_SEGMENT_WEIGHTS: Final = (0.35, 0.40, 0.17, 0.08)

#: every reference record's updated_at: the catalog's fixed version time (no history yet)
CATALOG_EPOCH_US: Final = _micros(2026, 1, 1)
_REGISTERED_FROM, _REGISTERED_TO = _micros(2018), _micros(2026)
_LISTED_FROM, _LISTED_TO = _micros(2020), _micros(2026)


def category_id(number: int) -> str:
    return f"{CATEGORY_PREFIX}{number:03d}"


def user_id(number: int) -> str:
    return f"{USER_PREFIX}{number:08d}"


def product_id(number: int) -> str:
    return f"{PRODUCT_PREFIX}{number:06d}"


def id_number(identifier: str, prefix: str) -> int:
    """The number inside `U00001234` / `P000042` / `C007`; ValueError for anything else."""
    if not identifier.startswith(prefix) or not identifier[len(prefix) :].isdigit():
        raise ValueError(f"{identifier!r} is not a {prefix}<number> id")
    return int(identifier[len(prefix) :])


def category_of_product(number: int) -> int:
    """Products are dealt round-robin over the categories: P000001 -> C001, P000101 -> C001."""
    return (number - 1) % CATEGORY_COUNT + 1


def department_of(category: int) -> tuple[str, tuple[str, ...], int, tuple[str, ...]]:
    return DEPARTMENTS[(category - 1) // 10]


def category_name(category: int) -> str:
    return department_of(category)[1][(category - 1) % 10]


def category_record(category: int) -> dict[str, Any]:
    if not 1 <= category <= CATEGORY_COUNT:
        raise ValueError(f"category number {category} outside 1..{CATEGORY_COUNT}")
    return {
        "category_id": category_id(category),
        "name": category_name(category),
        "department": department_of(category)[0],
        "updated_at": CATALOG_EPOCH_US,
    }


def country_record(country: Country) -> dict[str, Any]:
    return {
        "country": country.code,
        "country_name": country.name,
        "currency": country.currency,
        "region": country.region,
        "timezone": country.timezone,
    }


def _pick(weighted: tuple[tuple[Any, float], ...], unit: float) -> Any:
    """The item whose cumulative weight first exceeds `unit` (0 <= unit < 1)."""
    total = 0.0
    for item, weight in weighted:
        total += weight
        if unit < total:
            return item
    return weighted[-1][0]


def _unit(bits: int) -> float:
    """53 hash bits as a float in [0, 1)."""
    return (bits >> 11) / 9007199254740992.0


_COUNTRY_WEIGHTS: Final = tuple((c, c.weight) for c in COUNTRIES)
_SEGMENT_TABLE: Final = tuple(zip(SEGMENTS, _SEGMENT_WEIGHTS))


class Reference:
    """The reference data of one seed. Cheap to create; holds only small caches."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._prices: dict[int, int] = {}

    # -- users --------------------------------------------------------------------------------
    def user_country(self, number: int) -> Country:
        return _pick(_COUNTRY_WEIGHTS, _unit(mix64(self.seed, _S_USER, number)))  # type: ignore

    def user_segment(self, number: int) -> str:
        return str(_pick(_SEGMENT_TABLE, _unit(mix64(self.seed, _S_SEGMENT, number))))

    def user(self, number: int) -> dict[str, Any]:
        if not 1 <= number <= MAX_USERS:
            raise ValueError(f"user number {number} outside 1..{MAX_USERS}")
        h = mix64(self.seed, _S_USER, number)
        h2 = mix64(self.seed, _S_USER2, number)
        country = self.user_country(number)
        first = country.first_names[(h >> 8) % len(country.first_names)]
        last = country.last_names[(h >> 16) % len(country.last_names)]
        # Ages 18-80, most between 25 and 55: the sum of two uniforms is triangular.
        age = 18 + ((h2 & 0xFFFF) % 32) + ((h2 >> 16 & 0xFFFF) % 32)
        span = _REGISTERED_TO - _REGISTERED_FROM
        registered = _REGISTERED_FROM + mix64(self.seed, _S_TIME, number) % span
        segment = self.user_segment(number)
        tier_unit = _unit(mix64(self.seed, _S_USER2, ~number & M64))
        if segment == "big_spender":  # loyal big spenders sit in the higher tiers
            tier_unit = 0.6 + 0.4 * tier_unit
        return {
            "user_id": user_id(number),
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}.{number}@example.com".lower(),
            "age": age,
            "gender": _GENDERS[(h >> 24) % len(_GENDERS)],
            "country": country.code,
            "city": country.cities[(h >> 32) % len(country.cities)],
            "loyalty_tier": _pick(_TIERS, tier_unit),
            "registered_at": registered,
            "updated_at": max(registered, CATALOG_EPOCH_US),
        }

    def user_by_id(self, identifier: str) -> dict[str, Any]:
        return self.user(id_number(identifier, USER_PREFIX))

    def users(self, count: int, start: int = 1) -> Iterator[dict[str, Any]]:
        for number in range(start, start + count):
            yield self.user(number)

    # -- products -----------------------------------------------------------------------------
    def price_cents(self, number: int) -> int:
        """List price in cents: the department's typical price x 0.3..3 (log-uniform), .99."""
        cached = self._prices.get(number)
        if cached is not None:
            return cached
        typical = department_of(category_of_product(number))[2]
        factor = 10 ** (_unit(mix64(self.seed, _S_PRODUCT, number)) - 0.5)  # 0.32 .. 3.16
        cents = max(99, int(typical * factor) * 100 + 99)
        self._prices[number] = cents
        return cents

    def product(self, number: int) -> dict[str, Any]:
        if not 1 <= number <= MAX_PRODUCTS:
            raise ValueError(f"product number {number} outside 1..{MAX_PRODUCTS}")
        category = category_of_product(number)
        department, names, _typical, brands = department_of(category)
        h = mix64(self.seed, _S_PRODUCT2, number)
        brand = brands[h % len(brands)]
        adjective = _ADJECTIVES[(h >> 8) % len(_ADJECTIVES)]
        noun = names[(category - 1) % 10]
        stock = 0 if (h >> 16) % 20 == 0 else (h >> 24) % 1000 + 1  # 5% out of stock
        rated = (h >> 40) % 10 != 0
        span = _LISTED_TO - _LISTED_FROM
        created = _LISTED_FROM + mix64(self.seed, _S_TIME, ~number & M64) % span
        return {
            "product_id": product_id(number),
            "name": f"{brand} {adjective} {noun} {number % 997 + 1}",
            "category_id": category_id(category),
            "brand": brand,
            "price": Decimal(self.price_cents(number)).scaleb(-2),
            "stock_quantity": stock,
            "rating": round(1 + 4 * _unit(h << 3 & M64), 1) if rated else None,
            "is_active": (h >> 48) % 50 != 0,
            "created_at": created,
            "updated_at": max(created, CATALOG_EPOCH_US),
        }

    def product_by_id(self, identifier: str) -> dict[str, Any]:
        return self.product(id_number(identifier, PRODUCT_PREFIX))

    def products(self, count: int, start: int = 1) -> Iterator[dict[str, Any]]:
        for number in range(start, start + count):
            yield self.product(number)

    # -- small tables -------------------------------------------------------------------------
    @staticmethod
    def categories() -> Iterator[dict[str, Any]]:
        for number in range(1, CATEGORY_COUNT + 1):
            yield category_record(number)

    @staticmethod
    def countries() -> Iterator[dict[str, Any]]:
        for country in COUNTRIES:
            yield country_record(country)


def brand_names(category: int) -> tuple[str, ...]:
    return department_of(category)[3]
