"""FerretDB v1: the MongoDB wire protocol over SQLite, where run metrics are kept.

Built from source with Go, using only the Go module proxy: a throwaway module under
<state>/opt/ferretdb/build gets `go get -tool github.com/FerretDB/FerretDB/cmd/ferretdb@<v>` and
`go install`s the program into <state>/opt/ferretdb/bin.

One wrinkle: FerretDB's `build/version` package embeds a `version.txt` that only its release
tooling writes, and panics at start-up without it. The module zip from the proxy has none, so we
copy the module into the build dir, add `version.txt`, and point a `replace` directive at the copy.

Go's module and build caches are the user's defaults (GOPATH, GOCACHE), not the state folder:
module-cache files are read-only (a plain `rm -rf` of the state folder would fail for non-root
users) and a shared cache makes a rebuild in a fresh clone take seconds rather than minutes.

FerretDB v1 limits worth knowing (measured on 1.24.2 with SQLite): no TTL indexes (createIndexes
with expireAfterSeconds is refused with NotImplemented: retention is a periodic delete_many on an
indexed timestamp, or a capped collection); $group knows only $sum and $count, and with two
accumulators in one $group only the first is right (the others come back 0); no $lookup,
transactions or change streams.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from globalmart.core.settings import Settings
from globalmart.stack.base import Component, Progress, StackError, port_open, run_checked

FERRETDB_VERSION = "1.24.2"
MODULE = "github.com/FerretDB/FerretDB"
PROGRAM = f"{MODULE}/cmd/ferretdb"

_GO_FALLBACKS = (Path("/usr/local/go/bin/go"), Path("/usr/lib/go/bin/go"))
#: FerretDB 1.24's go.mod says `go 1.24`, and `go get -tool` is new in 1.24 too.
GO_MINIMUM = (1, 24)


def find_go() -> Path | None:
    on_path = shutil.which("go")
    if on_path:
        return Path(on_path)
    return next((p for p in _GO_FALLBACKS if p.exists()), None)


def _go_version(go: Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [str(go), "env", "GOVERSION"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"go(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


@contextmanager
def _heartbeat(progress: Progress, what: str, every: float = 30.0) -> Iterator[None]:
    """Say every `every` seconds that a long step is still running (a cold build takes minutes)."""
    done = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not done.wait(every):
            progress(f"{what}: still working ({time.monotonic() - started:.0f}s)")

    thread = threading.Thread(target=beat, name="ferretdb-build-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


class FerretDB(Component):
    name = "ferretdb"
    start_timeout = 30.0

    def __init__(self, settings: Settings, version: str = FERRETDB_VERSION) -> None:
        super().__init__(settings)
        self.wanted_version = version
        self._binary_version: str | None = None

    @property
    def host(self) -> str:
        return self.settings.mongo_host

    @property
    def port(self) -> int:
        return self.settings.mongo_port

    @property
    def metrics_port(self) -> int:
        """FerretDB's debug HTTP handler (Prometheus /debug/metrics, /debug/pprof, probes).

        0 (the default) turns it off: its own default is 127.0.0.1:8088, a port nobody gave us.
        """
        return self.settings.mongo_metrics_port

    @property
    def binary(self) -> Path:
        return self.opt_dir / "bin" / "ferretdb"

    @property
    def build_dir(self) -> Path:
        return self.opt_dir / "build"

    @property
    def sqlite_dir(self) -> Path:
        return self.data_dir / "sqlite"

    @property
    def version(self) -> str:
        return self.binary_version() or self.wanted_version

    def binary_version(self) -> str | None:
        """What `ferretdb --version` says (e.g. "1.24.2"), or None when there is no binary."""
        if self._binary_version is None and self.binary.exists():
            try:
                out = subprocess.run(
                    [str(self.binary), "--version"], capture_output=True, text=True, timeout=10
                ).stdout
            except (OSError, subprocess.TimeoutExpired):
                return None
            match = re.search(r"^version:\s*v?(\S+)", out, re.MULTILINE)
            self._binary_version = match.group(1) if match else None
        return self._binary_version

    # -- provisioning --------------------------------------------------------------------------
    def provisioned(self) -> bool:
        # A binary of another version (a bumped pin) is rebuilt.
        return self.binary.exists() and self.binary_version() == self.wanted_version

    def provision(self, progress: Progress) -> None:
        if self.provisioned():
            return
        go = find_go()
        have = _go_version(go) if go else None
        if go is None or have is None or have < GO_MINIMUM:
            found = f"found {'.'.join(map(str, have))}" if have else "none found"
            raise StackError(
                self.name,
                f"building FerretDB needs Go {'.'.join(map(str, GO_MINIMUM))}+ ({found})",
                "install a current Go and put `go` on PATH (bookworm's golang-go is too old)",
            )
        version = f"v{self.wanted_version}"
        build, staging = self.build_dir, self.opt_dir / "bin.tmp"
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
        build.mkdir(parents=True)
        env = {
            "GOBIN": str(staging),
            # Resolve and record requirements as needed (no vendor dir); no VCS stamping, since the
            # state folder usually sits inside the project's own git checkout.
            "GOFLAGS": "-mod=mod -buildvcs=false",
            # The installed Go even if a go.mod asks for a newer one: never download a toolchain.
            "GOTOOLCHAIN": "local",
            # FerretDB's SQLite driver (modernc.org/sqlite) is pure Go: a static binary, no gcc.
            "CGO_ENABLED": "0",
        }

        def go_run(*args: str, what: str, timeout: float = 900) -> str:
            return run_checked(
                [str(go), *args], self.name, what, env=env, cwd=build, timeout=timeout
            )

        started = time.monotonic()
        progress(f"{self.name}: building FerretDB {version} with {go} (first time: a few minutes)")
        go_run("mod", "init", "globalmart.local/ferretdb-build", what="go mod init")
        progress(f"{self.name}: fetching {MODULE}@{version} and its dependencies (Go module proxy)")
        with _heartbeat(progress, f"{self.name}: go get"):
            go_run("get", "-tool", f"{PROGRAM}@{version}", what="go get -tool")
        listed = go_run("list", "-m", "-f", "{{.Dir}}", MODULE, what="go list -m")
        module_dir = Path(listed.strip())
        self._patched_copy(module_dir, build / "src", version)
        go_run("mod", "edit", f"-replace={MODULE}=./src", what="go mod edit -replace")
        progress(f"{self.name}: compiling (cold: 2-4 minutes on 2 cores)")
        with _heartbeat(progress, f"{self.name}: go install"):
            go_run("install", "-trimpath", PROGRAM, what="go install", timeout=1800)
        built = staging / "ferretdb"
        if not built.exists():
            raise StackError(self.name, f"go install left no binary in {staging}")
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        # Moved into place whole, so a half-written binary is never taken for a finished one.
        os.replace(built, self.binary)
        shutil.rmtree(staging, ignore_errors=True)
        self._binary_version = None
        got = self.binary_version()
        if got != self.wanted_version:
            raise StackError(
                self.name,
                f"built binary reports version {got!r}, wanted {self.wanted_version}",
                f"see {build}",
            )
        progress(f"{self.name}: built FerretDB {got} in {time.monotonic() - started:.0f}s")

    @staticmethod
    def _patched_copy(module_dir: Path, dest: Path, version: str) -> None:
        """Copy the (read-only) module source and add the version file FerretDB's build expects."""
        shutil.copytree(module_dir, dest)
        for root, dirs, files in os.walk(dest):
            for entry in (*dirs, *files):
                path = Path(root) / entry
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        dest.chmod(dest.stat().st_mode | stat.S_IWUSR)
        version_dir = dest / "build" / "version"
        (version_dir / "version.txt").write_text(version + "\n")
        # Shown by --version and in buildInfo; says who built this binary.
        (version_dir / "package.txt").write_text("globalmart\n")

    # -- running -------------------------------------------------------------------------------
    def prepare(self, progress: Progress) -> None:
        # FerretDB wants the SQLite directory to exist; each database is one file in it.
        self.sqlite_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> tuple[Sequence[str], Mapping[str, str]]:
        debug_addr = f"{self.host}:{self.metrics_port}" if self.metrics_port else "-"
        argv = [
            str(self.binary),
            f"--listen-addr={self.host}:{self.port}",
            "--handler=sqlite",
            # A file: URI naming the directory that holds one SQLite file per database.
            f"--sqlite-url=file:{self.sqlite_dir}/",
            # Its state.json (instance UUID, telemetry choice) next to the data, not in the cwd.
            f"--state-dir={self.data_dir}",
            "--telemetry=disable",
            f"--debug-addr={debug_addr}",
            # Not "warn": v1 logs every failed command at WARN as a multi-line dump, and pymongo's
            # endSessions (unsupported) fails on every client close, health probes included.
            "--log-level=error",
            "--log-format=text",
        ]
        # DO_NOT_TRACK is FerretDB's second off switch for telemetry.
        return argv, {"DO_NOT_TRACK": "1"}

    def healthy(self) -> bool:
        # A closed port answers at once; server selection would wait out its whole timeout.
        if not port_open(self.host, self.port):
            return False
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, object]] = MongoClient(
            host=self.host,
            port=self.port,
            serverSelectionTimeoutMS=1500,
            connectTimeoutMS=1500,
            socketTimeoutMS=3000,
            directConnection=True,
        )
        try:
            return bool(client.admin.command("ping").get("ok"))
        except PyMongoError:
            return False
        finally:
            client.close()
