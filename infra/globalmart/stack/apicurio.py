"""Apicurio Registry: the schema registry every event and sink-table schema lives in.

Maven Central carries the runnable server as `io.apicurio:apicurio-registry-app:<v>:tar.gz:all`,
a Quarkus fast-jar (`java -jar quarkus-run.jar`). `mvn dependency:get`, with the plugins pinned by
`infra/jvm/apicurio/pom.xml`, puts it in the local Maven repository and we unpack it from there into
<state>/opt/apicurio/registry-<version>. 3.2+ needs Java 21+, so the Temurin JDK runs it; with only
Java 17 on the machine we fall back to 3.0.9. What was installed, and what was tried, is recorded
in <state>/opt/apicurio/installed.json.

Storage is in-memory H2 by default, or PostgreSQL with `schema_registry_storage=postgres`. In
memory, schemas vanish on stop and ids restart at 1: Kafka records written before a restart carry
ids that only mean the same schema again if everything is re-registered in the same order.

APIs: native `/apis/registry/v3`, Confluent-compatible `/apis/ccompat/v7` (what confluent-kafka's
SchemaRegistryClient and Avro serdes use), health on the management port (`/health/ready`).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from globalmart.core.settings import Settings
from globalmart.stack.base import Component, Progress, StackError, infra_file, run_checked
from globalmart.stack.provision import find_java_home


@dataclass(frozen=True)
class Release:
    version: str
    java_minimum: int


#: Tried in order: the newest we verified, its predecessor, then the last line that runs on Java 17.
RELEASES: tuple[Release, ...] = (
    Release("3.3.3", 21),
    Release("3.3.2", 21),
    Release("3.0.9", 17),
)

STORAGE_MEM = "mem"
STORAGE_POSTGRES = "postgres"
_STORAGE_KINDS = (STORAGE_MEM, STORAGE_POSTGRES)

_MARKER = "installed.json"
APP_GROUP = "io.apicurio"
APP_ARTIFACT = "apicurio-registry-app"
#: Maven prints colour codes even in batch mode with -q on some set-ups.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Probes talk to our own server: never through an http_proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _launcher(home: Path) -> Path | None:
    """The jar to run: a fast-jar's quarkus-run.jar (3.1+), or a legacy-jar's *-runner.jar (3.0)."""
    fast = home / "quarkus-run.jar"
    if fast.is_file():
        return fast
    return next(iter(sorted(home.glob("*-runner.jar"))), None)


class Apicurio(Component):
    name = "apicurio"
    # Measured 9-12 s to healthy on 2 cores (18 s beside a Go build); room for a busy CI machine.
    start_timeout = 120.0
    # Idles near 225 MB RSS with this heap; the registry holds schemas, not data.
    heap = "384m"

    def __init__(
        self,
        settings: Settings,
        storage: str | None = None,
        releases: Sequence[Release] = RELEASES,
    ) -> None:
        super().__init__(settings)
        # The setting does not exist in every Settings version yet: default to in-memory.
        chosen = storage or settings.schema_registry_storage
        chosen = chosen.strip().lower()
        if chosen not in _STORAGE_KINDS:
            raise StackError(
                self.name,
                f"unknown schema_registry_storage {chosen!r}",
                f"use one of: {', '.join(_STORAGE_KINDS)}",
            )
        self.storage = chosen
        self.releases = tuple(releases)
        self._live_version: str | None = None

    # -- where ---------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.settings.schema_registry_host

    @property
    def port(self) -> int:
        return self.settings.schema_registry_port

    @property
    def management_port(self) -> int:
        return self.settings.schema_registry_management_port

    def listening_ports(self) -> tuple[int, ...]:
        return (self.port, self.management_port)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pom(self) -> Path:
        return infra_file("jvm/apicurio/pom.xml")

    @property
    def marker(self) -> Path:
        return self.opt_dir / _MARKER

    def installed(self) -> dict[str, object] | None:
        """What provision() recorded: version, java_minimum, home, pom digest, attempts."""
        try:
            data = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not {"version", "java_minimum", "home"} <= data.keys():
            return None
        return data

    def installed_release(self) -> Release | None:
        data = self.installed()
        if not data:
            return None
        return Release(str(data["version"]), int(str(data["java_minimum"])))

    @property
    def app_dir(self) -> Path | None:
        data = self.installed()
        return Path(str(data["home"])) if data else None

    @property
    def version(self) -> str:
        # The running server's own word first; else what is installed; else what we would install.
        if self._live_version:
            return self._live_version
        release = self.installed_release()
        return release.version if release else self.releases[0].version

    # -- provisioning --------------------------------------------------------------------------
    def _pom_digest(self) -> str:
        return hashlib.sha256(self.pom.read_bytes()).hexdigest()

    def provisioned(self) -> bool:
        data = self.installed()
        if not data or self.app_dir is None:
            return False
        # The same pom and a still-complete unpack; the installed release must be one we want.
        wanted = {r.version for r in self.releases}
        return (
            data.get("pom_sha256") == self._pom_digest()
            and data.get("version") in wanted
            and _launcher(self.app_dir) is not None
        )

    def provision(self, progress: Progress) -> None:
        if self.provisioned():
            return
        if not self.pom.exists():
            raise StackError(self.name, f"missing {self.pom}", "run from a GlobalMart checkout")
        mvn = shutil.which("mvn")
        if not mvn:
            raise StackError(self.name, "Maven (mvn) is not installed", "apt-get install maven")
        self.opt_dir.mkdir(parents=True, exist_ok=True)
        attempts: list[str] = []
        for release in self.releases:
            try:
                find_java_home(self.name, minimum=release.java_minimum)
            except StackError:
                attempts.append(f"{release.version}: no Java {release.java_minimum}+ JDK")
                progress(
                    f"{self.name}: skipping {release.version} (needs Java "
                    f"{release.java_minimum}+, none found)"
                )
                continue
            try:
                home = self._fetch_and_unpack(mvn, release, progress)
            except StackError as error:
                attempts.append(f"{release.version}: {error.problem}")
                progress(f"{self.name}: {release.version} failed ({error.problem}); next one")
                continue
            attempts.append(f"{release.version}: ok")
            self.marker.write_text(
                json.dumps(
                    {
                        "version": release.version,
                        "java_minimum": release.java_minimum,
                        "home": str(home),
                        "pom_sha256": self._pom_digest(),
                        "attempts": attempts,
                    },
                    indent=2,
                )
                + "\n"
            )
            progress(f"{self.name}: installed Apicurio Registry {release.version}")
            return
        raise StackError(
            self.name,
            "no Apicurio Registry release could be installed: " + "; ".join(attempts),
            "check Maven Central access (mvn -B dependency:get) and the JDKs in /usr/lib/jvm",
        )

    def _mvn(self, mvn: str, *args: str, what: str) -> str:
        out = run_checked(
            [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(self.pom), *args],
            self.name,
            what,
            timeout=1800,
        )
        return _ANSI.sub("", out)

    def _local_repository(self, mvn: str) -> Path:
        # Asked rather than assumed: settings.xml or MAVEN_OPTS may move it from ~/.m2/repository.
        out = self._mvn(
            mvn,
            "help:evaluate",
            "-Dexpression=settings.localRepository",
            "-DforceStdout",
            what="mvn help:evaluate settings.localRepository",
        ).strip()
        return Path(out.splitlines()[-1].strip()) if out else Path.home() / ".m2" / "repository"

    def _fetch_and_unpack(self, mvn: str, release: Release, progress: Progress) -> Path:
        coords = f"{APP_GROUP}:{APP_ARTIFACT}:{release.version}:tar.gz:all"
        progress(f"{self.name}: fetching {coords} from Maven Central (~160 MB)")
        # Without transitives (the pom pins plugin 2.8: it needs no parent pom, some are unserved);
        # -U so a failure Maven cached during a network hiccup is retried rather than replayed.
        self._mvn(
            mvn,
            "-U",
            "dependency:get",
            f"-Dartifact={coords}",
            "-Dtransitive=false",
            what=f"mvn dependency:get {coords}",
        )
        tarball = (
            self._local_repository(mvn)
            / APP_GROUP.replace(".", "/")
            / APP_ARTIFACT
            / release.version
            / f"{APP_ARTIFACT}-{release.version}-all.tar.gz"
        )
        if not tarball.is_file():
            raise StackError(self.name, f"mvn reported success but {tarball} is missing")
        home = self.opt_dir / f"registry-{release.version}"
        tmp = home.with_name(home.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        progress(f"{self.name}: unpacking {tarball.name}")
        try:
            with tarfile.open(tarball) as archive:
                # "data" refuses absolute paths, links out of the tree and device files.
                archive.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as error:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StackError(self.name, f"unpacking {tarball} failed: {error}")
        if _launcher(tmp) is None:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StackError(self.name, f"{tarball.name} holds no quarkus-run.jar or *-runner.jar")
        shutil.rmtree(home, ignore_errors=True)
        tmp.rename(home)
        return home

    # -- running -------------------------------------------------------------------------------
    def _java(self, release: Release) -> Path:
        return find_java_home(self.name, minimum=release.java_minimum) / "bin" / "java"

    def postgres_jdbc(self) -> tuple[str, str, str]:
        """JDBC url, user, password of the registry's own database on the warehouse server."""
        s = self.settings
        database = s.schema_registry_db
        host, port = s.postgres_warehouse_host, s.postgres_warehouse_port
        url = f"jdbc:postgresql://{host}:{port}/{database}"
        return url, s.postgres_writer_user, s.postgres_writer_password

    def storage_env(self) -> dict[str, str]:
        if self.storage == STORAGE_POSTGRES:
            url, user, password = self.postgres_jdbc()
            return {
                "APICURIO_STORAGE_KIND": "sql",
                "APICURIO_STORAGE_SQL_KIND": "postgresql",
                "APICURIO_DATASOURCE_URL": url,
                "APICURIO_DATASOURCE_USERNAME": user,
                "APICURIO_DATASOURCE_PASSWORD": password,
                # The default pool opens 20 connections at start: too many for a shared dev server.
                "APICURIO_DATASOURCE_JDBC_INITIAL_SIZE": "2",
                "APICURIO_DATASOURCE_JDBC_MIN_SIZE": "2",
                "APICURIO_DATASOURCE_JDBC_MAX_SIZE": "10",
            }
        # In-memory H2 (the built-in default, spelled out so an inherited env cannot change it).
        return {"APICURIO_STORAGE_KIND": "sql", "APICURIO_STORAGE_SQL_KIND": "h2"}

    def prepare(self, progress: Progress) -> None:
        if self.storage != STORAGE_POSTGRES:
            return
        # Fail with a clear message now rather than after the registry's own retry loop (~1 min).
        import psycopg  # only needed for this storage mode

        s = self.settings
        url, user, password = self.postgres_jdbc()
        database = url.rsplit("/", 1)[1]
        try:
            psycopg.connect(
                host=s.postgres_warehouse_host,
                port=s.postgres_warehouse_port,
                dbname=database,
                user=user,
                password=password,
                connect_timeout=5,
            ).close()
        except psycopg.OperationalError as error:
            raise StackError(
                self.name,
                f"cannot reach its PostgreSQL database {database!r} at "
                f"{s.postgres_warehouse_host}:{s.postgres_warehouse_port}: "
                f"{str(error).strip().splitlines()[0]}",
                f"start postgres-warehouse and create {database!r} owned by {user!r}",
            ) from error

    def _gateway_origins(self) -> list[str]:
        port = self.settings.api_port
        hosts = dict.fromkeys([self.settings.api_host, "localhost", "127.0.0.1"])
        return [f"http://{host}:{port}" for host in hosts if host not in ("0.0.0.0", "::")]

    def after_start(self, progress: Progress) -> None:
        """Register every contract with its rules (in-memory storage forgets them on restart)."""
        from globalmart.schemas.catalog import load_catalog
        from globalmart.schemas.policy import load_policy
        from globalmart.schemas.registry import Registry, RegistryError, register_all

        try:
            with Registry.from_settings(self.settings) as registry:
                done = register_all(registry, load_catalog(), load_policy())
        except RegistryError as error:
            raise StackError(self.name, f"registering the schemas failed: {error}")
        created = sum(1 for item in done if item.status == "created")
        if created:
            progress(f"{self.name}: registered {created} schema version(s)")

    def command(self) -> tuple[Sequence[str], Mapping[str, str]]:
        release = self.installed_release()
        home = self.app_dir
        jar = _launcher(home) if home else None
        if release is None or jar is None:
            raise StackError(self.name, "not provisioned", "run `globalmart stack up apicurio`")
        java = self._java(release)
        argv = [
            str(java),
            f"-Xmx{self.heap}",
            "-Xms64m",
            # One small heap on 2 cores: the serial collector has the smallest footprint.
            "-XX:+UseSerialGC",
            "-XX:+ExitOnOutOfMemoryError",
            # No dynamic CDS archive: Quarkus loads the app through its own class loader, which
            # CDS skips, so an archive measured no faster and cost 80 MB and a slow stop.
            "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
            "-Djava.awt.headless=true",
            "-jar",
            str(jar),
        ]
        env = {
            "QUARKUS_HTTP_HOST": self.host,
            "QUARKUS_HTTP_PORT": str(self.port),
            "QUARKUS_MANAGEMENT_HOST": self.host,
            "QUARKUS_MANAGEMENT_PORT": str(self.management_port),
            "QUARKUS_PROFILE": "prod",
            # Logs go to stdout (our log file); the shipped format has a typo (YYYY-MMx-dd).
            "QUARKUS_LOG_CONSOLE_FORMAT": "%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%c{2.}] %s%e%n",
            "QUARKUS_BANNER_ENABLED": "false",
            # One line per HTTP request would drown the log: every serde lookup is a request.
            "QUARKUS_HTTP_ACCESS_LOG_ENABLED": "false",
            # Nothing leaves the machine: no OpenTelemetry export, usage telemetry or auth server.
            "QUARKUS_OTEL_SDK_DISABLED": "true",
            "APICURIO_USAGE_TELEMETRY_ENABLED": "false",
            "QUARKUS_OIDC_TENANT_ENABLED": "false",
            "APICURIO_AUTHN_BASIC_CLIENT_CREDENTIALS_ENABLED": "false",
            # Import/snapshot scratch space inside our state dir rather than the shared /tmp.
            "APICURIO_STORAGE_SNAPSHOT_LOCATION": str(self.data_dir),
            "APICURIO_IMPORT_WORK_DIR": str(self.data_dir),
            # Our gateway's pages may call it from a browser; the shipped default allows :8888 only.
            "QUARKUS_HTTP_CORS_ORIGINS": ",".join(self._gateway_origins()),
            # Tests and the registry check register scratch artifacts: let them clean up.
            "APICURIO_REST_DELETION_GROUP_ENABLED": "true",
            "APICURIO_REST_DELETION_ARTIFACT_ENABLED": "true",
            "APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED": "true",
            **self.storage_env(),
        }
        # A JAVA_HOME of another major version would only confuse child tools; point it at ours.
        env["JAVA_HOME"] = str(java.parent.parent)
        return argv, env

    def system_info(self, timeout: float = 2.0) -> dict[str, object] | None:
        """GET /apis/registry/v3/system/info, or None when the registry does not answer 200."""
        url = f"{self.base_url}/apis/registry/v3/system/info"
        try:
            with _DIRECT.open(url, timeout=timeout) as response:
                if response.status != 200:
                    return None
                data = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def healthy(self) -> bool:
        info = self.system_info()
        if info is None:
            return False
        self._live_version = str(info.get("version") or "") or None
        return True

    def ready(self, timeout: float = 2.0) -> bool:
        """Quarkus readiness (storage reachable): management port on 3.1+, main port on 3.0."""
        for port in (self.management_port, self.port):
            url = f"http://{self.host}:{port}/health/ready"
            try:
                with _DIRECT.open(url, timeout=timeout) as response:
                    return bool(response.status == 200)
            except urllib.error.HTTPError:
                return False  # it answered: not ready (503 while storage is down)
            except (urllib.error.URLError, OSError):
                continue
        return False
