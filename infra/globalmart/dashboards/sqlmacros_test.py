from __future__ import annotations

import pytest

from globalmart.dashboards.sqlmacros import (
    DEFAULT_FROM,
    DEFAULT_TO,
    MacroError,
    duration_seconds,
    split_args,
    to_postgres,
)


def test_time_filter_uses_the_range() -> None:
    assert to_postgres("SELECT 1 FROM t WHERE $__timeFilter(window_start)") == (
        f"SELECT 1 FROM t WHERE window_start BETWEEN {DEFAULT_FROM} AND {DEFAULT_TO}"
    )
    custom = to_postgres(
        "WHERE $__timeFilter( t.ts ) AND x < $__timeTo()", time_from="'a'", time_to="'b'"
    )
    assert custom == "WHERE t.ts BETWEEN 'a' AND 'b' AND x < 'b'"


def test_time_group_and_aliases() -> None:
    sql = (
        "SELECT $__timeGroupAlias(failed_at, '5m'), count(*) GROUP BY $__timeGroup(failed_at,'1h')"
    )
    assert to_postgres(sql) == (
        'SELECT to_timestamp(floor(extract(epoch from failed_at)/300)*300) AS "time", count(*) '
        "GROUP BY to_timestamp(floor(extract(epoch from failed_at)/3600)*3600)"
    )
    assert to_postgres("SELECT $__time(ts), $__timeEpoch(ts)") == (
        'SELECT ts AS "time", extract(epoch from ts) AS "time"'
    )
    assert to_postgres("$__unixEpochFilter(epoch)", time_from="F", time_to="T") == (
        "epoch >= extract(epoch from F) AND epoch <= extract(epoch from T)"
    )


def test_nested_parentheses_and_quotes_in_arguments() -> None:
    assert to_postgres("$__timeFilter(coalesce(a, b))", time_from="F", time_to="T") == (
        "coalesce(a, b) BETWEEN F AND T"
    )
    assert split_args("coalesce(a, ','), '5m'") == ["coalesce(a, ',')", "'5m'"]
    assert split_args("") == []


def test_intervals_and_variables() -> None:
    assert to_postgres("$__interval $__interval_ms", interval="5m") == "'5m' 300000"
    assert (
        to_postgres(
            "WHERE c = '$country' AND s IN (${sev:csv})",
            variables={"country": "US", "sev": "'info'"},
        )
        == "WHERE c = 'US' AND s IN ('info')"
    )
    assert duration_seconds("'10s'") == 10


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("$__timeFilter", "needs parentheses"),
        ("$__timeFilter(a, b)", "exactly one column"),
        ("$__timeFilter(a", "unbalanced"),
        ("$__timeGroup(a)", "needs"),
        ("$__timeGroup(a, 'soon')", "not a duration"),
        ("$__nope(a)", "unknown Grafana macro"),
        ("WHERE c = $country", "no test value"),
    ],
)
def test_errors_are_explicit(sql: str, message: str) -> None:
    with pytest.raises(MacroError, match=message):
        to_postgres(sql)
