"""What a stream job is, and how the framework turns one into a streaming DataFrame.

A job names its source event, its watermark and the tables it writes, and supplies:

- `checks`: rules a decoded event must pass (else it is dead-lettered with the rule's reason);
- `aggregate`: the event-time windowed part. It gets the valid events with the job's watermark
  and returns one struct column per window table (a row feeds the table whose column is set).
  Several window lengths share one stateful aggregation: rows are exploded into "grains", each
  with its own window (see `explode_grains`), so each job is one streaming query;
- `per_event` (optional): stateless rows, e.g. anomalies, produced straight from each event.

The framework decodes (globalmart.stream.decode), unions the windowed branch with the stateless
branch and the dead letters, and checks every table column against its sink schema before the
query starts. Spark runs the windowed branch in update mode: an open window's row is re-emitted
whenever it changes, and its state is dropped (the row becomes final) once the watermark passes
the window's end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from globalmart.stream.decode import apply_checks, dead_letter_struct
from globalmart.stream.sinks import DEAD_LETTERS, check_struct, sink

_KEYS = T.ArrayType(
    T.StructType([T.StructField("k1", T.StringType()), T.StructField("k2", T.StringType())])
)
#: Spark's marker for the event-time column of a stateful operator (EventTimeWatermark.delayKey)
_WATERMARK_DELAY_KEY = "spark.watermarkDelayMs"


@dataclass(frozen=True)
class JobContext:
    query_name: str
    watermark_ms: int


@dataclass(frozen=True)
class JobSpec:
    name: str
    #: the event schema read (catalog name): transaction, cart_event or product_view
    source: str
    watermark_minutes: int
    #: the sink tables written, besides dead_letters
    tables: tuple[str, ...]
    checks: Callable[[], list[tuple[Column, str]]]
    aggregate: Callable[[DataFrame, JobContext], DataFrame]
    per_event: Callable[[], list[tuple[str, Column]]] | None = None
    doc: str = field(default="", compare=False)

    @property
    def outputs(self) -> tuple[str, ...]:
        return (*self.tables, DEAD_LETTERS)

    @property
    def window_tables(self) -> tuple[str, ...]:
        return tuple(t for t in self.tables if sink(t).is_window)

    @property
    def watermark(self) -> str:
        return f"{self.watermark_minutes} minutes"

    @property
    def watermark_ms(self) -> int:
        return self.watermark_minutes * 60_000


# -- helpers for job code ------------------------------------------------------------------------
def keys(k1: Column | None = None, k2: Column | None = None, when: Column | None = None) -> Column:
    """One grouping key (up to two strings) for a grain; no row when `when` is false."""
    key = F.array(
        F.struct(
            (k1 if k1 is not None else F.lit(None)).cast("string").alias("k1"),
            (k2 if k2 is not None else F.lit(None)).cast("string").alias("k2"),
        )
    )
    if when is None:
        return key
    return F.when(F.coalesce(when, F.lit(False)), key).otherwise(F.array().cast(_KEYS))


def explode_grains(df: DataFrame, grains: Sequence[tuple[str, int, Column]]) -> DataFrame:
    """One row per (event, grain, key): adds `grain`, `window_seconds`, `k1` and `k2`.

    Each grain is (name, window length in seconds, keys) where keys is an array of (k1, k2)
    structs, usually from `keys(...)`; an event may feed a grain under several keys (a compare
    event counts for every product compared) or none.
    """

    def tagged(name: str, seconds: int) -> Callable[[Column], Column]:
        return lambda k: F.struct(
            F.lit(name).alias("grain"),
            F.lit(seconds).alias("window_seconds"),
            k["k1"].cast("string").alias("k1"),
            k["k2"].cast("string").alias("k2"),
        )

    options = F.concat(
        *[F.transform(keys_col, tagged(name, seconds)) for name, seconds, keys_col in grains]
    )
    return df.select("*", F.explode(options).alias("_grain")).select("*", "_grain.*").drop("_grain")


def with_window(df: DataFrame, ctx: JobContext, time_col: str = "event_time") -> DataFrame:
    """Add `window` (start, end): the tumbling event-time window of `window_seconds`, aligned to
    the epoch like Spark's window(). It carries the watermark marker, so the aggregation keyed on
    it drops late rows (end <= watermark) and evicts windows the watermark has passed."""
    micros = F.unix_micros(F.col(time_col))
    length = F.col("window_seconds").cast("long") * F.lit(1_000_000)
    start = micros - F.pmod(micros, length)
    window = F.struct(
        F.timestamp_micros(start).alias("start"), F.timestamp_micros(start + length).alias("end")
    )
    return df.select("*", window.alias("window", metadata={_WATERMARK_DELAY_KEY: ctx.watermark_ms}))


def row(table: str, values: Mapping[str, Column], when: Column | None = None) -> Column:
    """The struct column for `table`, fields in schema order; null unless `when` holds.

    Raises when `values` does not name exactly the table's columns.
    """
    columns = sink(table).columns
    missing = [c for c in columns if c not in values]
    extra = [c for c in values if c not in columns]
    if missing or extra:
        raise ValueError(f"{table}: missing {missing}, not in the schema {extra}")
    struct = F.struct(*[values[c].alias(c) for c in columns])
    return (F.when(when, struct) if when is not None else struct).alias(table)


def money(value: Column, precision: int) -> Column:
    """A USD amount as decimal(precision, 2), rounded half-up like the table stores it."""
    return value.cast(T.DecimalType(precision, 2))


def window_columns() -> dict[str, Column]:
    return {"window_start": F.col("window.start"), "window_end": F.col("window.end")}


def window_bookkeeping() -> dict[str, Column]:
    """is_final / created_at / updated_at of a window row as the stream emits it."""
    now = processing_time()
    return {"is_final": F.lit(False), "created_at": now, "updated_at": now}


def processing_time() -> Column:
    """A processing-time column (created_at, detected_at, ...): filled in by the writer with the
    batch's timestamp from the offset log. Not current_timestamp(): Spark inlines that as a new
    literal in every batch, so the generated code of every stage using it is recompiled each
    batch (seconds per batch for plans this size)."""
    return F.lit(None).cast("timestamp")


def grain_is(name: str) -> Column:
    return F.col("grain") == F.lit(name)


def group(rows: DataFrame, *aggregates: Column) -> DataFrame:
    """The job's one stateful aggregation: per grain, window and key."""
    return rows.groupBy("grain", "window", "k1", "k2").agg(*aggregates)


def alert(
    *,
    dedup_key: Column,
    alert_type: str,
    severity: Column,
    title: Column,
    message: Column,
    source_table: str,
    entity_id: Column | None,
    country: Column | None,
    event_time: Column | None,
    details: Mapping[str, Column],
    when: Column | None = None,
) -> Column:
    """An `alerts` row (deduplicated on dedup_key when written)."""
    detail_map = F.create_map(
        *[part for k, v in sorted(details.items()) for part in (F.lit(k), v.cast("string"))]
    )
    values = {
        "dedup_key": dedup_key,
        "alert_type": F.lit(alert_type),
        "severity": severity,
        "title": title,
        "message": message,
        "source_table": F.lit(source_table),
        "entity_id": entity_id if entity_id is not None else F.lit(None).cast("string"),
        "country": country if country is not None else F.lit(None).cast("string"),
        "event_time": event_time if event_time is not None else F.lit(None).cast("timestamp"),
        "details": detail_map,
        "alert_generated_at": processing_time(),
    }
    return row("alerts", values, when)


def iso(ts: Column) -> Column:
    """A timestamp as ISO-8601 UTC text (for alert keys and messages)."""
    return F.date_format(ts, "yyyy-MM-dd'T'HH:mm:ss'Z'")


# -- the framework -----------------------------------------------------------------------------
def conform(df: DataFrame, outputs: Sequence[str]) -> DataFrame:
    """Exactly the output columns, in order; tables a branch does not write are typed nulls."""
    present = set(df.columns)
    return df.select(
        *[F.col(t) if t in present else F.lit(None).cast(sink(t).struct).alias(t) for t in outputs]
    )


def stateless_rows(decoded: DataFrame, spec: JobSpec, ctx: JobContext) -> DataFrame:
    """Per-event rows and dead letters in one projection (one pass over the source)."""
    outputs = spec.outputs
    valid = F.col("reject_reason").isNull()

    def carrier(table: str, value: Column) -> Column:
        return F.struct(
            *[
                value.alias(t) if t == table else F.lit(None).cast(sink(t).struct).alias(t)
                for t in outputs
            ]
        )

    carrier_type = T.ArrayType(
        T.StructType([T.StructField(t, sink(t).struct, True) for t in outputs])
    )
    empty = F.array().cast(carrier_type)

    def wrap(table: str) -> Callable[[Column], Column]:
        return lambda r: carrier(table, r)

    parts = [
        F.when(valid, F.transform(rows, wrap(table))).otherwise(empty)
        for table, rows in (spec.per_event() if spec.per_event else [])
    ]
    parts.append(
        F.when(valid, empty).otherwise(
            F.array(carrier(DEAD_LETTERS, dead_letter_struct(ctx.query_name)))
        )
    )
    exploded = decoded.select(F.explode(F.concat(*parts)).alias("c"))
    return exploded.select(*[F.col(f"c.{t}").alias(t) for t in outputs])


def build(decoded: DataFrame, spec: JobSpec, query_name: str) -> DataFrame:
    """The job's streaming DataFrame: one nullable struct column per output table."""
    ctx = JobContext(query_name, spec.watermark_ms)
    flat = apply_checks(decoded.select("*", "event.*"), spec.checks())
    valid = flat.where(F.col("reject_reason").isNull()).drop(
        "event", "value", "key", "magic", "schema_id", "reject_reason", "error_type"
    )
    windowed = spec.aggregate(valid.withWatermark("event_time", spec.watermark), ctx)
    out = conform(windowed, spec.outputs).unionByName(
        conform(stateless_rows(flat, spec, ctx), spec.outputs)
    )
    check_output(out, spec.outputs)
    return out


def check_output(df: DataFrame, outputs: Sequence[str]) -> None:
    """Every output column matches its sink schema (raises SinkSchemaMismatch)."""
    for table in outputs:
        check_struct(table, df.schema[table].dataType)
