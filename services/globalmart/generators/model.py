"""The behaviour model: shoppers in sessions who browse, fill carts and buy, as an event sequence.

Each call to `next_event()` picks the event kind by the configured mix (60/30/10 by default), then
lets the simulated shoppers decide what happens:

- Sessions belong to one user each and have an interest (a category) that drifts. Browsing events
  view, search, filter and compare products of that category; popular products are seen more.
- Carts add what was just looked at, change quantities, remove lines, and end in a checkout or
  an abandon; either ends the session. Checked-out carts wait in a queue and become the next
  transactions, with the same items, user, session and country; when no checkout is waiting,
  the transaction is a direct purchase without a session (session_id null).
- A share of transactions (2% by default) are anomalies of the kinds the anomaly job detects:
  `high_value` (total over $5,000), `high_quantity` (50+ units of one product) and
  `rapid_purchases` (3 purchases by one user in consecutive transaction slots, i.e. well inside
  5 minutes; half of these bursts also spend over $10,000). Normal purchases stay clear of every
  threshold (carts are capped at $4,500, lines at 5 units, and a user who bought within the last
  5 minutes or is already shopping does not start a new session, as far as possible), so what the
  detector flags is what was injected.
- A share of events (1% by default) is late: its event time lies 5 s to 15 min in the past, so
  windows see out-of-order data and the longest watermarks drop some of it.

Determinism: all choices come from one `random.Random` seeded from (seed, worker); event times
come from a virtual clock (start + n / events_per_second), so the same config yields the same
events, byte for byte. Event ids are RFC 9562 version-8 UUIDs: 80 bits derived from the seed and
the worker, then the event's sequence number: unique, and stable across re-runs of a seed.
"""

from __future__ import annotations

import random
from collections import deque
from decimal import Decimal
from typing import Any, Final

from globalmart.generators import reference as ref
from globalmart.generators.config import ModelConfig

VIEW_KIND, CART_KIND, TRANSACTION_KIND = 0, 1, 2

HIGH_VALUE_THRESHOLD_CENTS: Final = 500_000  # the anomaly job flags totals above $5,000
HIGH_QUANTITY_THRESHOLD: Final = 50  # ... lines with at least 50 units
SUSPICIOUS_WINDOW_US: Final = 5 * 60 * 1_000_000  # ... 3+ purchases or > $10K within 5 minutes
ANOMALY_KINDS: Final = ("high_value", "high_quantity", "rapid_purchases")
BURST_LENGTH: Final = 3

NORMAL_CART_CAP_CENTS: Final = 450_000
MAX_LINE_UNITS: Final = 5
MAX_CART_LINES: Final = 6
MIN_LATENESS_US: Final = 5_000_000

_CENT: Final = Decimal("0.01")
_VIEW_ACTIONS: Final = ("view", "search", "filter", "compare")
# cumulative thresholds of the browsing actions per segment (view, search, filter, compare)
_VIEW_WEIGHTS: Final = {
    "browser": (0.55, 0.75, 0.88),
    "regular": (0.55, 0.75, 0.90),
    "bargain_hunter": (0.35, 0.60, 0.88),
    "big_spender": (0.65, 0.80, 0.90),
}
# cumulative thresholds for a non-empty cart: add, update, remove, checkout (rest: abandon)
_CART_WEIGHTS: Final = (0.33, 0.41, 0.48, 0.88)
_SESSION_VIEWS: Final = {"browser": 12, "regular": 6, "bargain_hunter": 10, "big_spender": 4}
_SORTS: Final = ("price_asc", "price_desc", "rating", "newest", "popularity")
_HEX4: Final = tuple(f"{n:04x}" for n in range(1 << 16))
_CATEGORY_IDS: Final = ("",) + tuple(ref.category_id(c) for c in range(1, ref.CATEGORY_COUNT + 1))


def _event_id_prefix(seed: int, worker: int) -> str:
    h = f"{ref.mix64(seed, 101, worker):016x}{ref.mix64(seed, 102, worker):016x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[0:8]}-{h[8:12]}-8{h[13:16]}-{variant}{h[17:20]}-"


#: what a session needs to know of its user: (user_id, country code, payments, segment,
#: browsing thresholds), derived from the reference data and memoised (it is hashing)
_Shopper = tuple[str, str, tuple[tuple[str, float], ...], str, tuple[float, float, float]]
#: memo bounds (entries): 10M users or 250K products must not all stay in memory
_MEMO_LIMIT: Final = 200_000


class _Session:
    __slots__ = (
        "session_id",
        "user",
        "user_id",
        "country",
        "segment",
        "category",
        "last_product",
        "cart",
        "cart_cents",
        "cart_units",
        "views_left",
        "payments",
        "view_thresholds",
    )

    def __init__(self, session_id: str, user: int, shopper: _Shopper) -> None:
        self.session_id = session_id
        self.user = user
        self.user_id, self.country, self.payments, self.segment, self.view_thresholds = shopper
        self.category = 0
        self.last_product = 0
        self.cart: dict[int, int] = {}
        self.cart_cents = 0
        self.cart_units = 0
        self.views_left = 0


class EventModel:
    """One worker's event sequence. `next_event()` -> (kind, key, event)."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.rng = random.Random(ref.mix64(config.seed, 100, config.worker))
        self.reference = ref.Reference(config.reference_seed)
        self.seq = 0
        self._id_prefix = _event_id_prefix(config.seed, config.worker)
        self._id_high = f"{self._id_prefix}00000000"
        self._tag = f"{ref.mix64(config.seed, 103, 0) >> 32:08x}-{config.worker}"
        self._session_counter = 0
        self._transaction_counter = 0
        # virtual clock: this worker's events interleave with the others' on one timeline
        self._interval_us = 1_000_000.0 / config.events_per_second
        self._start_us = config.start_time_us + config.worker * self._interval_us
        self._step_us = self._interval_us * config.workers
        self._mix_view = config.mix[0]
        self._mix_cart = config.mix[0] + config.mix[1]
        self._late_share = config.late_share
        self._max_late_us = int(config.max_lateness_s * 1_000_000)
        self._invalid_share = config.invalid_share
        # users of this worker: numbers n with (n - 1) % workers == worker
        self._user_count = (config.users - 1 - config.worker) // config.workers + 1
        self._categories = min(ref.CATEGORY_COUNT, config.products)
        self._random = self.rng.random
        # products per category (product n belongs to category (n - 1) % 100 + 1)
        self._per_category = [0] + [
            (config.products - c) // ref.CATEGORY_COUNT + 1 for c in range(1, self._categories + 1)
        ]
        self._anomaly_start = _anomaly_start_probability(config.anomaly_rate)
        self._burst: tuple[int, int, bool] | None = None  # (user, remaining, high_spend)
        self._pending: deque[tuple[_Session, dict[int, int], int]] = deque()
        self._active_users: set[int] = set()
        self._recent_buyers: dict[int, int] = {}
        self._recent_order: deque[tuple[int, int]] = deque()
        self._products: dict[int, tuple[str, str, int, Decimal]] = {}
        self._shoppers: dict[int, _Shopper] = {}
        self._amounts: dict[int, Decimal] = {}  # cents -> dollars (Decimal() is costly)
        self._queries = [_search_queries(c) for c in range(1, ref.CATEGORY_COUNT + 1)]
        self._cheap = _categories_by_price(self._categories, cheapest=True)
        self._dear = _categories_by_price(self._categories, cheapest=False)
        self.sessions = [self._new_session() for _ in range(min(config.sessions, 100_000))]
        self.counts: dict[str, int] = {
            "late": 0,
            "invalid": 0,
            "checkout_purchases": 0,
            "direct_purchases": 0,
            **{f"anomaly_{k}": 0 for k in ANOMALY_KINDS},
        }

    # -- public -------------------------------------------------------------------------------
    def next_event(self) -> tuple[int, str, dict[str, Any]]:
        random = self._random
        seq = self.seq
        self.seq = seq + 1
        now = int(self._start_us + seq * self._step_us)
        low = seq & 0xFFFF
        if not low:  # the id's upper 8 hex digits change every 65536 events
            self._id_high = f"{self._id_prefix}{seq >> 16:08x}"
        event_id = self._id_high + _HEX4[low]
        if random() < self._late_share:
            now -= self.rng.randint(MIN_LATENESS_US, self._max_late_us)
            self.counts["late"] += 1
        pick = random()
        if pick < self._mix_view:
            found = self._view(event_id, now)
        elif pick < self._mix_cart:
            found = self._cart(event_id, now)
        else:
            found = self._transaction(event_id, now)
        if self._invalid_share and random() < self._invalid_share:
            self.counts["invalid"] += 1
            return found[0], found[1], _break(found[2], self.rng)
        return found

    # -- sessions and users -------------------------------------------------------------------
    def _draw_user(self) -> int:
        config = self.config
        return int(self.rng.random() * self._user_count) * config.workers + config.worker + 1

    def _pick_user(self) -> int:
        """A user not shopping right now and without a purchase in the last 5 minutes, if any."""
        # _draw_user inlined: with few users all may be taken, and then all five draws happen
        random, count = self._random, self._user_count
        workers, offset = self.config.workers, self.config.worker + 1
        active, recent = self._active_users, self._recent_buyers
        user = int(random() * count) * workers + offset
        for _ in range(4):
            if user not in active and user not in recent:
                break
            user = int(random() * count) * workers + offset
        return user

    def _new_session(self) -> _Session:
        user = self._pick_user()
        self._session_counter += 1
        shopper = self._shoppers.get(user) or self._shopper(user)
        session = _Session(f"S-{self._tag}-{self._session_counter}", user, shopper)
        session.category = self._random_category()
        session.views_left = 1 + int(self.rng.random() * 2 * _SESSION_VIEWS[session.segment])
        self._active_users.add(user)
        return session

    def _shopper(self, user: int) -> _Shopper:
        country = self.reference.user_country(user)
        segment = self.reference.user_segment(user)
        found = (ref.user_id(user), country.code, country.payments, segment, _VIEW_WEIGHTS[segment])
        if len(self._shoppers) >= _MEMO_LIMIT:
            self._shoppers.clear()
        self._shoppers[user] = found
        return found

    def _amount(self, cents: int) -> Decimal:
        """cents as a Decimal amount in dollars, memoised (totals repeat: prices are few)."""
        found = self._amounts.get(cents)
        if found is None:
            if len(self._amounts) >= _MEMO_LIMIT:
                self._amounts.clear()
            found = self._amounts[cents] = Decimal(cents) * _CENT
        return found

    def _end_session(self, index: int) -> None:
        self._active_users.discard(self.sessions[index].user)
        self.sessions[index] = self._new_session()

    def _random_category(self) -> int:
        return 1 + int(self.rng.random() * self._categories)

    def _product_in(self, category: int) -> int:
        """A product of the category; low numbers are the popular ones (quadratic skew)."""
        r = self._random()
        return category + ref.CATEGORY_COUNT * int(self._per_category[category] * r * r)

    def _info(self, product: int) -> tuple[str, str, int, Decimal]:
        """(product_id, category_id, price in cents, price) of a product, memoised."""
        found = self._products.get(product)
        if found is None:
            cents = self.reference.price_cents(product)
            found = self._products[product] = (
                ref.product_id(product),
                _CATEGORY_IDS[ref.category_of_product(product)],
                cents,
                Decimal(cents) * _CENT,
            )
        return found

    def _price(self, product: int) -> tuple[int, Decimal]:
        info = self._info(product)
        return info[2], info[3]

    def _pid(self, product: int) -> str:
        found = self._products.get(product)
        return found[0] if found is not None else self._info(product)[0]

    # -- browsing -----------------------------------------------------------------------------
    def _view(self, event_id: str, now: int) -> tuple[int, str, dict[str, Any]]:
        rng = self.rng
        random = self._random
        index = int(random() * len(self.sessions))
        session = self.sessions[index]
        if random() < 0.15:
            session.category = self._random_category()
        category = session.category
        thresholds = session.view_thresholds
        r = random()
        product_id: str | None = None
        category_id: str | None = _CATEGORY_IDS[category]
        search_query = None
        filters: dict[str, str] = {}
        compared: list[str] = []
        duration = None
        if r < thresholds[0]:
            action = "view"
            product = self._product_in(category)
            session.last_product = product
            product_id = (self._products.get(product) or self._info(product))[0]
            duration = 3 + int(random() * random() * 240)
        elif r < thresholds[1]:
            action = "search"
            queries = self._queries[category - 1]
            search_query = queries[int(rng.random() * len(queries))]
            category_id = None
        elif r < thresholds[2]:
            action = "filter"
            filters = _filters(category, rng)
        else:
            action = "compare"
            product = self._product_in(category)
            session.last_product = product
            product_id = (self._products.get(product) or self._info(product))[0]
            others = {self._product_in(category) for _ in range(1 + int(rng.random() * 3))}
            others.discard(product)
            compared = [self._pid(p) for p in sorted(others)]
        session.views_left -= 1
        event = {
            "event_id": event_id,
            "event_time": now,
            "session_id": session.session_id,
            "user_id": session.user_id,
            "country": session.country,
            "action": action,
            "product_id": product_id,
            "category_id": category_id,
            "search_query": search_query,
            "filters": filters,
            "compared_product_ids": compared,
            "duration_seconds": duration,
        }
        if session.views_left <= 0 and not session.cart:
            self._end_session(index)
        return VIEW_KIND, session.user_id, event

    # -- carts --------------------------------------------------------------------------------
    def _cart(self, event_id: str, now: int) -> tuple[int, str, dict[str, Any]]:
        rng = self.rng
        products = self._products
        index = int(rng.random() * len(self.sessions))
        session = self.sessions[index]
        if session.segment == "browser" and not session.cart:  # browsers rarely buy: look again
            index = int(rng.random() * len(self.sessions))
            session = self.sessions[index]
        cart = session.cart
        r = rng.random() if cart else 0.0
        if r < _CART_WEIGHTS[0] and len(cart) >= MAX_CART_LINES:
            r = _CART_WEIGHTS[0]  # full: change a quantity instead
        product = 0
        quantity: int | None = None
        ends = False
        if r < _CART_WEIGHTS[0]:
            action = "add"
            product = session.last_product
            if not product or product in cart:
                product = self._product_in(session.category)
            quantity = 1 + int(rng.random() * rng.random() * 3)
            quantity = min(quantity, MAX_LINE_UNITS - cart.get(product, 0))
            price = (products.get(product) or self._info(product))[2]
            if quantity <= 0 or session.cart_cents + quantity * price > NORMAL_CART_CAP_CENTS:
                action, ends = "checkout", True  # the cart is as big as normal carts get
            else:
                cart[product] = cart.get(product, 0) + quantity
                session.cart_cents += quantity * price
                session.cart_units += quantity
        elif r < _CART_WEIGHTS[1]:
            action = "update"
            product = list(cart)[int(rng.random() * len(cart))]
            old = cart[product]
            new = 1 + int(rng.random() * MAX_LINE_UNITS)
            price = (products.get(product) or self._info(product))[2]
            if new == old:
                new = old - 1 if old > 1 else old + 1
            if session.cart_cents + (new - old) * price > NORMAL_CART_CAP_CENTS:
                new = max(1, old - 1)
            cart[product] = new
            quantity = new
            session.cart_cents += (new - old) * price
            session.cart_units += new - old
        elif r < _CART_WEIGHTS[2]:
            action = "remove"
            product = list(cart)[int(rng.random() * len(cart))]
            quantity = cart.pop(product)
            session.cart_cents -= quantity * (products.get(product) or self._info(product))[2]
            session.cart_units -= quantity
        else:
            action, ends = ("checkout" if r < _CART_WEIGHTS[3] else "abandon"), True
        if ends:
            product, quantity = 0, None
        info = self._info(product) if product else None
        event = {
            "event_id": event_id,
            "event_time": now,
            "session_id": session.session_id,
            "user_id": session.user_id,
            "country": session.country,
            "action": action,
            "product_id": info[0] if info else None,
            "category_id": info[1] if info else None,
            "quantity": quantity,
            "unit_price": info[3] if info else None,
            "cart_total": self._amounts.get(session.cart_cents) or self._amount(session.cart_cents),
            "cart_item_count": session.cart_units,
        }
        if ends:
            if action == "checkout":
                self._pending.append((session, dict(cart), now))
            self._end_session(index)
        return CART_KIND, session.user_id, event

    # -- purchases ----------------------------------------------------------------------------
    def _transaction(self, event_id: str, now: int) -> tuple[int, str, dict[str, Any]]:
        rng = self.rng
        session: _Session | None = None
        anomaly = None
        if self._burst is not None:
            user, remaining, high_spend = self._burst
            self._burst = (user, remaining - 1, high_spend) if remaining > 1 else None
            items = self._burst_items(high_spend)
            anomaly = "rapid_purchases"
        elif rng.random() < self._anomaly_start:
            anomaly = ANOMALY_KINDS[int(rng.random() * len(ANOMALY_KINDS))]
            user = self._pick_user()
            if anomaly == "high_value":
                items = self._high_value_items()
            elif anomaly == "high_quantity":
                items = self._high_quantity_items()
            else:
                high_spend = rng.random() < 0.5
                self._burst = (user, BURST_LENGTH - 1, high_spend)
                items = self._burst_items(high_spend)
        elif self._pending:
            session, items, _checked_out = self._pending.popleft()
            user = session.user
            self.counts["checkout_purchases"] += 1
        else:
            user = self._pick_user()
            items = self._direct_items()
            self.counts["direct_purchases"] += 1
        if anomaly:
            self.counts[f"anomaly_{anomaly}"] += 1
        self._remember_buyer(user, now)
        if session is not None:
            country, payments, session_id = session.country, session.payments, session.session_id
        else:
            shopper = self._shoppers.get(user) or self._shopper(user)
            country, payments, session_id = shopper[1], shopper[2], None
        self._transaction_counter += 1
        lines = []
        total = 0
        for product, quantity in items.items():
            pid, cid, cents, price = self._info(product)
            total += cents * quantity
            lines.append(
                {
                    "product_id": pid,
                    "category_id": cid,
                    "quantity": quantity,
                    "unit_price": price,
                    "line_amount": self._amount(cents * quantity),
                }
            )
        user_id = (self._shoppers.get(user) or self._shopper(user))[0]
        event = {
            "event_id": event_id,
            "event_time": now,
            "transaction_id": f"T-{self._tag}-{self._transaction_counter}",
            "user_id": user_id,
            "session_id": session_id,
            "country": country,
            "payment_method": ref._pick(payments, rng.random()),
            "items": lines,
            "total_amount": self._amount(total),
        }
        return TRANSACTION_KIND, user_id, event

    def _remember_buyer(self, user: int, now: int) -> None:
        order = self._recent_order
        horizon = now - SUSPICIOUS_WINDOW_US
        while order and (order[0][0] < horizon or len(order) > 200_000):
            stamp, old = order.popleft()
            if self._recent_buyers.get(old) == stamp:
                del self._recent_buyers[old]
        self._recent_buyers[user] = now
        order.append((now, user))

    def _lines_below(self, cap_cents: int, lines: int, categories: list[int]) -> dict[int, int]:
        rng = self.rng
        items: dict[int, int] = {}
        total = 0
        for _ in range(lines):
            product = self._product_in(categories[int(rng.random() * len(categories))])
            quantity = 1 + int(rng.random() * 3)
            cost = quantity * self._price(product)[0]
            if product in items or (items and total + cost > cap_cents):
                continue
            if total + cost > cap_cents:  # even one unit is too dear: take the cheapest line
                product, quantity = self._product_in(self._cheap[0]), 1
                cost = self._price(product)[0]
            items[product] = quantity
            total += cost
        return items

    def _direct_items(self) -> dict[int, int]:
        categories = [self._random_category()]
        return self._lines_below(NORMAL_CART_CAP_CENTS, 1 + int(self.rng.random() * 3), categories)

    def _high_value_items(self) -> dict[int, int]:
        """Expensive lines until the total passes $5,000 (no line reaches 50 units)."""
        rng = self.rng
        target = HIGH_VALUE_THRESHOLD_CENTS + 1 + int(rng.random() * 1_500_000)  # to $20,000
        items: dict[int, int] = {}
        total = 0
        for _ in range(40):
            if total > target or len(items) >= 8:
                break
            product = self._product_in(self._dear[int(rng.random() * len(self._dear))])
            price = self._price(product)[0]
            room = 40 - items.get(product, 0)
            if room <= 0:
                continue
            quantity = min(room, 1 + int(rng.random() * 10), -(-(target - total) // price))
            items[product] = items.get(product, 0) + quantity
            total += quantity * price
        if total <= HIGH_VALUE_THRESHOLD_CENTS:  # a tiny catalog: top up the last line
            product = next(reversed(items))
            items[product] += (HIGH_VALUE_THRESHOLD_CENTS - total) // self._price(product)[0] + 1
        return items

    def _high_quantity_items(self) -> dict[int, int]:
        """One cheap product bought 50-200 times (the total stays under $5,000)."""
        product = self._product_in(self._cheap[int(self.rng.random() * len(self._cheap))])
        price = self._price(product)[0]
        quantity = HIGH_QUANTITY_THRESHOLD + int(self.rng.random() * 151)
        quantity = max(HIGH_QUANTITY_THRESHOLD, min(quantity, HIGH_VALUE_THRESHOLD_CENTS // price))
        return {product: quantity}

    def _burst_items(self, high_spend: bool) -> dict[int, int]:
        """A normal-looking purchase; a high-spend burst's three add up to over $10,000."""
        if not high_spend:
            return self._direct_items()
        rng = self.rng
        target = 360_000 + int(rng.random() * 120_000)  # $3,600-4,800 each, over $10K in three
        items: dict[int, int] = {}
        total = 0
        while total < target and len(items) < 10:
            product = self._product_in(self._dear[int(rng.random() * len(self._dear))])
            price = self._price(product)[0]
            quantity = max(1, min(MAX_LINE_UNITS, (target - total) // price))
            if total + quantity * price > 490_000 or product in items:
                break
            items[product] = quantity
            total += quantity * price
        while total < 340_000:  # dear lines did not fit: fill with mid-priced units
            product = self._product_in(self._dear[0])
            price = self._price(product)[0]
            if total + price > 490_000:
                break
            items[product] = items.get(product, 0) + 1
            total += price
        return items


def _anomaly_start_probability(rate: float) -> float:
    """Chance that a transaction slot starts an anomaly, so that `rate` of all transactions are
    anomalous: a burst spans BURST_LENGTH slots, the other kinds one."""
    mean_length = (len(ANOMALY_KINDS) - 1 + BURST_LENGTH) / len(ANOMALY_KINDS)
    if rate >= 1:
        return 1.0
    return rate / (mean_length - rate * (mean_length - 1))


def _categories_by_price(count: int, cheapest: bool) -> list[int]:
    """Categories of the cheapest (or dearest) departments among the first `count`."""
    ranked = sorted(range(1, count + 1), key=lambda c: ref.department_of(c)[2])
    typical = [ref.department_of(c)[2] for c in ranked]
    edge = typical[0] if cheapest else typical[-1]
    return [c for c, price in zip(ranked, typical) if price == edge]


def _search_queries(category: int) -> tuple[str, ...]:
    noun = ref.category_name(category).lower()
    brands = ref.brand_names(category)
    return (
        noun,
        f"best {noun}",
        f"cheap {noun}",
        f"{noun} deals",
        f"{noun} on sale",
        *(f"{brand.lower()} {noun}" for brand in brands),
    )


def _filters(category: int, rng: random.Random) -> dict[str, str]:
    brands = ref.brand_names(category)
    typical = ref.department_of(category)[2]
    choice = rng.random()
    filters = {"sort": _SORTS[int(rng.random() * len(_SORTS))]}
    if choice < 0.5:
        filters["brand"] = brands[int(rng.random() * len(brands))]
    if choice > 0.3:
        filters["max_price"] = str(typical * (1 + int(rng.random() * 3)))
    if choice > 0.8:
        filters["min_rating"] = str(3 + int(rng.random() * 2))
    return filters


_BREAKAGES: Final = ("wrong_type", "unknown_symbol", "missing_field", "too_many_places")


def _break(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of `event` that violates its schema in one of a few ways (validation test hook)."""
    broken = dict(event)
    how = _BREAKAGES[int(rng.random() * len(_BREAKAGES))]
    if how == "wrong_type":
        broken["user_id"] = 12345
    elif how == "unknown_symbol":
        broken["action" if "action" in broken else "payment_method"] = "teleport"
    elif how == "missing_field":
        del broken["country"]
    else:
        field = "total_amount" if "total_amount" in broken else "event_time"
        broken[field] = Decimal("1.005") if field == "total_amount" else "yesterday"
    return broken
