"""Shared steps of the stream tests: produce a dataset phase, compare the tables with the oracle."""

from __future__ import annotations

import io
import math
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fastavro

from globalmart.core.settings import Settings
from globalmart.integration import stream_dataset
from globalmart.integration.stream_dataset import Dataset, Message, writer_v2
from globalmart.integration.stream_oracle import UNKNOWN_ID, Oracle
from globalmart.schemas.catalog import load_catalog
from globalmart.stack.testing import unique_name
from globalmart.stream import testing
from globalmart.stream.sinks import PROCESSING_TIME_COLUMNS, realtime_tables, sink

WINDOW_AND_EVENT_TABLES = [
    t for t in realtime_tables() if t not in ("dead_letters", "stream_batch_ledger")
]


#: what the background stream driver (`stream start`) needs: it records progress in FerretDB
DRIVER_SERVICES = ("kafka", "postgres-realtime", "apicurio", "ferretdb", "spark")


class Harness:
    """Private topics + scratch schema for one dataset run."""

    def __init__(self, settings: Settings, prefix: str, dataset: Dataset) -> None:
        self.settings = settings
        self.prefix = prefix
        self.schema = prefix.replace("-", "_")
        self.dataset = dataset
        self.topics = testing.EventTopics(settings, prefix)
        self.schema_ids: dict[str, int] = {}
        self.v2_id = 0
        self.producer: testing.EventProducer | None = None
        reader = load_catalog().entry("transaction").latest.data
        self._v2 = fastavro.parse_schema(writer_v2(reader))

    def create(self) -> None:
        testing.create_scratch_schema(self.settings, self.schema)
        self.schema_ids = self.topics.create()
        # a second writer version under the same subject: the jobs decode both
        import json

        reader = load_catalog().entry("transaction").latest.data
        self.v2_id = self.topics.register(
            "transaction", self.topics.topics["transaction"], json.dumps(writer_v2(reader))
        )
        self.producer = testing.EventProducer(self.topics, self.schema_ids)

    def drop(self) -> None:
        testing.drop_scratch_schema(self.settings, self.schema)
        self.topics.delete()

    def produce(self, phase: list[Message]) -> None:
        assert self.producer is not None
        for m in phase:
            if m.broken:
                self.producer.send_raw(m.source, self._broken(m), None, m.partition)
            elif m.writer_v2:
                buffer = io.BytesIO()
                buffer.write(b"\x00" + struct.pack(">I", self.v2_id))
                fastavro.schemaless_writer(buffer, self._v2, {**(m.event or {}), "channel": "app"})
                self.producer.send_raw(m.source, buffer.getvalue(), None, m.partition)
            else:
                self.producer.send(m.source, m.event or {}, m.partition)
        self.producer.flush()

    def _broken(self, m: Message) -> bytes | None:
        sid = self.schema_ids[m.source]
        good = testing.encode(load_catalog().entry(m.source).latest.data, sid, _sample(m.source))
        return {
            "garbage": b"garbage!",
            "short": b"\x00\x00\x01",
            "bad_magic": b"\x01" + good[1:],
            "unknown_id": b"\x00" + struct.pack(">I", UNKNOWN_ID) + good[5:],
            "truncated": good[:15],
            "empty": None,
        }[m.broken or ""]

    # -- reading back ---------------------------------------------------------------------------
    def rows(self, table: str) -> list[dict[str, Any]]:
        return testing.fetch_rows(self.settings, self.schema, table)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return {t: self.rows(t) for t in realtime_tables()}

    def compare(self, oracle: Oracle) -> dict[str, list[str]]:
        """Per table, the differences between Postgres and the oracle (empty lists: equal)."""
        problems: dict[str, list[str]] = {}
        for table in WINDOW_AND_EVENT_TABLES:
            problems[table] = compare_table(table, self.rows(table), oracle.tables.get(table, []))
        problems["dead_letters"] = self._compare_dead_letters(oracle)
        return problems

    def _compare_dead_letters(self, oracle: Oracle) -> list[str]:
        def fill(reason: str, topic: str) -> str:
            source = next(s for s, t in self.topics.topics.items() if t == topic)
            return reason.replace("{id}", str(self.schema_ids[source]))

        want = Counter(
            (r["failed_by"], r["kafka_topic"], fill(r["reason"], r["kafka_topic"]), r["error_type"])
            for r in oracle.tables["dead_letters"]
        )
        got = Counter(
            (r["failed_by"], r["kafka_topic"], r["reason"], r["error_type"])
            for r in self.rows("dead_letters")
        )
        missing, extra = want - got, got - want
        return [f"missing {k}" for k in missing] + [f"unexpected {k}" for k in extra]


def compare_table(
    table: str, actual: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> list[str]:
    spec = sink(table)
    columns = [c for c in spec.columns if c not in PROCESSING_TIME_COLUMNS]
    got = {spec.key_of(r): r for r in actual}
    want = {spec.key_of(r): r for r in expected}
    problems = [f"missing row {k}" for k in want.keys() - got.keys()]
    problems += [f"unexpected row {k}: {got[k]}" for k in got.keys() - want.keys()]
    for key in want.keys() & got.keys():
        for column in columns:
            a, b = got[key][column], want[key].get(column)
            if not _equal(a, b):
                problems.append(f"{key}.{column}: table has {a!r}, oracle says {b!r}")
        for column in spec.columns:
            if column in PROCESSING_TIME_COLUMNS and got[key][column] is None:
                problems.append(f"{key}.{column} is null")
    return problems


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        # double sums may be added in another order: equal to 1e-12 relative
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: str(v) for k, v in a.items()} == {k: str(v) for k, v in b.items()}
    return bool(a == b)


def _sample(source: str) -> dict[str, Any]:
    from datetime import UTC, datetime
    from decimal import Decimal

    at = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    common = {"event_id": "broken-00001", "event_time": at, "user_id": "u001", "country": "US"}
    if source == "transaction":
        item = {
            "product_id": "p001",
            "category_id": "c01",
            "quantity": 1,
            "unit_price": Decimal("1.00"),
            "line_amount": Decimal("1.00"),
        }
        return {
            **common,
            "transaction_id": "order-broken",
            "session_id": None,
            "payment_method": "paypal",
            "items": [item],
            "total_amount": Decimal("1.00"),
        }
    if source == "cart_event":
        return {
            **common,
            "session_id": "s001",
            "action": "checkout",
            "product_id": None,
            "category_id": None,
            "quantity": None,
            "unit_price": None,
            "cart_total": Decimal("1.00"),
            "cart_item_count": 1,
        }
    return {
        **common,
        "session_id": "s001",
        "action": "search",
        "product_id": None,
        "category_id": None,
        "search_query": "x",
        "filters": {},
        "compared_product_ids": [],
        "duration_seconds": None,
    }


def drop_checkpoint_file(folder: Path, batch_id: int) -> None:
    """Delete one offsets/commits entry of a checkpoint (and Hadoop's .crc beside it)."""
    (folder / str(batch_id)).unlink()
    (folder / f".{batch_id}.crc").unlink(missing_ok=True)


def last_batch(folder: Path) -> int:
    return max(int(p.name) for p in folder.iterdir() if p.name.isdigit())


@contextmanager
def driver_harness(live_stack: Callable[..., Settings], prefix: str) -> Iterator[Harness]:
    """The stream dataset on private topics and a scratch schema, for the driver tests."""
    harness = Harness(live_stack(*DRIVER_SERVICES), unique_name(prefix), stream_dataset.build())
    harness.create()
    try:
        yield harness
    finally:
        harness.drop()
