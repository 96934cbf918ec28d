"""The Spark runtime: not a server but what every Spark job needs on disk and on the machine.

Jobs run `local[*]` inside their own driver process (pyspark starts the JVM), or against a cluster
named by SPARK_MASTER_URL. Either way the driver needs a Java 17/21 JDK and the connector jars
pyspark does not ship (Kafka, Avro), resolved once from `infra/jvm/spark/pom.xml` into
<state>/opt/spark/jars. `start` provisions and checks; there is no process to run or stop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from globalmart.core.settings import Settings
from globalmart.stack.base import (
    Component,
    ComponentStatus,
    Progress,
    StackError,
    StatePaths,
    repo_root,
)
from globalmart.stack.provision import find_java_home, maven_copy_dependencies

#: pyspark on PyPI and the connector jars in infra/jvm/spark/pom.xml must be this same version.
PYSPARK_VERSION = "4.1.1"
#: Spark 4.1 runs on Java 17 and 21; newer JDKs (the Temurin 25 beside it) are not supported.
JAVA_MIN, JAVA_MAX = 17, 21

_MARKER = ".pom.sha256"


def jars_dir(settings: Settings) -> Path:
    return StatePaths(settings.globalmart_state_dir).opt / "spark" / "jars"


def spark_jars(settings: Settings) -> list[Path]:
    """Absolute paths of the connector jars, for `spark.jars`; raises StackError if not provisioned.

    Only the state folder is read (no repo paths), so this also works inside a Pants sandbox.
    """
    folder = jars_dir(settings)
    jars = sorted(folder.glob("*.jar")) if (folder / _MARKER).exists() else []
    if not jars:
        raise StackError(
            "spark",
            f"connector jars are missing in {folder}",
            "run `globalmart stack start spark` (or `globalmart stack start`) once",
        )
    return jars


@lru_cache(maxsize=1)
def spark_java_home() -> Path:
    """A JDK Spark supports: JAVA_HOME if it qualifies, else one from the system JVM folders."""
    return find_java_home("spark", minimum=JAVA_MIN, maximum=JAVA_MAX)


def check_pyspark_version() -> None:
    """Fail clearly when the installed pyspark does not match the connector jars' version.

    A mismatch otherwise shows up later as NoSuchMethodError deep inside a Kafka read. Without
    pyspark installed (e.g. the CLI's own environment) there is nothing to compare.
    """
    try:
        installed = metadata.version("pyspark")
    except metadata.PackageNotFoundError:
        return
    if installed != PYSPARK_VERSION:
        raise StackError(
            "spark",
            f"pyspark {installed} is installed but the connector jars are for {PYSPARK_VERSION}",
            f"install pyspark=={PYSPARK_VERSION} (3rdparty/python/requirements.txt)",
        )


def _pom() -> Path:
    beside = Path(__file__).resolve().parents[2] / "jvm" / "spark" / "pom.xml"
    return beside if beside.exists() else repo_root() / "infra" / "jvm" / "spark" / "pom.xml"


class SparkRuntime(Component):
    name = "spark"

    @property
    def _master(self) -> tuple[str, int]:
        # "local[*]" runs in the driver; "spark://host:7077" (or k8s://, yarn) names a cluster.
        url = self.settings.spark_master_url
        if url.startswith("local"):
            return "local", 0
        parts = urlsplit(url)
        return parts.hostname or url, parts.port or 0

    @property
    def host(self) -> str:
        return self._master[0]

    @property
    def port(self) -> int:
        return self._master[1]

    @property
    def version(self) -> str:
        return PYSPARK_VERSION

    @property
    def jars_dir(self) -> Path:
        return jars_dir(self.settings)

    def _pom_digest(self) -> str:
        return hashlib.sha256(_pom().read_bytes()).hexdigest()

    def provisioned(self) -> bool:
        # The marker holds the pom's hash: a Spark version bump in the pom re-resolves the jars.
        try:
            return (self.jars_dir / _MARKER).read_text().strip() == self._pom_digest()
        except OSError:
            return False

    def provision(self, progress: Progress) -> None:
        if self.provisioned():
            return
        pom = _pom()
        if not pom.exists():
            raise StackError(self.name, f"missing {pom}", "run from a GlobalMart checkout")
        self.jars_dir.parent.mkdir(parents=True, exist_ok=True)
        maven_copy_dependencies(self.name, pom, self.jars_dir, progress)
        (self.jars_dir / _MARKER).write_text(self._pom_digest())

    def command(self) -> tuple[Sequence[str], Mapping[str, str]]:
        raise NotImplementedError("Spark has no stack process: each job's driver starts its JVM")

    def start(self, progress: Progress) -> None:
        self.paths.ensure()
        if not self.provisioned():
            self.provision(progress)
        java_home = spark_java_home()
        check_pyspark_version()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        progress(
            f"{self.name}: ready ({len(spark_jars(self.settings))} connector jars, "
            f"JDK {java_home}, master {self.settings.spark_master_url})"
        )

    def stop(self, progress: Progress, timeout: float = 30.0) -> None:
        """Nothing to stop: drivers belong to the jobs that started them."""

    def healthy(self) -> bool:
        return self._problem() is None

    def _problem(self) -> str | None:
        try:
            spark_jars(self.settings)
            spark_java_home()
            check_pyspark_version()
        except StackError as exc:
            return exc.problem
        return None

    def status(self) -> ComponentStatus:
        problem = self._problem()
        return ComponentStatus(
            name=self.name,
            healthy=problem is None,
            host=self.host,
            port=self.port,
            version=self.version,
            pid=None,
            detail=problem or f"master {self.settings.spark_master_url}",
        )
