from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from globalmart.gateway.encode import BadValue, decode_row, iso_utc, parse_timestamp, row_encoder
from globalmart.gateway.tables import table_specs


def test_timestamps_are_utc_with_z() -> None:
    moment = datetime(2026, 11, 24, 11, 15, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
    assert iso_utc(moment) == "2026-11-24T10:15:00.250000Z"
    assert iso_utc(datetime(2026, 1, 1, tzinfo=timezone.utc)) == "2026-01-01T00:00:00Z"
    with pytest.raises(ValueError):
        iso_utc(datetime(2026, 1, 1))


def test_parse_timestamp_needs_an_offset() -> None:
    assert parse_timestamp("2026-01-01T00:00:00+02:00") == datetime(
        2025, 12, 31, 22, tzinfo=timezone.utc
    )
    with pytest.raises(BadValue):
        parse_timestamp("2026-01-01T00:00:00")
    with pytest.raises(BadValue):
        parse_timestamp("yesterday")


def test_row_encoding_round_trips() -> None:
    spec = table_specs()["alerts"]
    values = [
        "k1",
        "high_value",
        "critical",
        "title",
        "message",
        "high_value_anomalies",
        None,
        "US",
        datetime(2026, 1, 1, tzinfo=timezone.utc),
        {"amount": "9000.00"},
        datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc),
    ]
    encoded = row_encoder(spec)(values)
    assert encoded["severity"] == "critical"
    assert encoded["event_time"] == "2026-01-01T00:00:00Z"
    assert encoded["entity_id"] is None
    assert decode_row(spec, encoded) == values


def test_decimals_are_exact_strings_and_nan_is_null() -> None:
    spec = table_specs()["product_sales_velocity"]
    row = [
        datetime(2026, 1, 1, tzinfo=timezone.utc),
        datetime(2026, 1, 1, 0, 5, tzinfo=timezone.utc),
        "p1",
        3,
        2,
        Decimal("1234567890.10"),
        float("nan"),
        True,
        datetime(2026, 1, 1, tzinfo=timezone.utc),
        datetime(2026, 1, 1, tzinfo=timezone.utc),
    ]
    encoded = row_encoder(spec)(row)
    assert encoded["revenue"] == "1234567890.10"
    assert encoded["units_per_minute"] is None
    assert (
        row_encoder(table_specs()["rfm_segments"])(
            [
                date(2026, 1, 2),
                "u",
                1,
                2,
                3,
                Decimal("1.00"),
                1,
                1,
                1,
                "111",
                "x",
                datetime(2026, 1, 1, tzinfo=timezone.utc),
            ]
        )["as_of_date"]
        == "2026-01-02"
    )
