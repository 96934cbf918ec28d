"""Avro from Kafka with the registry's schemas, and the reasons a record is rejected.

Messages use the Confluent framing: magic byte 0, a 4-byte big-endian schema id, then the Avro
body. Open-source `from_avro` does not understand the header, so the body is cut off first and
decoded with the *writer* schema of its id (fetched from the registry when the query starts),
resolved to the job's *reader* schema (the catalog's latest version of the event) through
from_avro's `avroSchema` option: old and new producers decode to one shape. All of it runs in the
JVM (no Python per record).

Anything that cannot be decoded, or decodes but breaks a rule the jobs rely on, gets a one-line
reason and goes to the `dead_letters` table with its raw bytes; the query keeps running.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from globalmart.core.settings import Settings
from globalmart.schemas.catalog import SchemaVersion

log = logging.getLogger(__name__)

HEADER_BYTES = 5
DESERIALIZATION_ERROR = "DeserializationError"
UNKNOWN_SCHEMA = "UnknownSchemaError"
VALIDATION_ERROR = "ValidationError"


class RegistryUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class WriterSchemas:
    """The writer schemas a query can decode: registry id -> schema text, for one subject."""

    subject: str
    by_id: dict[int, str]


def fetch_writer_schemas(settings: Settings, subject: str, timeout: float = 10.0) -> WriterSchemas:
    """Every version registered under `subject` (Confluent-compatible API), by schema id."""
    base = settings.schema_registry_ccompat_url
    try:
        with httpx.Client(base_url=base, timeout=timeout) as client:
            response = client.get(f"/subjects/{subject}/versions")
            if response.status_code == 404:
                raise RegistryUnavailable(
                    f"subject {subject} is not registered in {base} "
                    "(run `globalmart schemas register`)"
                )
            response.raise_for_status()
            by_id: dict[int, str] = {}
            for version in response.json():
                detail = client.get(f"/subjects/{subject}/versions/{version}")
                detail.raise_for_status()
                body = detail.json()
                by_id[int(body["id"])] = str(body["schema"])
    except httpx.HTTPError as error:
        raise RegistryUnavailable(f"schema registry {base}: {error}") from error
    return WriterSchemas(subject, by_id)


_DROPPED_ATTRIBUTES = frozenset({"doc", "topic", "key", "primary_key", "indexes", "job"})


def decoding_text(schema: Any) -> str:
    """The schema without docs and custom attributes: what decoding needs (names, types,
    defaults, logical types), and much smaller in every query plan that embeds it."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in _DROPPED_ATTRIBUTES}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return json.dumps(strip(schema), separators=(",", ":"))


def schema_id_col(value: Column) -> Column:
    """The 4-byte big-endian id after the magic byte (null when the message is too short)."""
    return F.when(
        F.length(value) >= HEADER_BYTES, F.conv(F.hex(F.substring(value, 2, 4)), 16, 10)
    ).cast("long")


def magic_col(value: Column) -> Column:
    return F.when(F.length(value) >= 1, F.conv(F.hex(F.substring(value, 1, 1)), 16, 10)).cast("int")


def decode(raw: DataFrame, writers: WriterSchemas, reader: SchemaVersion) -> DataFrame:
    """Kafka rows -> kafka metadata + `event` (reader-shaped struct, null if undecodable) +
    `reject_reason` / `error_type` for what could not be decoded."""
    value = F.col("value")
    body = F.expr(f"substring(value, {HEADER_BYTES + 1})")
    sid = F.col("schema_id")
    reader_text = decoding_text(reader.data)
    options = {"mode": "PERMISSIVE", "avroSchema": reader_text}
    decoded: Column | None = None
    for schema_id, writer_text in sorted(writers.by_id.items()):
        branch = from_avro(body, decoding_text(json.loads(writer_text)), options)
        condition = (F.col("magic") == 0) & (sid == F.lit(schema_id))
        decoded = F.when(condition, branch) if decoded is None else decoded.when(condition, branch)
    if decoded is None:
        raise RegistryUnavailable(f"no schema registered under {writers.subject}")
    known = F.lit(sorted(writers.by_id))
    staged = raw.select(
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("key"),
        value,
        magic_col(value).alias("magic"),
        schema_id_col(value).alias("schema_id"),
    )
    with_event = staged.select("*", decoded.alias("event"))
    # PERMISSIVE mode turns a corrupt body into a struct of nulls (not a null struct): a null in a
    # field the reader schema requires is the sign of a body that did not decode.
    required = [
        f["name"]
        for f in reader.fields
        if not (isinstance(f["type"], list) and "null" in f["type"])
    ]
    broken = F.col("event").isNull()
    for name in required:
        broken = broken | F.col(f"event.{name}").isNull()
    reason = (
        F.when(value.isNull() | (F.length(value) == 0), F.lit("empty message"))
        .when(
            F.length(value) < HEADER_BYTES,
            F.lit(f"shorter than the {HEADER_BYTES}-byte Confluent header"),
        )
        .when(
            F.col("magic") != 0,
            F.concat(F.lit("not Confluent framing: magic byte "), F.col("magic").cast("string")),
        )
        .when(
            ~F.array_contains(known, sid),
            F.concat(
                F.lit("unknown schema id "),
                sid.cast("string"),
                F.lit(f" (not a version of {writers.subject})"),
            ),
        )
        .when(
            broken,
            F.concat(F.lit("Avro body does not decode with schema id "), sid.cast("string")),
        )
    )
    rejected = with_event.select("*", reason.alias("reject_reason"))
    error_type = (
        F.when(F.col("reject_reason").isNull(), F.lit(None).cast("string"))
        .when(F.col("reject_reason").startswith("unknown schema id"), F.lit(UNKNOWN_SCHEMA))
        .otherwise(F.lit(DESERIALIZATION_ERROR))
    )
    return rejected.select("*", error_type.alias("error_type"))


def apply_checks(decoded: DataFrame, checks: list[tuple[Column, str]]) -> DataFrame:
    """Add the first failed rule of `checks` (condition on the event's fields, reason) as the
    reject reason of events that decoded. A null condition counts as passing."""
    rule: Column | None = None
    for condition, reason in checks:
        cond = F.coalesce(condition, F.lit(False))
        rule = F.when(cond, F.lit(reason)) if rule is None else rule.when(cond, F.lit(reason))
    if rule is None:
        return decoded
    staged = decoded.select("*", rule.alias("_rule"))
    kept = [c for c in decoded.columns if c not in ("reject_reason", "error_type")]
    return staged.select(
        *kept,
        F.coalesce(F.col("reject_reason"), F.concat(F.lit("invalid: "), F.col("_rule"))).alias(
            "reject_reason"
        ),
        F.when(
            F.col("reject_reason").isNull() & F.col("_rule").isNotNull(), F.lit(VALIDATION_ERROR)
        )
        .otherwise(F.col("error_type"))
        .alias("error_type"),
    )


def dead_letter_struct(query_name: str) -> Column:
    """The `dead_letters` row of a rejected message (same fields as the DLQ topics' record)."""
    return F.struct(
        F.col("kafka_topic"),
        F.col("kafka_partition"),
        F.col("kafka_offset"),
        F.col("kafka_timestamp"),
        F.col("key"),
        F.col("value"),
        F.col("reject_reason").alias("reason"),
        F.col("error_type"),
        F.lit(query_name).alias("failed_by"),
        F.lit(None).cast("timestamp").alias("failed_at"),  # set by the writer (batch time)
    )


def describe(writers: WriterSchemas) -> dict[str, Any]:
    return {"subject": writers.subject, "schema_ids": sorted(writers.by_id)}
