"""Schema evolution while the stream runs: a writer version registered after a query started.

A query decodes the writer schemas its subject had when it started. Messages of a version
registered later are decoded all the same (the query restarts itself and runs the batch again),
not dead-lettered as of an unknown schema; a schema id of another subject stays a dead letter.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from globalmart.core.settings import Settings
from globalmart.integration.stream_driver import Driver, Webhook, until
from globalmart.integration.stream_harness import Harness, driver_harness
from globalmart.schemas.catalog import load_catalog
from globalmart.stream import testing
from globalmart.stream.decode import UNKNOWN_SCHEMA

JOB = "sales_aggregator"


@pytest.fixture(scope="module")
def harness(live_stack: Callable[..., Settings]) -> Iterator[Harness]:
    with driver_harness(live_stack, "gmevolve") as harness:
        yield harness


def _transaction(n: int) -> dict[str, Any]:
    item = {
        "product_id": f"p{n % 7:03d}",
        "category_id": "c01",
        "quantity": 2,
        "unit_price": Decimal("5.00"),
        "line_amount": Decimal("10.00"),
    }
    return {
        "event_id": f"evolve-{n:05d}",
        "event_time": datetime.now(UTC),
        "transaction_id": f"order-evolve-{n}",
        "user_id": f"u{n:03d}",
        "session_id": None,
        "country": "US",
        "payment_method": "paypal",
        "items": [item],
        "total_amount": Decimal("10.00"),
    }


def _writer_v3() -> dict[str, Any]:
    """A newer producer's schema: the reader's fields and an optional coupon code."""
    reader = load_catalog().entry("transaction").latest.data
    coupon = {"name": "coupon_code", "type": ["null", "string"], "default": None}
    return {**reader, "fields": [*reader["fields"], coupon]}


def test_a_writer_version_registered_while_running_is_decoded_not_dead_lettered(
    harness: Harness, tmp_path: Path
) -> None:
    topic = harness.topics.topics["transaction"]
    producer = harness.producer
    assert producer is not None
    webhook = Webhook()
    driver = Driver(harness, tmp_path, webhook)

    def committed() -> int:
        query = driver.status().get("queries", {}).get(JOB, {})
        return int(query.get("committed_records", 0))

    def caught_up() -> bool:
        return committed() >= testing.end_offsets(harness.settings, [topic])[topic]

    try:
        for n in range(4):
            producer.send("transaction", _transaction(n))
        producer.flush()
        driver.start("--trigger", "1 second", names=[JOB])
        until(caught_up, 300, "the first transactions", driver.explain)

        # registered now, after the query fetched its writer schemas
        v3 = _writer_v3()
        v3_id = harness.topics.register("transaction", topic, json.dumps(v3))
        assert v3_id not in (*harness.schema_ids.values(), harness.v2_id)
        for n in range(4, 10):
            event = {**_transaction(n), "coupon_code": "WINTER"}
            producer.send_raw("transaction", testing.encode(v3, v3_id, event), event["user_id"])
        # a cart event's schema id on the transactions topic: not a version of this subject
        other_id = harness.schema_ids["cart_event"]
        cart = testing.encode(
            load_catalog().entry("transaction").latest.data, other_id, _transaction(99)
        )
        producer.send_raw("transaction", cart, "u099")
        producer.flush()
        until(caught_up, 420, "the new writer version's transactions", driver.explain)

        rows = harness.rows("sales_per_minute")
        assert sum(r["transaction_count"] for r in rows) == 10, rows
        assert sum(r["total_revenue"] for r in rows) == Decimal("100.00")
        dead = harness.rows("dead_letters")
        assert [(r["error_type"], int.from_bytes(bytes(r["value"])[1:5], "big")) for r in dead] == [
            (UNKNOWN_SCHEMA, other_id)
        ], dead
        log = driver.log()
        assert f"schema id(s) [{v3_id}] were registered under {topic}-value" in log
        assert driver.command("stop").exit_code == 0
    finally:
        pid = driver.pid()
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
        webhook.close()
