from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pyspark.sql import Row

from globalmart.stream.writer import PostgresBatchWriter, read_batch_meta, to_db


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
