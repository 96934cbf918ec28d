"""Spark's cache of compiled code holds what a stream driver replans every micro-batch.

With Spark's default of 100 entries, the 5 stream queries evicted each other's code every batch,
so every batch compiled and loaded new classes (and the JIT compiled them again). The session
from `get_spark` keeps CODEGEN_CACHE_ENTRIES: planning the same queries again loads no classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from globalmart.core.settings import Settings
from globalmart.spark.session import CODEGEN_CACHE_ENTRIES, get_spark

#: distinct queries, each compiling its own code: more than Spark's default cache holds
QUERIES = 150


@pytest.fixture(scope="module")
def spark(live_stack: Callable[..., Settings]) -> Iterator[SparkSession]:
    live_stack("spark")
    session = get_spark("codegen-cache-test")
    yield session
    session.stop()


def _loaded_classes(spark: SparkSession) -> int:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    classes = jvm.java.lang.management.ManagementFactory.getClassLoadingMXBean()
    return int(classes.getTotalLoadedClassCount())


def _run_all(spark: SparkSession) -> None:
    # A literal is compiled into the generated code, so each i is its own cache entry.
    for i in range(QUERIES):
        rows = spark.range(3).select((F.col("id") * F.lit(i + 2) + F.lit(i)).alias("x")).collect()
        assert [r.x for r in rows] == [i, 2 * i + 2, 3 * i + 4]


def test_replanned_queries_reuse_their_compiled_code(spark: SparkSession) -> None:
    assert spark.conf.get("spark.sql.codegen.cache.maxEntries") == str(CODEGEN_CACHE_ENTRIES)
    assert CODEGEN_CACHE_ENTRIES > QUERIES
    _run_all(spark)  # compiles every query's code once (and warms up Spark's own classes)
    _run_all(spark)
    before = _loaded_classes(spark)
    _run_all(spark)
    loaded = _loaded_classes(spark) - before
    # With the default cache every query is compiled again: at least one new class each.
    assert loaded < QUERIES // 3, f"{loaded} classes loaded replanning {QUERIES} known queries"
