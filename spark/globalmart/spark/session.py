"""One way to get a SparkSession, so every job and test runs Spark the same way.

The session reads the master, memory and state folder from Settings, so a job moves to a cluster
by configuration alone. Connector jars come from the state folder as local absolute paths (no
Maven or Ivy at run time, no paths relative to the working directory: works in a Pants sandbox).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark.sql import SparkSession

from globalmart.core.settings import Settings, get_settings
from globalmart.stack.base import StatePaths
from globalmart.stack.spark import check_pyspark_version, spark_jars, spark_java_home

#: Shuffle partitions: Spark's default 200 means 200 tiny tasks per shuffle on a 2-core machine.
DEFAULT_SHUFFLE_PARTITIONS = 4
_UTC_JVM = "-Duser.timezone=UTC"
#: Entries of Spark's cache of compiled code (default 100). The 5 stream queries plan every
#: micro-batch anew and need several hundred entries between them; with 100 each batch missed,
#: compiled its code again and loaded new classes, which kept the JIT compiler busy (about a
#: core here) and held `bench stream` at 2,000 events/s instead of 5,000.
CODEGEN_CACHE_ENTRIES = 2000


def get_spark(
    app_name: str,
    settings: Settings | None = None,
    *,
    ui: bool = False,
    shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS,
    log_level: str = "WARN",
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A SparkSession for `app_name`, configured from settings.

    `ui` turns on the Spark web UI (off by default: tests run many drivers in parallel and each
    would grab a port from 4040 up). `conf` adds or overrides Spark settings for one job.
    Like `SparkSession.builder.getOrCreate`, a second call in the same process returns the
    running session; static settings (memory, jars) only apply to the first.
    """
    settings = settings or get_settings()
    jars = spark_jars(settings)  # fails early, with the fix, when the stack was never provisioned
    check_pyspark_version()
    # pyspark launches the driver JVM from JAVA_HOME; pin one Spark supports (17/21) instead of
    # whatever `java` is first on PATH. spark_java_home() keeps a valid JAVA_HOME as it is.
    os.environ["JAVA_HOME"] = str(spark_java_home())

    spark_dir = StatePaths(settings.globalmart_state_dir).data / "spark"
    spark_dir.mkdir(parents=True, exist_ok=True)
    local = settings.spark_master_url.startswith("local")

    options: dict[str, str] = {
        "spark.jars": ",".join(str(jar) for jar in jars),
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.executor.memory": settings.spark_executor_memory,
        # Event times are UTC end to end: Spark SQL, the JVMs and thus Parquet/JDBC conversions.
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": _UTC_JVM,
        "spark.executor.extraJavaOptions": _UTC_JVM,
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.codegen.cache.maxEntries": str(CODEGEN_CACHE_ENTRIES),
        "spark.ui.enabled": str(ui).lower(),
        # Progress bars on stderr garble job and test logs.
        "spark.ui.showConsoleProgress": "false",
        # Default is ./spark-warehouse relative to the working directory (a sandbox, the repo).
        "spark.sql.warehouse.dir": str(spark_dir / "warehouse"),
    }
    if local:
        # Spark resolves the hostname before reading spark.driver.host and warns when it maps to
        # loopback; SPARK_LOCAL_IP answers that question up front.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        options.update(
            {
                # Loopback only: a laptop's hostname may not resolve, and nothing remote connects.
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                # Python workers must be this interpreter (this venv/pex), not `python3` on PATH.
                "spark.pyspark.python": sys.executable,
                "spark.pyspark.driver.python": sys.executable,
            }
        )
    options.update(conf or {})

    builder = SparkSession.builder.master(settings.spark_master_url).appName(app_name)
    for key, value in options.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    return spark
