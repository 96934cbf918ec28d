"""Catalog snapshots (users, products, categories, countries) for the dimensions.

The generator publishes them as files under <state>/data/reference/<entity>/ (Parquet or Avro
container files, one record per row, fields of the `reference` Avro schemas). Every snapshot ever
written may stay there: records carry `updated_at`, and the dimensions keep one version per change
(slowly changing, type 2). Without snapshots the dimensions still get a row for every id the
events mention (an inferred member, attributes `unknown`), completed once a snapshot arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from globalmart.warehouse.frames import table_schema
from globalmart.warehouse.hadoopfs import HadoopFS

ENTITIES = ("user", "product", "category", "country")


def load_reference(spark: SparkSession, root: str, entity: str) -> DataFrame | None:
    """Every snapshot record of `entity`, or None when there is none."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown reference entity {entity!r}: one of {ENTITIES}")
    folder = f"{root.rstrip('/')}/{entity}"
    fs = HadoopFS(spark, root)
    schema = table_schema(entity)
    frames = []
    if fs.glob(f"{folder}/*.parquet"):
        # The reader schema up front (no footer-merging job): extra columns (Kafka provenance)
        # are ignored, fields older files lack read as nulls.
        frames.append(
            spark.read.schema(schema).option("pathGlobFilter", "*.parquet").parquet(folder)
        )
    if fs.glob(f"{folder}/*.avro"):
        frames.append(spark.read.format("avro").option("pathGlobFilter", "*.avro").load(folder))
    if not frames:
        return None
    frame = (
        frames[0]
        if len(frames) == 1
        else frames[0].unionByName(frames[1], allowMissingColumns=True)
    )
    return frame.select(*[frame[f.name].cast(f.dataType).alias(f.name) for f in schema.fields])


def write_reference(
    spark: SparkSession, root: str, entity: str, records: Sequence[dict[str, Any]]
) -> None:
    """Append one snapshot (tests, demos; the generator writes its own)."""
    schema = table_schema(entity)
    rows = [tuple(r.get(f.name) for f in schema.fields) for r in records]
    spark.createDataFrame(rows, schema).coalesce(1).write.mode("append").parquet(
        f"{root.rstrip('/')}/{entity}"
    )
