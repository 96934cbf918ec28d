from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import Row

from globalmart.stream.decode import UNKNOWN_SCHEMA
from globalmart.stream.writer import (
    NewWriterSchema,
    PostgresBatchWriter,
    WriterIds,
    read_batch_meta,
    to_db,
    unknown_ids,
)


def test_batch_meta_comes_from_the_offset_log(tmp_path: Path) -> None:
    (tmp_path / "offsets").mkdir()
    (tmp_path / "offsets" / "7").write_text(
        "v1\n"
        '{"batchWatermarkMs":1767614380000,"batchTimestampMs":1795526876511,"conf":{}}\n'
        '{"t":{"0":1}}\n'
    )
    meta = read_batch_meta(tmp_path, 7)
    assert meta is not None and meta.watermark_ms == 1767614380000
    assert read_batch_meta(tmp_path, 8) is None


def test_values_are_converted_for_postgres() -> None:
    naive = datetime(2026, 1, 5, 10, 0)
    assert to_db(naive).tzinfo is not None
    assert to_db({"b": "2", "a": "1"}) == '{"a": "1", "b": "2"}'
    assert to_db(bytearray(b"x")) == b"x"
    assert to_db(Decimal("1.50")) == Decimal("1.50")


def test_split_dedupes_each_table_on_its_natural_key(tmp_path: Path) -> None:
    writer = PostgresBatchWriter("", "q", ["high_value_anomalies", "dead_letters"], tmp_path)
    at = datetime(2026, 1, 5, tzinfo=UTC)
    anomaly = dict(
        transaction_id="t1",
        event_time=at,
        user_id="u",
        country="US",
        payment_method="paypal",
        total_amount=Decimal("6000.00"),
        item_count=1,
        threshold=Decimal("5000.00"),
        detected_at=at,
    )
    rows = [
        Row(high_value_anomalies=Row(**anomaly), dead_letters=None),
        Row(high_value_anomalies=Row(**{**anomaly, "user_id": "u2"}), dead_letters=None),
    ]
    split = writer.split(rows)
    assert len(split["high_value_anomalies"]) == 1 and split["dead_letters"] == []
    assert split["high_value_anomalies"][0]["user_id"] == "u2"


def _dead(schema_id: int, error_type: str = UNKNOWN_SCHEMA) -> dict[str, object]:
    return {"value": b"\x00" + schema_id.to_bytes(4, "big") + b"body", "error_type": error_type}


def test_a_newly_registered_writer_id_fails_the_batch_before_it_writes(tmp_path: Path) -> None:
    asked: list[int] = []

    def registered() -> set[int]:
        asked.append(1)
        return {1, 2, 7}

    ids = WriterIds("t-value", frozenset({1, 2}), registered)
    writer = PostgresBatchWriter("", "q", ["dead_letters"], tmp_path, writer_ids=ids)
    # nothing unknown, or only decode errors: the registry is not even asked
    writer.refuse_new_writer_schemas([_dead(1, "DeserializationError")])
    assert asked == []
    # an id of another subject (9) stays a dead letter
    writer.refuse_new_writer_schemas([_dead(9), {"value": b"\x00", "error_type": UNKNOWN_SCHEMA}])
    assert asked == [1]
    with pytest.raises(
        NewWriterSchema, match=r"schema id\(s\) \[7\] were registered under t-value"
    ):
        writer.refuse_new_writer_schemas([_dead(9), _dead(7)])


def test_a_registry_that_does_not_answer_keeps_the_dead_letters(tmp_path: Path) -> None:
    def registered() -> set[int]:
        raise RuntimeError("connection refused")

    ids = WriterIds("t-value", frozenset({1}), registered)
    writer = PostgresBatchWriter("", "q", ["dead_letters"], tmp_path, writer_ids=ids)
    writer.refuse_new_writer_schemas([_dead(7)])  # no exception: dead-lettered as before
    assert unknown_ids([_dead(7), _dead(8, "ValidationError"), {"value": None}]) == {7}
