"""The stream bench's pre-encoded events decode to the event with the time written per message."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from typing import Any

import fastavro

from globalmart.bench.stream import _events, _split_encode, _zigzag_long
from globalmart.schemas.catalog import load_catalog


def test_zigzag_matches_avro_long_encoding() -> None:
    for value in (0, 1, -1, 63, 64, 1_795_530_557_480_000, -(2**40)):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(
            buffer,
            {"type": "record", "name": "x", "fields": [{"name": "v", "type": "long"}]},
            {"v": value},
        )
        assert _zigzag_long(value) == buffer.getvalue()


def test_templates_decode_with_the_new_event_time() -> None:
    catalog = load_catalog()
    for source in ("transaction", "cart_event", "product_view"):
        schema = catalog.entry(source).latest.data
        event = _events(random.Random(1), source, 1)[0]
        template = _split_encode(schema, 42, event)
        at = datetime(2026, 11, 24, 12, 0, 1, 123456, tzinfo=UTC)
        value = template.at(int(at.timestamp() * 1_000_000))
        assert value[:5] == b"\x00\x00\x00\x00\x2a"
        decoded: Any = fastavro.schemaless_reader(
            io.BytesIO(value[5:]), fastavro.parse_schema(schema)
        )
        assert decoded["event_time"] == at
        assert decoded["event_id"] == event["event_id"]
