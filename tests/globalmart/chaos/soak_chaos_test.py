"""Proof under load and faults, on a private Kafka, PostgreSQL and registry (never the shared ones).

One pipeline (globalmart.bench.pipeline: the real generator, the real stream driver process, the
archive and the batch) runs through the scenarios in order; after each one the reconciliation
must find every generated event exactly once in Kafka and in the real-time tables, and at the end
also in the Parquet archive and the warehouse facts:

1. a short soak: a held rate, lag and memory sampled and bounded (`bench soak` is the long one);
2. kill -9 of the stream driver's process group mid-run;
3. a restart of the Kafka broker mid-run;
4. a restart of PostgreSQL mid-run;
5. the registry stopped: the generator fails clearly and sends nothing; back up, it sends;
6. poison messages (garbage, unknown schema id, another topic's schema, extreme values, far
   future and far past event times): dead letters for each job, nothing counted, later data fine.

This is the short variant, part of `./pants test ::`. The long one is behind two documented
flags: GLOBALMART_SOAK_SECONDS (default 60) lengthens the soak, GLOBALMART_CHAOS_ROUNDS (default
1) repeats the fault scenarios 2-4, e.g.
    GLOBALMART_SOAK_SECONDS=1800 GLOBALMART_CHAOS_ROUNDS=3 ./pants test tests/globalmart/chaos::
(`./pants run :globalmart -- bench soak` holds a rate on the shared stack, 30 minutes by default.)
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from globalmart.bench import reconcile
from globalmart.bench.pipeline import JOB_SOURCE, Pipeline
from globalmart.bench.soak import Limits, run_soak
from globalmart.chaos.private_stack import PrivateStack
from globalmart.core.settings import Settings
from globalmart.generators.wire import RegistryLookupError
from globalmart.schemas.catalog import load_catalog
from globalmart.stream import testing

SOAK_SECONDS = float(os.environ.get("GLOBALMART_SOAK_SECONDS", 60))
ROUNDS = int(os.environ.get("GLOBALMART_CHAOS_ROUNDS", 1))
RATE = 100
FAULT_EVENTS = 2000  # 20 s at RATE: the fault lands mid-run


@pytest.fixture(scope="module")
def private(live_stack: Callable[..., Settings]) -> Iterator[PrivateStack]:
    shared = live_stack("postgres-warehouse", "ferretdb", "spark")
    stack = PrivateStack(shared)
    try:
        threads = [
            threading.Thread(target=stack.start, args=(name,))
            for name in ("kafka", "postgres-realtime", "apicurio")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for name, component in stack.components.items():
            assert component.healthy(), f"private {name} did not start:\n{stack.log_tail(name)}"
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def pipeline(private: PrivateStack) -> Iterator[Pipeline]:
    pipe = Pipeline(private.settings, private.root / "pipeline", pg_schema="public")
    pipe.create()
    try:
        pipe.start_driver()
        yield pipe
    finally:
        pipe.stop_driver()
        print(f"stream log tail:\n{_tail(pipe)}")


@pytest.fixture(autouse=True)
def healed(private: PrivateStack, pipeline: Pipeline) -> None:
    """Each test starts from a whole private stack and a running driver, so that one failed
    test (which may leave a service down) does not fail every test after it as well."""
    down = private.heal()
    if pipeline.driver_pid is None:
        down.append("stream-driver")
        pipeline.start_driver()
    if down:
        print(f"started again before this test: {down}")


def _tail(pipe: Pipeline, lines: int = 40) -> str:
    try:
        text = (pipe.workdir / "stream.log").read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _reconciled(pipe: Pipeline, **poison: Any) -> reconcile.Report:
    pipe.wait_caught_up(timeout=420)
    report = pipe.reconcile_live(**poison)
    assert report.ok, report.as_dict()
    return report


def _fault_mid_run(pipe: Pipeline, seed: int, fault: Callable[[], None]) -> None:
    thread = pipe.generate_in_background(pipe.options(seed, FAULT_EVENTS, RATE))
    time.sleep(7)
    fault()
    thread.join(600)
    assert not thread.is_alive() and not getattr(thread, "errors")
    summary = pipe.summaries[-1]
    assert summary.ok, (summary.totals, summary.errors)
    assert summary.delivered == FAULT_EVENTS


def test_soak_holds_the_rate_with_bounded_lag_and_memory(pipeline: Pipeline) -> None:
    # the lag bound allows for the shared test machine (other suites' Spark jobs on 2 cores)
    limits = Limits(max_lag_s=90)
    result = run_soak(
        pipeline.settings, RATE, SOAK_SECONDS, 11, 3, limits, pipeline=pipeline, live=True
    )
    print({k: v for k, v in result.items() if k != "samples"})
    assert result["generator"]["ok"] and result["generator"]["delivered"] == result["events"]
    assert result["lag_bounded"], result["lag"]
    assert result["rss_bounded"], result["rss"]
    # the private stack's processes and the driver were all sampled
    assert {"kafka", "postgres-realtime", "apicurio", "stream-driver"} <= set(result["rss"])
    assert result["reconciliation"]["ok"], result["reconciliation"]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_kill_9_of_the_stream_driver_mid_run(pipeline: Pipeline, round_: int) -> None:
    def crash() -> None:
        pid = pipeline.driver_pid
        pipeline.kill_driver()
        assert pid is not None and pipeline.driver_pid is None
        pipeline.start_driver()

    _fault_mid_run(pipeline, 100 + round_, crash)
    _reconciled(pipeline)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_kafka_broker_restart_mid_run(
    private: PrivateStack, pipeline: Pipeline, round_: int
) -> None:
    before = private.pid("kafka")
    _fault_mid_run(pipeline, 200 + round_, lambda: private.restart("kafka"))
    assert private.pid("kafka") not in (None, before)
    _reconciled(pipeline)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_postgres_restart_mid_run(private: PrivateStack, pipeline: Pipeline, round_: int) -> None:
    before = private.pid("postgres-realtime")
    _fault_mid_run(pipeline, 300 + round_, lambda: private.restart("postgres-realtime"))
    assert private.pid("postgres-realtime") not in (None, before)
    _reconciled(pipeline)


def test_registry_stopped_producer_fails_clearly_and_sends_nothing(
    private: PrivateStack, pipeline: Pipeline
) -> None:
    topics = list(pipeline.topics.values())
    ids_before = _writer_ids(pipeline)
    private.stop("apicurio")
    ends = testing.end_offsets(pipeline.settings, topics)
    with pytest.raises(RegistryLookupError, match="the registry does not hold"):
        pipeline.generate(pipeline.options(400, 500, RATE))
    assert pipeline.runs[-1].seed != 400, "a run that sent nothing is not expected anywhere"
    time.sleep(3)
    assert testing.end_offsets(pipeline.settings, topics) == ends  # not one message
    # in-memory storage: the restarted registry re-registers the contracts in the same order,
    # so the ids the running stream queries hold still mean the same schemas
    private.start("apicurio")
    pipeline.register_subjects()
    assert _writer_ids(pipeline) == ids_before
    summary = pipeline.generate(pipeline.options(401, 1500, RATE))
    assert summary.ok and summary.delivered == 1500
    _reconciled(pipeline)


def _writer_ids(pipe: Pipeline) -> dict[str, int]:
    import httpx

    url = pipe.settings.schema_registry_ccompat_url
    return {
        subject: int(
            httpx.get(f"{url}/subjects/{subject}/versions/latest", timeout=10).json()["id"]
        )
        for subject in [f"{t}-value" for t in pipe.topics.values()]
        + [f"{load_catalog().entry(k).latest.topic}-value" for k in pipe.topics]
    }


# -- poison -----------------------------------------------------------------------------------

POISON: dict[str, int] = {}
POISON_IDS: set[str] = set()


def _poison_messages(pipe: Pipeline) -> list[tuple[str, bytes, str]]:
    """(kind of the topic, value, expected error type) for every kind of poison."""
    catalog = load_catalog()
    ids = {k: _writer_ids(pipe)[f"{t}-value"] for k, t in pipe.topics.items()}
    now = datetime.now(UTC).replace(microsecond=0)
    tx: dict[str, Any] = {
        "event_id": "poison-tx",
        "event_time": now,
        "user_id": "U-0000001",
        "country": "US",
        "transaction_id": "poison-order",
        "session_id": None,
        "payment_method": "paypal",
        "items": [
            {
                "product_id": "P-00001",
                "category_id": "C-001",
                "quantity": 1,
                "unit_price": Decimal("1.00"),
                "line_amount": Decimal("1.00"),
            }
        ],
        "total_amount": Decimal("1.00"),
    }
    cart = {
        "event_id": "poison-cart",
        "event_time": now,
        "user_id": "U-0000001",
        "country": "US",
        "session_id": "poison-session",
        "action": "checkout",
        "product_id": None,
        "category_id": None,
        "quantity": None,
        "unit_price": None,
        "cart_total": Decimal("1.00"),
        "cart_item_count": 1,
    }
    view = {
        "event_id": "poison-view",
        "event_time": now,
        "user_id": "U-0000001",
        "country": "US",
        "session_id": "poison-session",
        "action": "view",
        "product_id": "P-00001",
        "category_id": "C-001",
        "search_query": None,
        "filters": {},
        "compared_product_ids": [],
        "duration_seconds": 5,
    }
    schema = {k: catalog.entry(k).latest.data for k in pipe.topics}

    def enc(kind: str, event: dict[str, Any], **change: Any) -> bytes:
        return testing.encode(schema[kind], ids[kind], {**event, **change})

    line = tx["items"][0]
    bad_line = {**line, "quantity": 0, "unit_price": Decimal("-99999999.99")}
    messages = [
        ("transaction", b"\xde\xad\xbe\xef garbage", "DeserializationError"),
        (
            "transaction",
            b"\x00" + struct.pack(">I", 987_654) + enc("transaction", tx)[5:],
            "UnknownSchemaError",
        ),
        (
            "transaction",
            enc("cart_event", cart, event_id="poison-cart-in-tx"),
            "UnknownSchemaError",
        ),
        (
            "transaction",
            enc(
                "transaction",
                tx,
                event_id="poison-tx-extreme",
                items=[bad_line],
                total_amount=Decimal("-99999999.99"),
            ),
            "ValidationError",
        ),
        (
            "transaction",
            enc(
                "transaction",
                tx,
                event_id="poison-tx-future",
                event_time=datetime(2999, 1, 1, tzinfo=UTC),
            ),
            "ValidationError",
        ),
        (
            "transaction",
            enc(
                "transaction",
                tx,
                event_id="poison-tx-past",
                event_time=datetime(1970, 1, 2, tzinfo=UTC),
            ),
            "ValidationError",
        ),
        ("cart_event", b"", "DeserializationError"),
        (
            "cart_event",
            enc("product_view", view, event_id="poison-view-in-cart"),
            "UnknownSchemaError",
        ),
        (
            "cart_event",
            enc(
                "cart_event",
                cart,
                event_id="poison-cart-extreme",
                cart_total=Decimal("-1.00"),
                cart_item_count=-5,
            ),
            "ValidationError",
        ),
        (
            "cart_event",
            enc(
                "cart_event",
                cart,
                event_id="poison-cart-future",
                event_time=now + timedelta(days=3650),
            ),
            "ValidationError",
        ),
        ("product_view", b"\x00\x00\x00", "DeserializationError"),
        (
            "product_view",
            enc("transaction", tx, event_id="poison-tx-in-views"),
            "UnknownSchemaError",
        ),
        (
            "product_view",
            enc(
                "product_view",
                view,
                event_id="poison-view-extreme",
                duration_seconds=-2_147_483_648,
            ),
            "ValidationError",
        ),
        (
            "product_view",
            enc(
                "product_view",
                view,
                event_id="poison-view-past",
                event_time=datetime(1999, 12, 31, tzinfo=UTC),
            ),
            "ValidationError",
        ),
    ]
    return messages


def test_poison_lands_in_dead_letters_and_nothing_else_breaks(pipeline: Pipeline) -> None:
    messages = _poison_messages(pipeline)
    producer = Producer({"bootstrap.servers": pipeline.settings.kafka_bootstrap_servers})
    for kind, value, _ in messages:
        producer.produce(pipeline.topics[kind], value, key=b"poison")
    assert producer.flush(30) == 0
    POISON.update(Counter(kind for kind, _, _ in messages))
    POISON_IDS.update(
        e for _, v, _ in messages if (e := reconcile.decode_event_id(_writers(pipeline), v))
    )
    # later data after a far-future event time: the watermark must not have jumped
    summary = pipeline.generate(pipeline.options(500, 1500, RATE))
    assert summary.ok
    _reconciled(pipeline, poison=POISON, poison_ids=POISON_IDS)
    want: Counter[tuple[str, str, str]] = Counter()
    for kind, _, error_type in messages:
        for job, source in JOB_SOURCE.items():
            if source == kind:
                want[(job, pipeline.topics[kind], error_type)] += 1
    got = reconcile.dead_letters(pipeline.settings, "public", list(pipeline.topics.values()))
    stream_rows = Counter({k: n for k, n in got.items() if k[0] in JOB_SOURCE})
    assert stream_rows == want


def _writers(pipe: Pipeline) -> Any:
    return reconcile._Writers(pipe.settings)


# -- the end: every layer ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark(pipeline: Pipeline) -> Iterator[SparkSession]:
    from globalmart.spark.session import get_spark

    pipeline.stop_driver()  # the batch side gets the cores
    session = get_spark("chaos-reconcile", pipeline.settings)
    yield session
    session.stop()


def test_every_event_once_in_kafka_archive_realtime_and_warehouse(
    pipeline: Pipeline, spark: SparkSession
) -> None:
    report, figures = pipeline.reconcile_all(spark, poison=POISON, poison_ids=POISON_IDS)
    print(report.as_dict(), figures)
    assert report.ok, report.as_dict()
    assert figures["events"] == sum(r.count or 0 for r in pipeline.runs)
    # the archive kept the poison it could not decode as dead letters of its own
    got = reconcile.dead_letters(pipeline.settings, "public", list(pipeline.topics.values()))
    archived = sum(n for (failed_by, _, _), n in got.items() if failed_by.startswith("archive_"))
    undecodable = sum(1 for _, v, error in _poison_messages(pipeline) if error != "ValidationError")
    assert archived == undecodable
