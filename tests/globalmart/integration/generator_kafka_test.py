"""One generator run into the real broker and registry, read back and checked end to end:
no loss, the mix, anomalies, per-user order, dead letters, metrics and the run summary."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from globalmart.core.ports import free_port
from globalmart.core.runlog import GENERATOR_RUNS, RunLog
from globalmart.core.settings import Settings
from globalmart.generators.config import KINDS
from globalmart.generators.runner import RunSummary
from globalmart.schemas.catalog import DLQ_SUFFIX

from .generator_support import Decoder, Record, consume_all, drop_topics, run, topics_of

EVENTS = 40_000
INVALID_SHARE = 0.005


@pytest.fixture(scope="module")
def generated(
    live_stack: Callable[..., Settings],
) -> Iterator[tuple[Settings, RunSummary, list[Record], str]]:
    settings = live_stack("kafka", "apicurio", "ferretdb")
    port = free_port()
    summary = run(
        settings,
        count=EVENTS,
        invalid_share=INVALID_SHARE,
        metrics_port=port,
        record_run=True,
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    try:
        yield settings, summary, consume_all(settings, topics_of(summary)), metrics
    finally:
        drop_topics(settings, summary)


@pytest.fixture(scope="module")
def events(generated: tuple[Settings, RunSummary, list[Record], str]) -> dict[str, list[Any]]:
    """Decoded event records per kind (dead letters under `dlq`), in partition order."""
    settings, summary, records, _metrics = generated
    decode = Decoder(settings)
    kind_of = {topic: kind for kind, topic in summary.topics.items()}
    found: dict[str, list[Any]] = defaultdict(list)
    for record in records:
        if record.topic.endswith(DLQ_SUFFIX):
            found["dlq"].append((record, decode(record)))
        else:
            found[kind_of[record.topic]].append((record, decode(record)))
    return found


def test_nothing_acknowledged_is_lost(generated: Any, events: dict[str, list[Any]]) -> None:
    _settings, summary, records, _metrics = generated
    assert summary.ok, summary.totals
    totals = summary.totals
    for kind in KINDS:
        assert len(events[kind]) == totals[f"produced.{kind}"] == totals[f"delivered.{kind}"]
    assert summary.produced + summary.invalid == EVENTS == totals["generated"]
    ids = [value["event_id"] for kind in KINDS for _record, value in events[kind]]
    assert len(ids) == len(set(ids)) == summary.produced


def test_the_mix_is_60_30_10(events: dict[str, list[Any]]) -> None:
    sizes = {kind: len(events[kind]) for kind in KINDS}
    total = sum(sizes.values())
    for kind, expected in zip(KINDS, (0.6, 0.3, 0.1)):
        assert abs(sizes[kind] / total - expected) < 0.015, sizes


def test_anomalies_are_two_percent_of_the_detected_kinds(
    generated: Any, events: dict[str, list[Any]]
) -> None:
    _settings, summary, _records, _metrics = generated
    transactions = [value for _record, value in events["transaction"]]
    high_value = [t for t in transactions if t["total_amount"] > Decimal(5000)]
    high_quantity = [t for t in transactions if any(i["quantity"] >= 50 for i in t["items"])]
    assert len(high_value) == summary.totals["anomaly.high_value"] > 0
    assert len(high_quantity) == summary.totals["anomaly.high_quantity"] > 0
    by_user: dict[str, list[Any]] = defaultdict(list)
    for t in transactions:
        by_user[t["user_id"]].append(t["event_time"])
    frequent = set()
    for user, times in by_user.items():
        times.sort()
        if any(b - a < timedelta(minutes=5) for a, b in zip(times, times[2:])):
            frequent.add(user)
    bursts = summary.totals["anomaly.rapid_purchases"] // 3
    assert bursts > 0 and bursts * 0.8 <= len(frequent) <= bursts * 1.2 + 2
    injected = sum(summary.totals[f"anomaly.{k}"] for k in ("high_value", "high_quantity"))
    share = (injected + summary.totals["anomaly.rapid_purchases"]) / len(transactions)
    assert 0.01 < share < 0.03


def test_one_users_events_stay_in_order_in_one_partition(events: dict[str, list[Any]]) -> None:
    for kind in KINDS:
        partition_of: dict[str, int] = {}
        last_seq: dict[str, int] = {}
        for record, value in events[kind]:
            assert record.key == value["user_id"]
            assert partition_of.setdefault(record.key, record.partition) == record.partition
            seq = int(value["event_id"][-12:], 16)  # the generator's sequence number
            assert seq > last_seq.get(record.key, -1), (kind, record.key)
            last_seq[record.key] = seq
        assert len(set(partition_of.values())) > 1  # keys really spread over the partitions


def test_invalid_events_are_dead_lettered_with_the_reason(
    generated: Any, events: dict[str, list[Any]]
) -> None:
    _settings, summary, _records, _metrics = generated
    letters = events["dlq"]
    assert len(letters) == summary.invalid == summary.totals["dlq_delivered"] > 50
    sent = {value["event_id"] for kind in KINDS for _record, value in events[kind]}
    reasons: Counter[str] = Counter()
    for record, letter in letters:
        assert letter["kafka_topic"] + DLQ_SUFFIX == record.topic
        assert letter["kafka_partition"] == -1 and letter["kafka_offset"] == -1
        assert letter["failed_by"] == "generator"
        assert letter["error_type"] == "SchemaValidationError"
        assert letter["reason"]
        original = json.loads(letter["value"])
        assert original["event_id"] not in sent
        assert letter["key"] == record.key.encode()
        reasons[letter["reason"].split(":")[0]] += 1
    assert {"user_id", "country"} <= set(reasons)  # wrong type, missing field, ...


def test_metrics_count_events_by_type(generated: Any) -> None:
    _settings, summary, _records, metrics = generated
    lines = dict(
        line.rsplit(" ", 1) for line in metrics.splitlines() if line and not line.startswith("#")
    )
    for kind in KINDS:
        produced = float(lines[f'globalmart_generator_events_total{{type="{kind}"}}'])
        assert produced == summary.totals[f"produced.{kind}"]
        assert float(lines[f'globalmart_generator_delivery_failures_total{{type="{kind}"}}']) == 0
    assert float(lines["globalmart_generator_send_latency_seconds_count"]) > 0


def test_the_run_summary_is_recorded(generated: Any) -> None:
    settings, summary, _records, _metrics = generated
    with RunLog(settings) as log:
        found = log.latest(GENERATOR_RUNS, where={"run_id": summary.run_id})
    assert len(found) == 1
    document = found[0]
    assert document["produced"] == summary.produced and document["ok"] is True
    assert document["seed"] == 5 and document["totals"]["invalid"] == {
        kind: summary.totals[f"invalid.{kind}"] for kind in KINDS
    }
