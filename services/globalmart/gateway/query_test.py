from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from globalmart.gateway.encode import b64url_encode
from globalmart.gateway.query import (
    BadQuery,
    build_query,
    decode_cursor,
    encode_cursor,
    latest_by_key_sql,
    select_sql,
)
from globalmart.gateway.tables import table_specs

SPECS = table_specs()
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_defaults_newest_first() -> None:
    query = build_query(SPECS["sales_by_country"])
    assert query.sort == "-window_start" and query.descending and query.limit == 100


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"sort": "nope"}, "sort"),
        ({"sort": "-entity_id"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"time_from": datetime(2026, 1, 1)}, "from"),
        ({"time_from": T0, "time_to": T0}, "to"),
        ({"filters": {"product_id": ["p"]}}, "product_id"),
        ({"filters": {"country": ["x"] * 101 + [str(i) for i in range(101)]}}, "country"),
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(BadQuery) as error:
        build_query(SPECS["sales_by_country"], **kwargs)
    assert error.value.parameter == parameter


def test_enum_filters_accept_only_symbols_and_dates_only_dates() -> None:
    with pytest.raises(BadQuery):
        build_query(SPECS["alerts"], filters={"severity": ["urgent"]})
    assert build_query(
        SPECS["alerts"], filters={"severity": ["critical", "info", "info"]}
    ).filters == (("severity", ("critical", "info")),)
    with pytest.raises(BadQuery):
        build_query(SPECS["rfm_segments"], time_from=T0)
    assert build_query(SPECS["rfm_segments"], time_from=date(2026, 1, 1)).time_from == date(
        2026, 1, 1
    )


def test_cursor_round_trip_and_binding() -> None:
    spec = SPECS["sales_by_country"]
    query = build_query(spec, filters={"country": ["US"]}, sort="total_revenue")
    last = {
        "total_revenue": "12.50",
        "window_start": "2026-01-01T00:00:00Z",
        "window_end": "2026-01-01T00:01:00Z",
        "country": "US",
    }
    cursor = encode_cursor(spec, query, last)
    after = build_query(
        spec, filters={"country": ["US"]}, sort="total_revenue", cursor=cursor
    ).after
    assert after is not None and str(after[0]) == "12.50" and after[1] == T0
    # The same cursor with other filters or sort is refused, not silently misapplied.
    with pytest.raises(BadQuery, match="other filters"):
        build_query(spec, filters={"country": ["UK"]}, sort="total_revenue", cursor=cursor)
    forged = b64url_encode(b'{"v":1,"q":"' + query.fingerprint().encode() + b'","k":["x",1,2,3]}')
    with pytest.raises(BadQuery):
        decode_cursor(spec, query, forged)


def test_sql_is_composed_with_identifiers_and_parameters() -> None:
    spec = SPECS["sales_by_country"]
    query = build_query(spec, time_from=T0, filters={"country": ["US'; DROP TABLE x; --"]})
    statement, params = select_sql(spec, query)
    text = statement.as_string()
    assert '"country" = ANY(%s)' in text and "DROP" not in text
    assert params == [T0, ["US'; DROP TABLE x; --"]]
    assert 'ORDER BY "window_start" DESC, "window_end" DESC, "country" DESC LIMIT 101' in text
    paged = build_query(
        spec,
        cursor=encode_cursor(
            spec,
            build_query(spec),
            {
                "window_start": "2026-01-01T00:00:00Z",
                "window_end": "2026-01-01T00:01:00Z",
                "country": "US",
            },
        ),
    )
    text = select_sql(spec, paged)[0].as_string()
    assert '("window_start", "window_end", "country") < (%s, %s, %s)' in text
    assert (
        'DISTINCT ON ("product_id")'
        in latest_by_key_sql(SPECS["product_performance"], "product_id").as_string()
    )


def test_cache_token_is_canonical() -> None:
    spec = SPECS["category_performance"]
    a = build_query(spec, filters={"country": ["US", "UK"], "category_id": ["c"]})
    b = build_query(spec, filters={"category_id": ["c"], "country": ["UK", "US", "US"]})
    assert a.cache_token() == b.cache_token()
    assert a.cache_token() != build_query(spec, filters={"country": ["US"]}).cache_token()
