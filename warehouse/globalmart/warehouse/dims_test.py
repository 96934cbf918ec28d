from datetime import date

from globalmart.warehouse.dims import date_rows, time_rows


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
