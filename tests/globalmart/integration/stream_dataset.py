"""A fixed, seeded event set for the stream jobs' oracle and fault tests.

Three phases, each produced and processed before the next:

1. 20 minutes of ordinary traffic (T0 .. T0+20m) on the three topics, sent in roughly
   increasing event-time order with up to 20 s of disorder (out-of-order, never late), plus
   designed cases: high-value and high-quantity purchases, suspicious users, bulk orders that
   cross the inventory thresholds, abandoned carts, searches spelled differently, events
   written with an older/newer writer schema, and undecodable or invalid messages;
2. 10 more minutes (T0+20m .. T0+30m), plus events slightly behind the watermark (accepted,
   updating open windows) and events far behind it (dropped as late), shuffled in;
3. a flush: one event per topic a day later, which moves every watermark past all windows so
   they become final (the flush's own windows stay open).

Within a phase no event is later than the smallest watermark delay (1 minute) behind an event
sent before it, and each alert window crosses its threshold with a single event: so the
result does not depend on how Spark splits a phase into micro-batches (the fault tests kill
the job mid-phase).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
COUNTRIES = ("US", "GB", "DE", "FR", "JP")
PAYMENTS = ("credit_card", "debit_card", "paypal", "apple_pay", "google_pay", "bank_transfer")
SOURCES = ("transaction", "cart_event", "product_view")

#: how each kind of broken message is made and the reason the jobs must give
BROKEN_KINDS = ("garbage", "short", "bad_magic", "unknown_id", "truncated", "empty")


@dataclass
class Message:
    source: str
    event: dict[str, Any] | None = None
    #: for broken messages: one of BROKEN_KINDS
    broken: str | None = None
    #: events that decode but break a rule: the expected reason (without "invalid: ")
    invalid: str | None = None
    #: produced with the alternative writer schema (see `writer_v2`)
    writer_v2: bool = False
    partition: int = 0

    @property
    def time(self) -> datetime | None:
        return self.event["event_time"] if self.event else None


@dataclass
class Dataset:
    phases: list[list[Message]] = field(default_factory=list)


def writer_v2(reader: dict[str, Any]) -> dict[str, Any]:
    """Another producer's schema for transactions: no session_id, an extra `channel` field and a
    payment symbol the reader does not know ("crypto": read as the enum default "other")."""
    fields = []
    for f in reader["fields"]:
        if f["name"] == "session_id":
            continue
        if f["name"] == "payment_method":
            enum = dict(f["type"])
            enum["symbols"] = [*enum["symbols"], "crypto"]
            f = {**f, "type": enum}
        fields.append(f)
    fields.append({"name": "channel", "type": "string", "default": "web"})
    return {**reader, "fields": fields}


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.products = [f"p{i:03d}" for i in range(1, 41)]
        self.category = {p: f"c{(i % 8) + 1:02d}" for i, p in enumerate(self.products)}
        self.users = [f"u{i:03d}" for i in range(1, 301)]
        self.sessions: dict[str, tuple[str, str]] = {}

    def eid(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n:05d}"

    def money(self, low: int, high: int) -> Decimal:
        return Decimal(self.rng.randint(low * 100, high * 100)) / 100

    # -- events -----------------------------------------------------------------------------
    def transaction(
        self,
        at: datetime,
        user: str | None = None,
        lines: list[tuple[str, int, Decimal]] | None = None,
        country: str | None = None,
        payment: str | None = None,
    ) -> dict[str, Any]:
        if lines is None:
            lines = [
                (self.rng.choice(self.products), 1, self.money(5, 150))
                for _ in range(self.rng.randint(1, 3))
            ]
        items: list[dict[str, Any]] = [
            {
                "product_id": p,
                "category_id": self.category.get(p, "c99"),
                "quantity": q,
                "unit_price": price,
                "line_amount": price * q,
            }
            for p, q, price in lines
        ]
        return {
            "event_id": self.eid("tx"),
            "event_time": at,
            "transaction_id": self.eid("order"),
            "user_id": user or self.rng.choice(self.users),
            "session_id": None if self.rng.random() < 0.2 else f"s{self.rng.randint(1, 40):03d}",
            "country": country or self.rng.choice(COUNTRIES),
            "payment_method": payment or self.rng.choice(PAYMENTS),
            "items": items,
            "total_amount": sum((price * q for _, q, price in lines), Decimal("0.00")),
        }

    def session(self, sid: str) -> tuple[str, str]:
        if sid not in self.sessions:
            self.sessions[sid] = (self.rng.choice(self.users), self.rng.choice(COUNTRIES))
        return self.sessions[sid]

    def cart(self, at: datetime, sid: str, action: str, **extra: Any) -> dict[str, Any]:
        user, country = self.session(sid)
        product = self.rng.choice(self.products)
        with_item = action in ("add", "remove", "update")
        event = {
            "event_id": self.eid("cart"),
            "event_time": at,
            "session_id": sid,
            "user_id": user,
            "country": country,
            "action": action,
            "product_id": product if with_item else None,
            "category_id": self.category[product] if with_item else None,
            "quantity": self.rng.randint(1, 3) if with_item else None,
            "unit_price": self.money(5, 150) if with_item else None,
            "cart_total": self.money(0, 600),
            "cart_item_count": self.rng.randint(0, 6),
        }
        event.update(extra)
        return event

    def view(self, at: datetime, sid: str, action: str, **extra: Any) -> dict[str, Any]:
        user, country = self.session(sid)
        product = self.rng.choice(self.products)
        event: dict[str, Any] = {
            "event_id": self.eid("view"),
            "event_time": at,
            "session_id": sid,
            "user_id": user,
            "country": country,
            "action": action,
            "product_id": None,
            "category_id": None,
            "search_query": None,
            "filters": {},
            "compared_product_ids": [],
            "duration_seconds": None,
        }
        if action == "view":
            event.update(
                product_id=product,
                category_id=self.category[product],
                duration_seconds=self.rng.randint(3, 240),
            )
        elif action == "compare":
            same = [p for p in self.products if self.category[p] == self.category[product]]
            others = self.rng.sample([p for p in same if p != product], 2)
            event.update(
                product_id=product, category_id=self.category[product], compared_product_ids=others
            )
        elif action == "filter":
            event.update(category_id=self.category[product], filters={"brand": "Acme"})
        elif action == "search":
            event.update(
                search_query=self.rng.choice(["laptop", " Laptop", "LAPTOP ", "phone", "desk lamp"])
            )
        event.update(extra)
        return event

    # -- traffic ------------------------------------------------------------------------------
    def traffic(
        self, start: datetime, minutes: int, tx: int, carts: int, views: int
    ) -> list[Message]:
        span = minutes * 60
        messages = []
        for _ in range(tx):
            at = start + timedelta(seconds=self.rng.uniform(0, span - 1))
            messages.append(Message("transaction", self.transaction(_micros(at))))
        for _ in range(carts):
            at = start + timedelta(seconds=self.rng.uniform(0, span - 1))
            sid = f"s{self.rng.randint(1, 30):03d}"
            action = self.rng.choices(
                ["add", "remove", "update", "checkout", "abandon"], [5, 1, 1, 1, 1]
            )[0]
            messages.append(Message("cart_event", self.cart(_micros(at), sid, action)))
        for _ in range(views):
            at = start + timedelta(seconds=self.rng.uniform(0, span - 1))
            sid = f"s{self.rng.randint(1, 30):03d}"
            action = self.rng.choices(["view", "search", "filter", "compare"], [6, 2, 1, 1])[0]
            messages.append(Message("product_view", self.view(_micros(at), sid, action)))
        return messages


def _micros(at: datetime) -> datetime:
    return at.replace(microsecond=(at.microsecond // 1000) * 1000)


def _in_order(rng: random.Random, messages: list[Message], disorder_s: float) -> list[Message]:
    """Sort by event time give or take `disorder_s` (out of order, never by more)."""
    keyed = [
        ((m.time or T0).timestamp() + rng.uniform(0, disorder_s), i, m)
        for i, m in enumerate(messages)
    ]
    return [m for _, _, m in sorted(keyed, key=lambda k: (k[0], k[1]))]


def build(seed: int = 20260105, partitions: int = 2) -> Dataset:
    b = _Builder(seed)

    def at(minutes: float, seconds: float = 0.0) -> datetime:
        return _micros(T0 + timedelta(minutes=minutes, seconds=seconds))

    # -- phase 1 ------------------------------------------------------------------------------
    p1 = b.traffic(T0, 20, tx=70, carts=110, views=220)
    designed = [
        # high value (> $5,000): one warning, one critical; S2 is also a high spender
        b.transaction(at(3, 10), "u-hv1", [("p001", 2, Decimal("2600.00"))], "US", "paypal"),
        b.transaction(at(7, 40), "u-s2", [("p002", 3, Decimal("4000.00"))], "GB", "credit_card"),
        # suspicious: three purchases within one 5-minute window (high frequency) ...
        b.transaction(at(5, 10), "u-s1", [("p003", 1, Decimal("20.00"))], "DE"),
        b.transaction(at(6, 20), "u-s1", [("p004", 1, Decimal("30.00"))], "DE"),
        b.transaction(at(8, 45), "u-s1", [("p005", 1, Decimal("40.00"))], "FR"),
        # ... three that also pass $10,000 together, only with the third (both patterns)
        b.transaction(at(10, 30), "u-s3", [("p006", 1, Decimal("3000.00"))], "JP"),
        b.transaction(at(11, 30), "u-s3", [("p007", 1, Decimal("3000.00"))], "JP"),
        b.transaction(at(13, 0), "u-s3", [("p008", 1, Decimal("4500.00"))], "US"),
        # ... and three in the last window, joined by a fourth in phase 2 (accepted late)
        b.transaction(at(15, 10), "u-s4", [("p009", 1, Decimal("12.00"))], "GB"),
        b.transaction(at(16, 30), "u-s4", [("p010", 1, Decimal("13.00"))], "GB"),
        b.transaction(at(18, 0), "u-s4", [("p011", 1, Decimal("14.00"))], "GB"),
        # bulk orders: high demand (25 units) + restock; restock only (6 units); high quantity
        # (60 units: anomaly, critical demand, restock)
        b.transaction(at(4, 0), "u-bulk", [("h-demand", 25, Decimal("8.00"))], "US"),
        b.transaction(at(9, 0), "u-bulk", [("h-restock", 6, Decimal("9.50"))], "FR"),
        b.transaction(
            at(12, 0),
            "u-bulk",
            [("h-qty", 60, Decimal("2.25")), ("p012", 1, Decimal("5.00"))],
            "DE",
        ),
    ]
    p1 += [Message("transaction", e) for e in designed]
    # written with another producer's schema (reader fills session_id, maps "crypto" to other)
    p1.append(
        Message(
            "transaction",
            b.transaction(at(14, 0), "u-v2", [("p013", 2, Decimal("2750.00"))], "FR", "crypto"),
            writer_v2=True,
        )
    )
    p1.append(
        Message("transaction", b.transaction(at(2, 0), "u-v2b", country="JP"), writer_v2=True)
    )
    # carts: abandoned with items (one naming its last product), and one abandoned empty
    p1.append(Message("cart_event", b.cart(at(6, 0), "s101", "add")))
    p1.append(
        Message(
            "cart_event",
            b.cart(at(6, 40), "s101", "abandon", cart_item_count=2, cart_total=Decimal("45.00")),
        )
    )
    p1.append(
        Message(
            "cart_event",
            b.cart(
                at(11, 5),
                "s102",
                "abandon",
                cart_item_count=1,
                product_id="p020",
                cart_total=Decimal("19.99"),
            ),
        )
    )
    p1.append(
        Message(
            "cart_event",
            b.cart(at(12, 5), "s103", "abandon", cart_item_count=0, cart_total=Decimal("0.00")),
        )
    )
    # rule breakers (decode fine, fail a check) and broken messages, on every topic
    p1.append(
        Message(
            "transaction",
            {**b.transaction(at(5, 0)), "items": [], "total_amount": Decimal("0.00")},
            invalid="a purchase without order lines",
        )
    )
    p1.append(
        Message(
            "cart_event",
            b.cart(at(5, 0), "s104", "add", product_id=None, category_id=None),
            invalid="add, remove or update without product_id or quantity",
        )
    )
    p1.append(
        Message(
            "product_view",
            b.view(at(5, 0), "s105", "search", search_query="   "),
            invalid="search without a query",
        )
    )
    for source, kind in [
        ("transaction", "garbage"),
        ("transaction", "truncated"),
        ("transaction", "unknown_id"),
        ("cart_event", "bad_magic"),
        ("cart_event", "short"),
        ("product_view", "empty"),
        ("product_view", "truncated"),
    ]:
        p1.append(Message(source, broken=kind))
    phase1 = _in_order(b.rng, p1, 20.0)

    # -- phase 2 ------------------------------------------------------------------------------
    p2 = b.traffic(T0 + timedelta(minutes=20), 10, tx=35, carts=55, views=110)
    p2.append(
        Message(
            "transaction", b.transaction(at(19, 30), "u-s4", [("p014", 1, Decimal("15.00"))], "US")
        )
    )
    late = [
        # far behind every watermark: dropped from windows, still an anomaly / abandoned cart
        Message(
            "transaction",
            b.transaction(at(1, 0), "u-late", [("p015", 1, Decimal("6100.00"))], "US"),
        ),
        Message(
            "transaction", b.transaction(at(8, 30), "u-s1", [("p016", 1, Decimal("11.00"))], "DE")
        ),
        Message(
            "transaction",
            b.transaction(at(12, 30), "u-late2", [("h-late", 70, Decimal("1.00"))], "GB"),
        ),
        # late for 1-2 minute watermarks, in time for the 10-minute inventory watermark
        Message(
            "transaction", b.transaction(at(16, 0), "u-mid", [("p018", 2, Decimal("7.00"))], "JP")
        ),
        Message(
            "cart_event",
            b.cart(at(3, 0), "s106", "abandon", cart_item_count=3, cart_total=Decimal("70.00")),
        ),
        Message("cart_event", b.cart(at(17, 0), "s107", "add")),
        Message("product_view", b.view(at(2, 0), "s108", "view")),
        Message("product_view", b.view(at(18, 30), "s109", "search", search_query="Laptop")),
        Message("product_view", b.view(at(19, 0), "s110", "view")),
    ]
    p2 += late
    p2.append(Message("transaction", broken="bad_magic"))
    p2.append(Message("cart_event", broken="unknown_id"))
    phase2 = _in_order(b.rng, p2, 20.0)
    # the stragglers go first so that they meet phase 1's watermark whatever the batch split
    phase2 = [m for m in phase2 if m in late or (m.time or T0) < T0 + timedelta(minutes=20)] + [
        m for m in phase2 if not (m in late or (m.time or T0) < T0 + timedelta(minutes=20))
    ]

    # -- phase 3: the flush -------------------------------------------------------------------
    flush_at = _micros(T0 + timedelta(days=1))
    phase3 = [
        Message(
            "transaction", b.transaction(flush_at, "u-flush", [("p019", 1, Decimal("1.00"))], "US")
        ),
        Message("cart_event", b.cart(flush_at, "s199", "add")),
        Message("product_view", b.view(flush_at, "s199", "view")),
    ]
    for phase in (phase1, phase2, phase3):
        for i, message in enumerate(phase):
            message.partition = i % partitions
    dataset = Dataset([phase1, phase2, phase3])
    _check_batch_independent(dataset, b.users)
    return dataset


def _check_batch_independent(dataset: Dataset, regular_users: list[str]) -> None:
    """Ordinary traffic never reaches an alert threshold by itself (only the designed events
    do, each with a single event), so where Spark cuts micro-batches cannot change an alert."""
    units: dict[tuple[Any, ...], int] = {}
    purchases: dict[tuple[Any, ...], int] = {}
    users = set(regular_users)
    for phase in dataset.phases:
        for m in phase:
            if m.source != "transaction" or m.event is None or m.broken or m.invalid:
                continue
            e = m.event
            t = e["event_time"]
            five = t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)
            ten = t.replace(minute=t.minute - t.minute % 10, second=0, microsecond=0)
            if e["user_id"] in users:
                key = (e["user_id"], five)
                purchases[key] = purchases.get(key, 0) + 1
            for item in e["items"]:
                if item["product_id"].startswith("h-"):
                    continue
                for k in (
                    ("r", item["product_id"], e["country"], five),
                    ("d", item["product_id"], ten),
                ):
                    units[k] = units.get(k, 0) + item["quantity"]
    assert all(n < 3 for n in purchases.values()), "a regular user looks suspicious"
    assert all(n < (5 if k[0] == "r" else 20) for k, n in units.items()), "a regular restock"
