"""Several processes, a paced run, and the reference serializer against the registry."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from globalmart.core.settings import Settings
from globalmart.generators.codec import InvalidDatum
from globalmart.generators.config import KINDS, ModelConfig
from globalmart.generators.model import EventModel
from globalmart.generators.topics import TopicError, ensure_topics, routes
from globalmart.generators.wire import build_wire_formats, lookup_schema_ids
from globalmart.schemas.catalog import load_catalog

from .generator_support import Decoder, consume_all, drop_topics, run, topics_of


def test_two_processes_split_users_and_lose_nothing(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("kafka", "apicurio")
    summary = run(settings, count=6_001, processes=2, users=2_000)
    try:
        records = consume_all(settings, topics_of(summary))
    finally:
        drop_topics(settings, summary)
    assert summary.ok and summary.processes == 2, summary.errors
    assert summary.totals["generated"] == 6_001 == len(records)
    decode = Decoder(settings)
    workers_of_user: dict[str, set[str]] = defaultdict(set)
    last_seq: dict[tuple[str, str], int] = {}
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        value = decode(record)
        prefix, seq = value["event_id"][:24], int(value["event_id"][-12:], 16)
        workers_of_user[record.key or ""].add(prefix)  # the id prefix names the worker
        assert seq > last_seq.get((record.topic, record.key or ""), -1)
        last_seq[(record.topic, record.key or "")] = seq
    assert len({p for ps in workers_of_user.values() for p in ps}) == 2
    assert all(len(prefixes) == 1 for prefixes in workers_of_user.values())


def test_rate_and_duration_pace_the_run(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("kafka", "apicurio")
    started = time.monotonic()
    summary = run(settings, rate=400, duration_s=2.0)
    elapsed = time.monotonic() - started
    drop_topics(settings, summary)
    assert summary.ok
    assert 600 <= summary.totals["generated"] <= 900  # 400/s for 2 s
    assert elapsed < 30  # start-up (registry, topics) plus the 2 s


def test_compiled_and_confluent_serializers_send_the_same_bytes(
    live_stack: Callable[..., Settings],
) -> None:
    settings = live_stack("apicurio")
    catalog = load_catalog()
    all_routes = routes(catalog, "some-prefix-")
    ids = lookup_schema_ids(
        SchemaRegistryClient({"url": settings.schema_registry_ccompat_url}), catalog, all_routes
    )
    compiled = build_wire_formats(catalog, all_routes, ids, "compiled")
    reference = build_wire_formats(
        catalog, all_routes, ids, "confluent", settings.schema_registry_ccompat_url
    )
    model = EventModel(ModelConfig(seed=9, reference_seed=42, start_time_us=1_790_000_000_000_000))
    config = replace(model.config, invalid_share=0.05, seed=10)
    broken_model = EventModel(config)
    for source in (model, broken_model):
        for _ in range(1500):
            kind, _key, event = source.next_event()
            wire_compiled, wire_reference = compiled[KINDS[kind]], reference[KINDS[kind]]
            try:
                expected = wire_reference.encode(event)
            except InvalidDatum:
                with pytest.raises(InvalidDatum):
                    wire_compiled.encode(event)
                continue
            assert wire_compiled.encode(event) == expected
    assert broken_model.counts["invalid"] > 0


def test_missing_spec_topics_are_an_error_not_created(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("kafka")
    missing = routes(load_catalog(), "no-such-prefix-")
    with pytest.raises(TopicError, match="missing topic"):
        ensure_topics(settings, missing, create=False)
