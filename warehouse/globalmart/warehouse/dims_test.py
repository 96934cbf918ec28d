from datetime import UTC, date, datetime
from decimal import Decimal

from globalmart.warehouse.dims import PRODUCT, UNKNOWN, date_rows, merge_rows, time_rows
from globalmart.warehouse.frames import EPOCH


def test_calendar_rows() -> None:
    rows = date_rows(date(2026, 12, 31), date(2027, 1, 1)).to_pylist()
    assert rows[0]["date_key"] == 20261231 and rows[0]["day_name"] == "Thursday"
    assert rows[1]["week_of_year"] == 53 and rows[1]["quarter"] == 1
    assert rows[1]["is_weekend"] is False and rows[1]["day_of_week"] == 5


def test_time_rows() -> None:
    rows = time_rows().to_pylist()
    assert len(rows) == 1440
    assert rows[875] == {
        "time_key": 1435,
        "hour": 14,
        "minute": 35,
        "time_label": "14:35",
        "day_period": "afternoon",
    }


def _product(price: str, updated_at: datetime, **extra: object) -> dict[str, object]:
    return {
        "product_id": "P000001",
        "name": "Lamp",
        "category_id": "C001",
        "brand": "Lumio",
        "price": Decimal(price),
        "is_active": True,
        "updated_at": updated_at,
        **extra,
    }


def test_scd2_a_changed_record_starts_a_version_and_a_repeat_adds_none() -> None:
    jan, feb, mar = (datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3))
    rows = merge_rows(
        PRODUCT,
        [],
        [_product("9.99", jan), _product("9.99", feb), _product("12.99", mar)],
        [{"product_id": "P000001", "category_id": "C009", "price": Decimal("1.00")}],
    )
    assert [(r["price"], r["valid_from"], r["valid_to"], r["is_current"]) for r in rows] == [
        (Decimal("9.99"), EPOCH, mar, False),
        (Decimal("12.99"), mar, None, True),
    ]


def test_scd2_inferred_member_until_the_record_arrives() -> None:
    guessed = merge_rows(PRODUCT, [], [], [{"product_id": "P000002", "category_id": "C002"}])
    assert len(guessed) == 1 and guessed[0]["brand"] == UNKNOWN
    assert guessed[0]["valid_from"] == EPOCH and guessed[0]["is_current"]
    stored = [{**guessed[0], "product_key": 7}]
    known = _product("5.00", datetime(2026, 1, 1, tzinfo=UTC), product_id="P000002")
    rows = merge_rows(PRODUCT, stored, [known], [{"product_id": "P000002"}])
    # The guess is replaced in place: one version, from the epoch (so the same key).
    assert [(r["brand"], r["valid_from"], r["is_current"]) for r in rows] == [
        ("Lumio", EPOCH, True)
    ]
