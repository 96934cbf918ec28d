"""One page of one table: the normalized request, its SQL, and its keyset cursor.

REST and GraphQL both turn their arguments into a `TableQuery`; `select_sql` composes the SQL with
psycopg.sql only (identifiers quoted by psycopg, values always bound parameters), so no client
text ever becomes SQL.

Keyset pagination: rows are ordered by the sort column then the natural key (a total order, all in
one direction); the cursor carries the last row's values of those columns, and the next page is
`WHERE (sort, key...) > (cursor values)` (or `<` when descending), which an index on the natural
key serves without OFFSET. A cursor also carries a fingerprint of the filters and the sort, so a
cursor reused with other filters is refused instead of silently skipping rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg import sql

from globalmart.gateway.encode import BadValue, b64url_decode, b64url_encode, encoder, parse_value
from globalmart.gateway.tables import DATE, TableSpec

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_FILTER_VALUES = 100
_CURSOR_VERSION = 1


class BadQuery(ValueError):
    """A parameter the client got wrong: becomes a 400 problem with `parameter` set."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter
        self.detail = detail


@dataclass(frozen=True)
class TableQuery:
    table: str
    time_from: datetime | date | None = None
    time_to: datetime | date | None = None
    #: (column, accepted values) sorted by column; values sorted and de-duplicated
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sort: str = ""
    limit: int = DEFAULT_LIMIT
    #: keyset values of the last row of the previous page (None: first page)
    after: tuple[Any, ...] | None = field(default=None, compare=True)

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def sort_column(self) -> str:
        return self.sort.lstrip("-")

    def fingerprint(self) -> str:
        """What a cursor is bound to: the table, time range, filters and sort."""
        canonical = json.dumps(
            [self.table, _iso(self.time_from), _iso(self.time_to), self.filters, self.sort],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def cache_token(self) -> str:
        """A canonical text for cache keys: equal for equal requests."""
        after = None if self.after is None else [_iso(v) for v in self.after]
        return json.dumps([self.fingerprint(), self.limit, after], separators=(",", ":"))


def _iso(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


def build_query(
    spec: TableSpec,
    *,
    time_from: datetime | date | None = None,
    time_to: datetime | date | None = None,
    filters: dict[str, list[str]] | None = None,
    sort: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> TableQuery:
    """Validate and normalize; every mistake raises BadQuery naming the parameter."""
    sort = sort or spec.default_sort
    if sort not in spec.sort_options:
        raise BadQuery("sort", f"one of {', '.join(spec.sort_options)}")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery("limit", f"between 1 and {MAX_LIMIT}")
    time_from = _time_bound(spec, "from", time_from)
    time_to = _time_bound(spec, "to", time_to)
    if time_from is not None and time_to is not None and time_from >= time_to:
        raise BadQuery("to", "must be after `from`")
    normalized = []
    for name, values in sorted((filters or {}).items()):
        if name not in spec.filters:
            raise BadQuery(name, f"{spec.name} has no filter {name!r}")
        cleaned = tuple(sorted({v for v in values if v is not None}))
        if not cleaned:
            continue
        if len(cleaned) > MAX_FILTER_VALUES:
            raise BadQuery(name, f"at most {MAX_FILTER_VALUES} values")
        column = spec.column(name)
        if column.symbols and not set(cleaned) <= set(column.symbols):
            raise BadQuery(name, f"one of {', '.join(column.symbols)}")
        normalized.append((name, cleaned))
    query = TableQuery(spec.name, time_from, time_to, tuple(normalized), sort, limit)
    if cursor:
        query = dataclasses.replace(query, after=decode_cursor(spec, query, cursor))
    return query


def _time_bound(spec: TableSpec, parameter: str, value: Any) -> datetime | date | None:
    if value is None:
        return None
    is_date = spec.column(spec.time_column).kind == DATE
    if is_date:
        if isinstance(value, datetime):
            raise BadQuery(parameter, f"{spec.time_column} is a date: use YYYY-MM-DD")
        if not isinstance(value, date):
            raise BadQuery(parameter, "a date YYYY-MM-DD")
        return value
    if not isinstance(value, datetime):
        raise BadQuery(parameter, "an ISO-8601 timestamp with offset, e.g. 2026-11-24T10:00:00Z")
    if value.tzinfo is None:
        raise BadQuery(parameter, "needs a UTC offset: add `Z` or `+00:00`")
    return value


# -- cursors ---------------------------------------------------------------------------------------
def encode_cursor(spec: TableSpec, query: TableQuery, last_row: dict[str, Any]) -> str:
    """The cursor after `last_row` (an encoded row: JSON values)."""
    keys = [last_row[c] for c in spec.order_columns(query.sort_column)]
    payload = {"v": _CURSOR_VERSION, "q": query.fingerprint(), "k": keys}
    return b64url_encode(json.dumps(payload, separators=(",", ":")).encode())


def decode_cursor(spec: TableSpec, query: TableQuery, cursor: str) -> tuple[Any, ...]:
    if len(cursor) > 4096:
        raise BadQuery("cursor", "too long")
    try:
        payload = json.loads(b64url_decode(cursor))
        assert isinstance(payload, dict) and payload.get("v") == _CURSOR_VERSION
        keys = payload["k"]
        assert isinstance(keys, list)
    except (BadValue, ValueError, KeyError, AssertionError, UnicodeDecodeError):
        raise BadQuery("cursor", "not a cursor this API issued") from None
    if payload.get("q") != query.fingerprint():
        raise BadQuery("cursor", "issued for other filters or another sort: start without it")
    columns = spec.order_columns(query.sort_column)
    if len(keys) != len(columns):
        raise BadQuery("cursor", "not a cursor this API issued")
    try:
        return tuple(parse_value(spec.column(c), k) for c, k in zip(columns, keys))
    except BadValue as exc:
        raise BadQuery("cursor", str(exc)) from None


# -- SQL -------------------------------------------------------------------------------------------
def select_sql(spec: TableSpec, query: TableQuery) -> tuple[sql.Composed, list[Any]]:
    """SELECT one page plus one row (to know whether another page follows)."""
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    time = sql.Identifier(spec.time_column)
    if query.time_from is not None:
        conditions.append(sql.SQL("{} >= %s").format(time))
        params.append(query.time_from)
    if query.time_to is not None:
        conditions.append(sql.SQL("{} < %s").format(time))
        params.append(query.time_to)
    for name, values in query.filters:
        conditions.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(name)))
        params.append(list(values))
    order = spec.order_columns(query.sort_column)
    direction = sql.SQL("DESC" if query.descending else "ASC")
    if query.after is not None:
        comparison = sql.SQL("<" if query.descending else ">")
        conditions.append(
            sql.SQL("({}) {} ({})").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in order),
                comparison,
                sql.SQL(", ").join(sql.Placeholder() for _ in order),
            )
        )
        params.extend(query.after)
    where = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("TRUE")
    statement = sql.SQL(
        "SELECT {cols} FROM {table} WHERE {where} ORDER BY {order} LIMIT {n}"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in spec.column_names),
        table=sql.Identifier(spec.name),
        where=where,
        order=sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), direction) for c in order
        ),
        n=sql.Literal(query.limit + 1),
    )
    return statement, params


def latest_by_key_sql(spec: TableSpec, key: str) -> sql.Composed:
    """The newest row (by time column) per value of `key`, for a list of keys (%s = array):
    what GraphQL's DataLoaders run once per batch instead of once per parent row."""
    return sql.SQL(
        "SELECT DISTINCT ON ({key}) {cols} FROM {table} WHERE {key} = ANY(%s) "
        "ORDER BY {key}, {time} DESC"
    ).format(
        key=sql.Identifier(key),
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in spec.column_names),
        table=sql.Identifier(spec.name),
        time=sql.Identifier(spec.time_column),
    )


def cursor_value(spec: TableSpec, column: str, value: Any) -> Any:
    """The JSON value a cursor stores for a raw database value."""
    return encoder(spec.column(column))(value)
