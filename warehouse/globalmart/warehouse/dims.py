"""The dimensions: calendar and time of day (generated), geography, and the slowly changing
(type 2) customer, product and category dimensions.

SCD2 rules, per natural id:
- a version per change of the tracked attributes; a snapshot repeating the current attributes
  adds nothing; versions are ordered by the record's `updated_at`;
- the first version is valid from 1970-01-01 (always), later ones from their `updated_at`;
  valid_to is the next version's valid_from (null while current);
- surrogate key = xxhash64(id, valid_from): reruns and backfills produce the same keys;
- an id the events mention but no snapshot knows gets an inferred member (attributes `unknown`),
  replaced in place, same key, when the snapshot arrives.
Each run recomputes the versions of the ids it touches from the stored versions plus the new
records, and replaces those ids' rows in one transaction.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from globalmart.core.settings import Settings
from globalmart.warehouse import pg
from globalmart.warehouse.frames import EPOCH, table_schema, to_arrow
from globalmart.warehouse.seed import COUNTRIES

UNKNOWN = "unknown"
Row = dict[str, Any]


@dataclass(frozen=True)
class Scd2:
    table: str
    id_col: str
    key_col: str
    #: tracked attributes: a change in any of them starts a new version
    attrs: tuple[str, ...]
    #: attribute that holds UNKNOWN only on inferred members
    marker: str
    #: attribute values of an inferred member (others come from the events)
    inferred: Mapping[str, Any] = field(default_factory=dict)


CUSTOMER = Scd2(
    "dim_customer",
    "user_id",
    "customer_key",
    ("age", "age_group", "gender", "country", "city", "loyalty_tier", "registered_at"),
    "age_group",
    {
        "age": 0,
        "age_group": UNKNOWN,
        "gender": None,
        "city": UNKNOWN,
        "loyalty_tier": UNKNOWN,
        "registered_at": EPOCH,
    },
)
PRODUCT = Scd2(
    "dim_product",
    "product_id",
    "product_key",
    ("name", "category_id", "brand", "price", "is_active"),
    "brand",
    {"name": UNKNOWN, "brand": UNKNOWN, "is_active": True},
)
CATEGORY = Scd2(
    "dim_category",
    "category_id",
    "category_key",
    ("name", "department"),
    "department",
    {"name": UNKNOWN, "department": UNKNOWN},
)


def age_group(age: Column) -> Column:
    return (
        F.when(age < 18, "under 18")
        .when(age < 25, "18-24")
        .when(age < 35, "25-34")
        .when(age < 45, "35-44")
        .when(age < 55, "45-54")
        .when(age < 65, "55-64")
        .otherwise("65+")
    )


def customer_records(users: DataFrame) -> DataFrame:
    return users.select(
        "user_id",
        "age",
        age_group(F.col("age")).alias("age_group"),
        "gender",
        "country",
        "city",
        "loyalty_tier",
        "registered_at",
        "updated_at",
    )


def product_records(products: DataFrame) -> DataFrame:
    return products.select(
        "product_id", "name", "category_id", "brand", "price", "is_active", "updated_at"
    )


def category_records(categories: DataFrame) -> DataFrame:
    return categories.select("category_id", "name", "department", "updated_at")


def read_versions(settings: Settings, schema: str, spec: Scd2, ids: list[str]) -> list[Row]:
    """The stored versions of `ids`."""
    names = table_schema(spec.table).fieldNames()
    with pg.connect(settings, schema) as conn:
        rows = pg.fetch_rows(
            conn,
            f"SELECT {', '.join(names)} FROM {spec.table} WHERE {spec.id_col} = ANY(%s)",
            [ids],
        )
    return [dict(zip(names, r)) for r in rows]


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def merge_rows(spec: Scd2, stored: list[Row], records: list[Row], inferred: list[Row]) -> list[Row]:
    """All versions (without keys) of the touched ids after applying new records and inferred
    members, by the rules above. Plain Python: dimensions are small, and a Spark plan of windows
    costs seconds per run even for a handful of rows.

    `records`: id, attrs, updated_at (reference snapshots); `inferred`: id plus any attrs the
    events give (country, category_id, price); the rest comes from spec.inferred.
    """
    # id -> {time: (source, is inferred, attrs)}; at one time, records beat stored rows beat
    # new inferred members (source 2 > 1 > 0).
    found: dict[str, dict[datetime, tuple[int, bool, tuple[Any, ...]]]] = {}

    def add(row: Row, ts: Any, source: int, is_inferred: bool) -> None:
        attrs = tuple(_utc(row.get(a)) for a in spec.attrs)
        at = found.setdefault(row[spec.id_col], {})
        ts = _utc(ts)
        if ts not in at or at[ts][0] < source:
            at[ts] = (source, is_inferred, attrs)

    for row in stored:
        add(row, row["valid_from"], 1, row[spec.marker] == UNKNOWN)
    for row in records:
        add(row, row["updated_at"], 2, False)
    blank = {a: None for a in spec.attrs}
    for row in inferred:
        add({**blank, **spec.inferred, **row}, EPOCH, 0, True)

    versions: list[Row] = []
    for member, by_time in found.items():
        candidates = sorted(by_time.items())
        if any(not is_inferred for _, (_, is_inferred, _) in candidates):
            candidates = [c for c in candidates if not c[1][1]]  # real records replace guesses
        kept: list[tuple[datetime, tuple[Any, ...]]] = []
        previous = None
        for ts, (_, _, attrs) in candidates:
            if attrs != previous:  # a snapshot repeating the attributes adds nothing
                kept.append((EPOCH if not kept else ts, attrs))
            previous = attrs
        for n, (valid_from, attrs) in enumerate(kept):
            valid_to = kept[n + 1][0] if n + 1 < len(kept) else None
            versions.append(
                {
                    spec.id_col: member,
                    **dict(zip(spec.attrs, attrs)),
                    "valid_from": valid_from,
                    "valid_to": valid_to,
                    "is_current": valid_to is None,
                }
            )
    return versions


def _pylist(frame: DataFrame | None) -> list[Row]:
    return [] if frame is None else frame.toArrow().to_pylist()


def apply_scd2(
    spark: SparkSession,
    settings: Settings,
    schema: str,
    spec: Scd2,
    records: DataFrame | None,
    inferred: DataFrame | None,
) -> tuple[DataFrame, int]:
    """Merge and store; returns (the touched ids' versions, and rows written)."""
    new_records, new_inferred = _pylist(records), _pylist(inferred)
    ids = sorted(
        {r[spec.id_col] for r in (*new_records, *new_inferred) if r[spec.id_col] is not None}
    )
    struct = table_schema(spec.table)
    if not ids:
        return spark.createDataFrame([], struct), 0
    stored = read_versions(settings, schema, spec, ids)
    rows = merge_rows(spec, stored, new_records, new_inferred)
    # Keys in Spark: xxhash64 is the key function of every version already stored.
    plain = T.StructType([f for f in struct.fields if f.name != spec.key_col])
    frame = spark.createDataFrame(
        [tuple(r.get(f.name) for f in plain.fields) for r in rows], plain, verifySchema=False
    ).withColumn(spec.key_col, F.xxhash64(F.col(spec.id_col), F.col("valid_from")))
    data = to_arrow(frame, spec.table)
    with pg.connect(settings, schema) as conn:
        written = pg.replace_slice(conn, spec.table, f"{spec.id_col} = ANY(%s)", [ids], data)
    return spark.createDataFrame(data), written


def current_keys(
    spark: SparkSession,
    settings: Settings,
    schema: str,
    spec: Scd2,
    ids: list[str],
    members: DataFrame,
    extra: tuple[str, ...] = (),
) -> DataFrame:
    """(id, key, *extra) of the current version of each of `ids`, read from the dimension.
    Ids it lacks (events the ETL has not loaded) get inferred members from `members` (id plus
    what the events tell), evaluated only then."""
    cols = [spec.id_col, spec.key_col, *extra]
    with pg.connect(settings, schema) as conn:
        rows = pg.fetch_rows(
            conn,
            f"SELECT {', '.join(cols)} FROM {spec.table} "
            f"WHERE is_current AND {spec.id_col} = ANY(%s)",
            [ids],
        )
    missing = sorted(set(ids) - {r[0] for r in rows})
    if missing:
        added, _ = apply_scd2(
            spark, settings, schema, spec, None, members.where(F.col(spec.id_col).isin(missing))
        )
        rows.extend(tuple(r) for r in added.where("is_current").select(*cols).collect())
    struct = table_schema(spec.table)
    return spark.createDataFrame(rows, T.StructType([struct[c] for c in cols]))


def as_of(
    facts: DataFrame,
    versions: DataFrame,
    spec: Scd2,
    ts: str = "event_time",
    fact_id: str | None = None,
) -> DataFrame:
    """Add spec.key_col: the version of the fact's id in effect at the fact's time."""
    fact_id = fact_id or spec.id_col
    dim = F.broadcast(
        versions.select(
            F.col(spec.id_col).alias("_dim_id"),
            F.col("valid_from").alias("_vf"),
            F.col("valid_to").alias("_vt"),
            F.col(spec.key_col).alias("_key"),
        )
    )
    joined = facts.join(
        dim,
        (facts[fact_id] == dim["_dim_id"])
        & (dim["_vf"] <= facts[ts])
        & (dim["_vt"].isNull() | (facts[ts] < dim["_vt"])),
        "left",
    )
    return joined.drop("_dim_id", "_vf", "_vt").withColumnRenamed("_key", spec.key_col)


# -- generated dimensions -------------------------------------------------------------------------
def date_rows(first: date, last: date) -> pa.Table:
    rows = []
    day = first
    while day <= last:
        iso = day.isocalendar()
        rows.append(
            {
                "date_key": day.year * 10_000 + day.month * 100 + day.day,
                "full_date": day,
                "year": day.year,
                "quarter": (day.month - 1) // 3 + 1,
                "month": day.month,
                "month_name": calendar.month_name[day.month],
                "day_of_month": day.day,
                "day_of_week": iso.weekday,
                "day_name": calendar.day_name[day.weekday()],
                "week_of_year": iso.week,
                "is_weekend": iso.weekday >= 6,
            }
        )
        day += timedelta(days=1)
    return pa.Table.from_pylist(rows)


def time_rows() -> pa.Table:
    rows = []
    for hour in range(24):
        period = (
            "night"
            if hour < 6
            else "morning"
            if hour < 12
            else "afternoon"
            if hour < 18
            else "evening"
        )
        for minute in range(60):
            rows.append(
                {
                    "time_key": hour * 100 + minute,
                    "hour": hour,
                    "minute": minute,
                    "time_label": f"{hour:02d}:{minute:02d}",
                    "day_period": period,
                }
            )
    return pa.Table.from_pylist(rows)


def load_calendar(settings: Settings, schema: str, day: date) -> int:
    """The whole calendar year of `day` and all 1,440 minutes (static rows, kept if present)."""
    with pg.connect(settings, schema) as conn:
        written = pg.upsert(
            conn, "dim_date", date_rows(date(day.year, 1, 1), date(day.year, 12, 31)), update=False
        )
        written += pg.upsert(conn, "dim_time", time_rows(), update=False)
    return written


_KNOWN_COUNTRIES = {c["country"]: c for c in COUNTRIES}


def load_geography(
    spark: SparkSession,
    settings: Settings,
    schema: str,
    countries: DataFrame | None,
    seen: list[str],
) -> int:
    """Countries from the snapshot (updated), plus any code the events use (kept if present)."""
    written = 0
    with pg.connect(settings, schema) as conn:
        if countries is not None:
            written += pg.upsert(conn, "dim_geography", to_arrow(countries, "dim_geography"))
        rows = [
            _KNOWN_COUNTRIES.get(code)
            or {
                "country": code,
                "country_name": UNKNOWN,
                "currency": UNKNOWN,
                "region": UNKNOWN,
                "timezone": UNKNOWN,
            }
            for code in sorted(set(seen))
        ]
        if rows:
            written += pg.upsert(conn, "dim_geography", pa.Table.from_pylist(rows), update=False)
    return written
