"""Reconciliation: every event of seeded generator runs accounted for exactly once, layer by layer.

The generator is deterministic (same options + seed + start time -> the same events), so the
events a run sent are replayed here from its options, without Kafka, and summed in plain Python.
Each layer is then read back over its own real connection and compared with those figures:

- Kafka: every event id once in its kind's topic (full Avro decode with the writer schema of the
  message's registry id), nothing else there but known poison;
- the Parquet archive: every event id once under its kind;
- the real-time tables: window sums (transaction_count, units, revenue per country; cart actions
  and checkout value per country; view, filter and compare counts) equal to the events' own;
- the warehouse facts after a batch run: order lines, quantities and amounts, and the exact sets
  of transaction ids, browsing and cart event ids.

Runs must have no late events (late_share=0): whether a late event is inside a watermark depends
on timing, which the stream oracle test covers with a dataset built for it.
"""

from __future__ import annotations

import io
import json
import struct
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

from globalmart.core import offsets
from globalmart.core.settings import Settings
from globalmart.generators.config import KINDS, ModelConfig
from globalmart.generators.model import EventModel
from globalmart.generators.runner import UNTHROTTLED_PACE, RunOptions

ZERO = Decimal("0.00")


def replay(options: RunOptions) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, event) of everything a `generate(settings, options)` run sends, in no particular
    order across workers. Mirrors generate()'s model set-up: options need an explicit seed, count
    and start_time (the defaults are random or "now")."""
    if options.seed is None or options.count is None or options.start_time is None:
        raise ValueError("a replayable run needs seed, count and start_time")
    processes = max(1, options.processes)
    base = ModelConfig(
        seed=options.seed,
        reference_seed=options.reference_seed,
        users=options.users,
        products=options.products,
        mix=options.mix,
        anomaly_rate=options.anomaly_rate,
        late_share=options.late_share,
        max_lateness_s=options.max_lateness_s,
        start_time_us=int(options.start_time.timestamp() * 1_000_000),
        events_per_second=options.rate or UNTHROTTLED_PACE,
        sessions=max(1, options.sessions // processes),
        invalid_share=options.invalid_share,
    )
    for worker in range(processes):
        model = EventModel(base.for_worker(worker, processes))
        share = options.count // processes + (1 if worker < options.count % processes else 0)
        for _ in range(share):
            kind, _key, event = model.next_event()
            yield (KINDS[kind] if isinstance(kind, int) else kind), event


@dataclass
class Expected:
    """What the events add up to, per layer's way of counting."""

    ids: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    days: set[date] = field(default_factory=set)
    #: country -> [transactions, units, revenue]
    sales: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, ZERO]))
    #: country -> action -> count; country -> checkout value
    cart: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    checkout_value: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    #: country -> action -> count, of browsing events that name a category
    views: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    product_views: int = 0
    transaction_ids: set[str] = field(default_factory=set)
    lines: int = 0
    line_units: int = 0
    line_amount: Decimal = ZERO

    def add(self, kind: str, e: Mapping[str, Any]) -> None:
        if e["event_id"] in self.ids[kind]:
            raise ValueError(f"the generator repeated event id {e['event_id']}")
        self.ids[kind].add(e["event_id"])
        at = e["event_time"]  # the model's events carry epoch microseconds
        at = datetime.fromtimestamp(at / 1_000_000, UTC) if isinstance(at, int) else at
        self.days.add(at.date())
        country = e["country"]
        if kind == "transaction":
            units = sum(i["quantity"] for i in e["items"])
            row = self.sales[country]
            row[0], row[1], row[2] = row[0] + 1, row[1] + units, row[2] + e["total_amount"]
            self.transaction_ids.add(e["transaction_id"])
            self.lines += len(e["items"])
            self.line_units += units
            self.line_amount += sum((i["line_amount"] for i in e["items"]), ZERO)
        elif kind == "cart_event":
            self.cart[country][e["action"]] += 1
            if e["action"] == "checkout":
                self.checkout_value[country] += e["cart_total"]
        else:
            if e["category_id"] is not None:
                self.views[country][e["action"]] += 1
            if e["action"] == "view":
                self.product_views += 1

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.ids.values())


def expect(runs: Iterable[RunOptions]) -> Expected:
    expected = Expected()
    for options in runs:
        if options.late_share:
            raise ValueError("reconciled runs need late_share=0 (see the module docstring)")
        for kind, event in replay(options):
            expected.add(kind, event)
    return expected


@dataclass
class Layer:
    name: str
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, what: str, got: Any, want: Any) -> None:
        if got != want:
            self.problems.append(f"{what}: {got!r}, expected {want!r}")

    def ids(self, kind: str, found: Counter[str], want: set[str], allowed: set[str]) -> None:
        """Each wanted id exactly once; nothing else but the `allowed` extras (poison)."""
        missing = want - found.keys()
        doubled = sorted(i for i, n in found.items() if n > 1)
        extra = sorted(found.keys() - want - allowed)
        self.figures[f"{kind}.events"] = sum(found.values())
        self.figures[f"{kind}.missing"] = len(missing)
        self.figures[f"{kind}.duplicated"] = len(doubled)
        self.figures[f"{kind}.unexpected"] = len(extra)
        if missing:
            self.problems.append(
                f"{kind}: {len(missing)} events missing, e.g. {sorted(missing)[:3]}"
            )
        if doubled:
            self.problems.append(
                f"{kind}: {len(doubled)} events more than once, e.g. {doubled[:3]}"
            )
        if extra:
            self.problems.append(f"{kind}: {len(extra)} unexpected events, e.g. {extra[:3]}")


@dataclass
class Report:
    layers: list[Layer]

    @property
    def ok(self) -> bool:
        return not any(layer.problems for layer in self.layers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            **{
                layer.name: {"problems": layer.problems[:20], **layer.figures}
                for layer in self.layers
            },
        }


# -- Kafka ----------------------------------------------------------------------------------


class _Writers:
    """Writer schemas by registry id (fetched once each)."""

    def __init__(self, settings: Settings) -> None:
        self.client = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
        self.parsed: dict[int, Any] = {}

    def get(self, schema_id: int) -> Any:
        if schema_id not in self.parsed:
            text = self.client.get_schema(schema_id).schema_str or "null"
            self.parsed[schema_id] = fastavro.parse_schema(json.loads(text))
        return self.parsed[schema_id]


def read_topic(settings: Settings, topic: str) -> Iterator[tuple[int, int, bytes | None]]:
    """(partition, offset, value) of every record now in `topic`, up to its high watermarks."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"gm-reconcile-{topic}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        ends = {}
        assignment = []
        marks = offsets.partition_watermarks(consumer, topic, timeout=15)
        for partition, (low, high) in (marks or {}).items():
            if high > low:
                ends[partition] = high
                assignment.append(TopicPartition(topic, partition, low))
        if not assignment:
            return
        consumer.assign(assignment)
        idle = 0
        while ends:
            message = consumer.poll(1.0)
            if message is None:
                idle += 1
                if idle > 60:
                    raise TimeoutError(f"{topic}: no records for 60 s, still expecting {ends}")
                continue
            idle = 0
            if message.error():
                continue  # partition EOF: the end offsets decide
            p, offset = message.partition(), message.offset()
            if p is not None and p in ends and offset is not None and offset < ends[p]:
                yield p, offset, message.value()
                if offset + 1 >= ends[p]:
                    del ends[p]
    finally:
        consumer.close()


def decode_event_id(writers: _Writers, value: bytes | None) -> str | None:
    """The event id of a Confluent-framed Avro message; None when it does not decode."""
    if not value or len(value) < 5 or value[0] != 0:
        return None
    try:
        schema = writers.get(struct.unpack(">I", value[1:5])[0])
        event = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema)
    except Exception:  # noqa: BLE001 - unknown id or a body that does not decode: poison
        return None
    return str(event.get("event_id")) if isinstance(event, dict) else None


def check_kafka(
    settings: Settings,
    topics: Mapping[str, str],
    expected: Expected,
    poison: Mapping[str, int] | None = None,
    poison_ids: set[str] | None = None,
) -> Layer:
    """`topics`: kind -> topic. `poison`: kind -> poison messages sent there (undecodable or
    not an expected event), which must be exactly what is left over."""
    layer = Layer("kafka")
    writers = _Writers(settings)
    for kind, topic in topics.items():
        found: Counter[str] = Counter()
        undecodable = 0
        for _p, _o, value in read_topic(settings, topic):
            event_id = decode_event_id(writers, value)
            if event_id is None:
                undecodable += 1
            else:
                found[event_id] += 1
        allowed = poison_ids or set()
        layer.ids(kind, found, expected.ids[kind], allowed)
        extras = undecodable + sum(n for i, n in found.items() if i in allowed)
        layer.figures[f"{kind}.poison"] = extras
        layer.check(f"{kind}: poison messages in {topic}", extras, (poison or {}).get(kind, 0))
    return layer


# -- archive --------------------------------------------------------------------------------


def check_archive(base: Path, expected: Expected, poison_ids: set[str] | None = None) -> Layer:
    import pyarrow.parquet as pq

    layer = Layer("archive")
    for kind in KINDS:
        found: Counter[str] = Counter()
        for file in sorted((base / kind).glob("event_date=*/*.parquet")):
            found.update(pq.read_table(file, columns=["event_id"]).column("event_id").to_pylist())
        layer.ids(kind, found, expected.ids[kind], poison_ids or set())
    return layer


# -- real-time tables -----------------------------------------------------------------------


def _rows(dsn: str, schema: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        return list(conn.execute(query.replace("{s}", f'"{schema}"').encode()).fetchall())


def check_realtime(settings: Settings, schema: str, expected: Expected) -> Layer:
    layer = Layer("realtime")
    dsn = settings.postgres_dsn("realtime")
    total = _rows(
        dsn,
        schema,
        "SELECT coalesce(sum(transaction_count), 0), coalesce(sum(units_sold), 0), "
        "coalesce(sum(total_revenue), 0) FROM {s}.sales_per_minute",
    )[0]
    want = [
        sum(r[0] for r in expected.sales.values()),
        sum(r[1] for r in expected.sales.values()),
        sum((r[2] for r in expected.sales.values()), ZERO),
    ]
    layer.figures["sales_per_minute"] = [int(total[0]), int(total[1]), str(total[2])]
    layer.check("sales_per_minute [transactions, units, revenue]", list(total), want)
    by_country = {
        r[0]: [int(r[1]), int(r[2]), r[3]]
        for r in _rows(
            dsn,
            schema,
            "SELECT country, sum(transaction_count), sum(units_sold), sum(total_revenue) "
            "FROM {s}.sales_by_country GROUP BY 1",
        )
    }
    layer.check("sales_by_country per country", by_country, dict(expected.sales))
    actions = ("add", "remove", "update", "checkout", "abandon")
    cart = {
        r[0]: (Counter({a: int(n) for a, n in zip(actions, r[1:6]) if n}), r[6])
        for r in _rows(
            dsn,
            schema,
            "SELECT country, sum(add_count), sum(remove_count), sum(update_count), "
            "sum(checkout_count), sum(abandon_count), sum(checkout_value) "
            "FROM {s}.cart_metrics GROUP BY 1",
        )
    }
    want_cart = {
        c: (counts, expected.checkout_value.get(c, ZERO)) for c, counts in expected.cart.items()
    }
    layer.figures["cart_metrics.events"] = sum(sum(c.values()) for c, _ in cart.values())
    layer.check("cart_metrics per country (actions, checkout value)", cart, want_cart)
    views = {
        r[0]: Counter({a: int(n) for a, n in zip(("view", "filter", "compare"), r[1:4]) if n})
        for r in _rows(
            dsn,
            schema,
            "SELECT country, sum(view_count), sum(filter_count), sum(compare_count) "
            "FROM {s}.category_performance GROUP BY 1",
        )
    }
    want_views = {
        c: Counter({a: n for a, n in counts.items() if a in ("view", "filter", "compare")})
        for c, counts in expected.views.items()
    }
    layer.check("category_performance per country (view, filter, compare)", views, want_views)
    trending = _rows(dsn, schema, "SELECT coalesce(sum(view_count), 0) FROM {s}.trending_products")
    layer.figures["trending_products.view_count"] = int(trending[0][0])
    layer.check("trending_products view_count", int(trending[0][0]), expected.product_views)
    return layer


def dead_letters(settings: Settings, schema: str, topics: Sequence[str]) -> Counter[tuple]:
    """(failed_by, kafka_topic, error_type) -> rows, for the given topics."""
    names = ",".join("'" + t.replace("'", "''") + "'" for t in topics)
    rows = _rows(
        settings.postgres_dsn("realtime"),
        schema,
        "SELECT failed_by, kafka_topic, error_type, count(*) FROM {s}.dead_letters "
        f"WHERE kafka_topic IN ({names}) GROUP BY 1, 2, 3",
    )
    return Counter({(r[0], r[1], r[2]): int(r[3]) for r in rows})


# -- warehouse ------------------------------------------------------------------------------


def check_warehouse(settings: Settings, schema: str, expected: Expected) -> Layer:
    layer = Layer("warehouse")
    dsn = settings.postgres_dsn("warehouse")
    keys = ",".join(str(d.year * 10_000 + d.month * 100 + d.day) for d in expected.days) or "0"
    where = f"WHERE date_key IN ({keys})"
    lines = _rows(
        dsn,
        schema,
        f"SELECT count(*), coalesce(sum(quantity), 0), coalesce(sum(line_amount), 0) "
        f"FROM {{s}}.fact_sales {where}",
    )[0]
    layer.figures["fact_sales.lines"] = int(lines[0])
    layer.check(
        "fact_sales [lines, units, amount]",
        [int(lines[0]), int(lines[1]), lines[2]],
        [expected.lines, expected.line_units, expected.line_amount],
    )
    tx = Counter(
        r[0]
        for r in _rows(dsn, schema, f"SELECT DISTINCT transaction_id FROM {{s}}.fact_sales {where}")
    )
    layer.ids("transaction", tx, expected.transaction_ids, set())
    for kind, table in (("product_view", "fact_product_views"), ("cart_event", "fact_cart_events")):
        found = Counter(
            r[0] for r in _rows(dsn, schema, f"SELECT event_id FROM {{s}}.{table} {where}")
        )
        layer.ids(kind, found, expected.ids[kind], set())
    return layer
