"""A small, deterministic e-commerce data set for tests and examples: the generator's reference
records and the three event types, shaped like the generator's (sessions that view, add to cart,
then check out or abandon). Same seed, same events. Large volumes come from `synthetic`
(generated inside Spark)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from globalmart.generators.reference import Reference

COUNTRIES = [dict(c) for c in Reference.countries()]
PAYMENT_METHODS = ["credit_card", "debit_card", "paypal", "apple_pay", "google_pay"]


@dataclass
class SeedData:
    users: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    countries: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _as_datetimes(record: dict[str, Any]) -> dict[str, Any]:
    """The reference module's Avro form (epoch microseconds) as UTC datetimes."""
    return {
        k: datetime.fromtimestamp(v / 1e6, UTC) if k.endswith("_at") and v is not None else v
        for k, v in record.items()
    }


def reference(seed: int, users: int, products: int) -> SeedData:
    """The generator's reference records (globalmart.generators.reference) of the first `users`
    users and `products` products, every category and country: what `generate reference`
    publishes for the same seed and counts."""
    ref = Reference(seed)
    return SeedData(
        users=[_as_datetimes(u) for u in ref.users(users)],
        products=[_as_datetimes(p) for p in ref.products(products)],
        categories=[_as_datetimes(c) for c in ref.categories()],
        countries=[dict(c) for c in ref.countries()],
    )


def generate(
    seed: int,
    first_day: date,
    day_count: int,
    transactions_per_day: int,
    *,
    users: int = 200,
    products: int = 60,
) -> SeedData:
    """Reference data plus `day_count` days of events, ~6 views and ~3 cart events per purchase."""
    data = reference(seed, users, products)
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
