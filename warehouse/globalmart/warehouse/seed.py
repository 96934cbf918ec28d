"""A small, deterministic e-commerce data set for tests and examples: reference snapshots and the
three event types, shaped like the generator's (sessions that view, add to cart, then check out or
abandon). Same seed, same events. Large volumes come from `synthetic` (generated inside Spark)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

COUNTRIES = [
    {
        "country": "US",
        "country_name": "United States",
        "currency": "USD",
        "region": "North America",
        "timezone": "America/New_York",
    },
    {
        "country": "GB",
        "country_name": "United Kingdom",
        "currency": "GBP",
        "region": "Europe",
        "timezone": "Europe/London",
    },
    {
        "country": "DE",
        "country_name": "Germany",
        "currency": "EUR",
        "region": "Europe",
        "timezone": "Europe/Berlin",
    },
    {
        "country": "FR",
        "country_name": "France",
        "currency": "EUR",
        "region": "Europe",
        "timezone": "Europe/Paris",
    },
    {
        "country": "JP",
        "country_name": "Japan",
        "currency": "JPY",
        "region": "Asia-Pacific",
        "timezone": "Asia/Tokyo",
    },
]
PAYMENT_METHODS = ["credit_card", "debit_card", "paypal", "apple_pay", "google_pay"]
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass
class SeedData:
    users: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    countries: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def reference(seed: int, users: int, products: int, categories: int) -> SeedData:
    rng = random.Random(seed)
    data = SeedData(countries=[dict(c) for c in COUNTRIES])
    for n in range(categories):
        data.categories.append(
            {
                "category_id": f"CAT-{n:03d}",
                "name": f"Category {n}",
                "department": f"Dept {n % 4}",
                "updated_at": EPOCH,
            }
        )
    for n in range(products):
        data.products.append(
            {
                "product_id": f"P-{n:05d}",
                "name": f"Product {n}",
                "category_id": f"CAT-{rng.randrange(categories):03d}",
                "brand": f"Brand {n % 7}",
                "price": Decimal(rng.randrange(199, 49_999)) / 100,
                "stock_quantity": 100,
                "rating": None,
                "is_active": True,
                "created_at": EPOCH,
                "updated_at": EPOCH,
            }
        )
    for n in range(users):
        data.users.append(
            {
                "user_id": f"U-{n:06d}",
                "first_name": "F",
                "last_name": "L",
                "email": f"u{n}@example.com",
                "age": rng.randrange(18, 80),
                "gender": None,
                "country": rng.choice(COUNTRIES)["country"],
                "city": f"City {n % 13}",
                "loyalty_tier": rng.choice(["bronze", "silver", "gold", "platinum"]),
                "registered_at": EPOCH,
                "updated_at": EPOCH,
            }
        )
    return data


def generate(
    seed: int,
    first_day: date,
    day_count: int,
    transactions_per_day: int,
    *,
    users: int = 200,
    products: int = 60,
    categories: int = 8,
) -> SeedData:
    """Reference data plus `day_count` days of events, ~6 views and ~3 cart events per purchase."""
    data = reference(seed, users, products, categories)
    rng = random.Random(seed + 1)
    events: dict[str, list[dict[str, Any]]] = {
        "transaction": [],
        "cart_event": [],
        "product_view": [],
    }
    for offset in range(day_count):
        day = first_day + timedelta(days=offset)
        for _ in range(transactions_per_day):
            _purchase_session(rng, data, day, events, buy=True)
        for _ in range(max(1, transactions_per_day // 3)):
            _purchase_session(rng, data, day, events, buy=False)
    data.events = events
    return data


def _purchase_session(
    rng: random.Random,
    data: SeedData,
    day: date,
    events: dict[str, list[dict[str, Any]]],
    *,
    buy: bool,
) -> None:
    user = rng.choice(data.users)
    session = _id(rng)
    start = datetime.combine(day, time(0), UTC) + timedelta(seconds=rng.randrange(86_000))
    clock = iter(start + timedelta(seconds=5 * n) for n in range(1000))
    common = {"session_id": session, "user_id": user["user_id"], "country": user["country"]}
    picks = rng.sample(data.products, rng.randint(1, 3))
    for _ in range(2):
        events["product_view"].append(
            {
                **common,
                "event_id": _id(rng),
                "event_time": next(clock),
                "action": "search",
                "product_id": None,
                "category_id": None,
                "search_query": "shoes",
                "filters": {},
                "compared_product_ids": [],
                "duration_seconds": None,
            }
        )
    for product in picks:
        for _ in range(rng.randint(1, 2)):
            events["product_view"].append(
                {
                    **common,
                    "event_id": _id(rng),
                    "event_time": next(clock),
                    "action": "view",
                    "product_id": product["product_id"],
                    "category_id": product["category_id"],
                    "search_query": None,
                    "filters": {},
                    "compared_product_ids": [],
                    "duration_seconds": rng.randint(5, 300),
                }
            )
    lines, cart_total, units = [], Decimal("0.00"), 0
    for product in picks:
        quantity = rng.randint(1, 3)
        cart_total += product["price"] * quantity
        units += quantity
        events["cart_event"].append(
            _cart(rng, common, next(clock), "add", product, quantity, cart_total, units)
        )
        lines.append(
            {
                "product_id": product["product_id"],
                "category_id": product["category_id"],
                "quantity": quantity,
                "unit_price": product["price"],
                "line_amount": product["price"] * quantity,
            }
        )
    action = "checkout" if buy else "abandon"
    events["cart_event"].append(
        _cart(rng, common, next(clock), action, None, None, cart_total, units)
    )
    if buy:
        events["transaction"].append(
            {
                "event_id": _id(rng),
                "event_time": next(clock),
                "transaction_id": _id(rng),
                "user_id": user["user_id"],
                "session_id": session,
                "country": user["country"],
                "payment_method": rng.choice(PAYMENT_METHODS),
                "items": lines,
                "total_amount": sum((line["line_amount"] for line in lines), Decimal("0.00")),
            }
        )


def _cart(
    rng: random.Random,
    common: dict[str, Any],
    when: datetime,
    action: str,
    product: dict[str, Any] | None,
    quantity: int | None,
    total: Decimal,
    units: int,
) -> dict[str, Any]:
    return {
        **common,
        "event_id": _id(rng),
        "event_time": when,
        "action": action,
        "product_id": product["product_id"] if product else None,
        "category_id": product["category_id"] if product else None,
        "quantity": quantity,
        "unit_price": product["price"] if product else None,
        "cart_total": total,
        "cart_item_count": units,
    }


def by_day(events: list[dict[str, Any]]) -> Iterator[tuple[date, list[dict[str, Any]]]]:
    grouped: dict[date, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["event_time"].date(), []).append(event)
    yield from sorted(grouped.items())


def load_into_archive(
    spark: Any, data: SeedData, archive_path: str, reference_path: str | None, token: str = "seed"
) -> None:
    """Write the events into the archive layout (the archive query's own writer) and the
    reference snapshots next to it: the batch jobs' input without Kafka."""
    from globalmart.warehouse.archive import write_partitioned
    from globalmart.warehouse.frames import archive_schema
    from globalmart.warehouse.reference import write_reference

    for event_type, events in data.events.items():
        schema = archive_schema(spark, event_type)
        rows = []
        for offset, event in enumerate(events):
            extra = {
                "kafka_partition": 0,
                "kafka_offset": offset,
                "schema_id": 0,
                "event_date": event["event_time"].date(),
            }
            rows.append(tuple({**event, **extra}.get(f.name) for f in schema.fields))
        frame = spark.createDataFrame(rows, schema)
        write_partitioned(spark, frame, archive_path, event_type, token)
    if reference_path is not None:
        for entity, records in (
            ("user", data.users),
            ("product", data.products),
            ("category", data.categories),
            ("country", data.countries),
        ):
            write_reference(spark, reference_path, entity, records)
