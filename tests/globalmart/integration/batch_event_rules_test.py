"""The batch reads the same events the stream counts: what the stream jobs reject (and
dead-letter) is archived raw but left out of every warehouse job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from globalmart.core.settings import Settings
from globalmart.spark.session import get_spark
from globalmart.warehouse.events import read_events
from globalmart.warehouse.frames import archive_schema
from globalmart.warehouse.layout import PARTITION

DAY = date(2026, 11, 30)


def _purchase(event_id: str, quantity: int, total: str, at: datetime) -> dict[str, Any]:
    price = Decimal("10.00")
    return {
        "event_id": event_id,
        "event_time": at,
        "transaction_id": f"order-{event_id}",
        "user_id": "U00000001",
        "session_id": None,
        "country": "US",
        "payment_method": "paypal",
        "items": [
            {
                "product_id": "P000001",
                "category_id": "C001",
                "quantity": quantity,
                "unit_price": price,
                "line_amount": price * quantity,
            }
        ],
        "total_amount": Decimal(total),
        "kafka_partition": 0,
        "kafka_offset": 1,
        "schema_id": 1,
        PARTITION: DAY,
    }


def test_events_the_stream_rejects_are_not_read_by_the_batch(
    live_stack: Callable[..., Settings], tmp_path: Path
) -> None:
    live_stack("spark")
    spark = get_spark("batch-event-rules-test", shuffle_partitions=1)
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    rows = [
        _purchase("good", 2, "20.00", at),
        _purchase("zero-quantity", 0, "0.00", at),
        _purchase("negative-total", 1, "-10.00", at),
        {**_purchase("far-past", 1, "10.00", datetime(1999, 12, 31, tzinfo=UTC))},
        {**_purchase("bad-country", 1, "10.00", at), "country": "USA"},
    ]
    schema = archive_schema(spark, "transaction")
    frame = spark.createDataFrame(
        [{f: r.get(f) for f in schema.fieldNames()} for r in rows], schema
    )
    base = str(tmp_path / "archive")
    frame.write.partitionBy(PARTITION).parquet(f"{base}/transaction")
    # the raw archive keeps every event ...
    assert spark.read.parquet(f"{base}/transaction").count() == len(rows)
    # ... the batch reads only those every stream job reading transactions accepts
    kept = read_events(spark, base, "transaction", DAY, DAY)
    assert sorted(r["event_id"] for r in kept.collect()) == ["good"]
