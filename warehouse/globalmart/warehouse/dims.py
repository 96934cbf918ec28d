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
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from globalmart.core.settings import Settings
from globalmart.warehouse import pg
from globalmart.warehouse.frames import EPOCH, conform, table_schema, to_arrow
from globalmart.warehouse.seed import COUNTRIES

UNKNOWN = "unknown"


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


def read_versions(
    spark: SparkSession, settings: Settings, schema: str, spec: Scd2, ids: list[str]
) -> DataFrame:
    """The stored versions of `ids` (psycopg -> Spark; dimensions are small)."""
    struct = table_schema(spec.table)
    names = struct.fieldNames()
    with pg.connect(settings, schema) as conn:
        rows = pg.fetch_rows(
            conn,
            f"SELECT {', '.join(names)} FROM {spec.table} WHERE {spec.id_col} = ANY(%s)",
            [ids],
        )
    return spark.createDataFrame(rows, struct)


def merge_versions(
    spec: Scd2, stored: DataFrame, records: DataFrame | None, inferred: DataFrame | None
) -> DataFrame:
    """All versions of the touched ids after applying new records and inferred members.

    `records`: id, attrs, updated_at (reference snapshots); `inferred`: id plus any attrs the
    events give (country, category_id, price); the rest comes from spec.inferred.
    """
    cols = [spec.id_col, *spec.attrs]
    struct = table_schema(spec.table)
    typed = {f.name: f.dataType for f in struct.fields}

    def shaped(frame: DataFrame, ts: Column, source: int, is_inferred: Column) -> DataFrame:
        return frame.select(
            *[F.col(c).cast(typed[c]).alias(c) for c in cols],
            ts.alias("_ts"),
            F.lit(source).alias("_src"),
            is_inferred.alias("_inferred"),
        )

    parts = [shaped(stored, F.col("valid_from"), 1, F.col(spec.marker) == UNKNOWN)]
    if records is not None:
        parts.append(shaped(records, F.col("updated_at"), 2, F.lit(False)))
    if inferred is not None:
        frame = inferred
        for name, value in spec.inferred.items():
            if name not in frame.columns:
                frame = frame.withColumn(name, F.lit(value).cast(typed[name]))
        for name in spec.attrs:
            if name not in frame.columns:
                frame = frame.withColumn(name, F.lit(None).cast(typed[name]))
        parts.append(shaped(frame, F.lit(EPOCH), 0, F.lit(True)))
    candidates = parts[0]
    for part in parts[1:]:
        candidates = candidates.unionByName(part)

    by_id = Window.partitionBy(spec.id_col)
    candidates = candidates.withColumn(
        "_has_real", F.max((~F.col("_inferred")).cast("int")).over(by_id)
    ).where(~F.col("_inferred") | (F.col("_has_real") == 0))
    # One candidate per (id, time): incoming records beat stored rows beat new inferred members.
    same_time = Window.partitionBy(spec.id_col, "_ts").orderBy(F.col("_src").desc())
    candidates = candidates.withColumn("_n", F.row_number().over(same_time)).where("_n = 1")
    ordered = Window.partitionBy(spec.id_col).orderBy("_ts")
    attrs = F.struct(*[F.col(a) for a in spec.attrs])
    candidates = (
        candidates.withColumn("_attrs", attrs)
        .withColumn("_prev", F.lag("_attrs").over(ordered))
        .where(F.col("_prev").isNull() | ~F.col("_prev").eqNullSafe(F.col("_attrs")))
    )
    versions = candidates.withColumn(
        "valid_from",
        F.when(F.row_number().over(ordered) == 1, F.lit(EPOCH)).otherwise(F.col("_ts")),
    )
    versions = versions.withColumn("valid_to", F.lead("valid_from").over(ordered))
    versions = versions.withColumn("is_current", F.col("valid_to").isNull()).withColumn(
        spec.key_col, F.xxhash64(F.col(spec.id_col), F.col("valid_from"))
    )
    return conform(versions, spec.table)


def apply_scd2(
    spark: SparkSession,
    settings: Settings,
    schema: str,
    spec: Scd2,
    records: DataFrame | None,
    inferred: DataFrame | None,
) -> tuple[DataFrame, int]:
    """Merge and store; returns (the touched ids' versions, cached, and rows written)."""
    ids_frames = [f.select(spec.id_col) for f in (records, inferred) if f is not None]
    if not ids_frames:
        return spark.createDataFrame([], table_schema(spec.table)), 0
    ids_frame = ids_frames[0]
    for other in ids_frames[1:]:
        ids_frame = ids_frame.unionByName(other)
    ids = [r[0] for r in ids_frame.distinct().collect() if r[0] is not None]
    if not ids:
        return spark.createDataFrame([], table_schema(spec.table)), 0
    stored = read_versions(spark, settings, schema, spec, ids)
    versions = merge_versions(spec, stored, records, inferred).cache()
    data = to_arrow(versions, spec.table)
    with pg.connect(settings, schema) as conn:
        written = pg.replace_slice(conn, spec.table, f"{spec.id_col} = ANY(%s)", [ids], data)
    return versions, written


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
