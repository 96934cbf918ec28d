"""What every stack component is: provision once, start detached, check health, stop what we own.

Each component keeps its files in the state folder:
  <state>/opt/<name>/...   provisioned software (jars, builds, tarballs)
  <state>/data/<name>/...  data folders
  <state>/logs/<name>.log  its log
  <state>/run/<name>.pid   pid of the process the stack started (nothing else is ever stopped)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from globalmart.core.settings import Settings

Progress = Callable[[str], None]


class StackError(RuntimeError):
    """A failure explained in one line, with what to do about it."""

    def __init__(self, component: str, problem: str, hint: str = "") -> None:
        self.component, self.problem, self.hint = component, problem, hint
        super().__init__(f"{component}: {problem}" + (f" — {hint}" if hint else ""))


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    healthy: bool
    host: str
    port: int
    version: str
    pid: int | None
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def opt(self) -> Path:
        return self.root / "opt"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    def ensure(self) -> None:
        for path in (self.opt, self.data, self.logs, self.run):
            path.mkdir(parents=True, exist_ok=True)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone. But a thread group whose leader
    # thread exited first also shows "Z" while its other threads (a JVM's) still run and hold
    # its sockets: gone only once the leader is the last thread left.
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
    except OSError:
        return True
    return not (
        fields.get("State", "").strip().startswith("Z")
        and fields.get("Threads", "1").strip() == "1"
    )


def repo_root() -> Path:
    """The repository root (where infra/ lives), also from inside a Pants sandbox."""
    env = os.environ.get("GLOBALMART_REPO_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pants.toml").exists():
            return parent
    return Path.cwd()


def infra_file(relative: str) -> Path:
    """A file shipped under infra/: beside this package (also in a sandbox), else in the repo."""
    beside = Path(__file__).resolve().parents[2] / relative
    return beside if beside.exists() else repo_root() / "infra" / relative


class Component(ABC):
    """One service of the stack. Subclasses fill in provisioning, the command and a health probe."""

    name: str = ""
    #: seconds to wait for health after start
    start_timeout: float = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = StatePaths(settings.globalmart_state_dir)

    # -- what subclasses provide -------------------------------------------------------------
    @property
    @abstractmethod
    def host(self) -> str:
        ...

    @property
    @abstractmethod
    def port(self) -> int:
        ...

    @property
    @abstractmethod
    def version(self) -> str:
        ...

    def provisioned(self) -> bool:
        """True when everything `start` needs is on disk."""
        return True

    def provision(self, progress: Progress) -> None:
        """Fetch/build/install what is missing (idempotent)."""

    @abstractmethod
    def command(self) -> tuple[Sequence[str], Mapping[str, str]]:
        """The foreground command that runs the service, and extra environment."""

    def prepare(self, progress: Progress) -> None:
        """One-time data set-up before the first start (e.g. initdb, storage format)."""

    def healthy(self) -> bool:
        """A real probe of the service (default: its port accepts connections)."""
        return port_open(self.host, self.port)

    def after_start(self, progress: Progress) -> None:
        """Work once healthy (create topics, roles, ...); must be idempotent."""

    def listening_ports(self) -> tuple[int, ...]:
        """Every port the process binds (a restart needs them all free again)."""
        return (self.port,)

    # -- shared mechanics --------------------------------------------------------------------
    @property
    def opt_dir(self) -> Path:
        return self.paths.opt / self.name

    @property
    def data_dir(self) -> Path:
        return self.paths.data / self.name

    @property
    def log_file(self) -> Path:
        return self.paths.logs / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.paths.run / f"{self.name}.pid"

    def owned_pid(self) -> int | None:
        """The pid we started, if it is still alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def status(self) -> ComponentStatus:
        healthy = self.healthy()
        return ComponentStatus(
            name=self.name,
            healthy=healthy,
            host=self.host,
            port=self.port,
            version=self.version,
            pid=self.owned_pid(),
            detail="" if healthy else "not responding",
        )

    def start(self, progress: Progress) -> None:
        """Start the service unless it already runs; wait until healthy or explain why not."""
        self.paths.ensure()
        if self.healthy():
            progress(f"{self.name}: already running")
            self.after_start(progress)
            return
        # Every port, not just the main one: a port taken under a JVM's agent or a second
        # listener kills the process at start instead of failing here with a reason.
        taken = [port for port in self.listening_ports() if port_open(self.host, port)]
        if self.owned_pid() is None and taken:
            raise StackError(
                self.name,
                f"port {taken[0]} on {self.host} is taken by another process",
                "stop it, or set a free port in .env (see .env.example)",
            )
        if not self.provisioned():
            self.provision(progress)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.prepare(progress)
        if self.owned_pid() is None:
            argv, env = self.command()
            progress(f"{self.name}: starting")
            self._spawn(argv, env)
        self.wait_healthy(progress)
        self.after_start(progress)

    def _spawn(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        full_env = {**os.environ, **env}
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - argv built by us, no shell
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=str(self.data_dir),
                start_new_session=True,  # outlives the CLI; our own process group to stop
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def wait_healthy(self, progress: Progress) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.healthy():
                progress(f"{self.name}: healthy on {self.host}:{self.port}")
                return
            if self.pid_file.exists() and self.owned_pid() is None:
                raise StackError(
                    self.name,
                    "exited during start-up",
                    f"see the last lines of {self.log_file}",
                )
            time.sleep(0.5)
        raise StackError(
            self.name,
            f"not healthy within {self.start_timeout:.0f}s",
            f"see {self.log_file}; `globalmart stack logs {self.name}`",
        )

    def stop(self, progress: Progress, timeout: float = 30.0) -> None:
        """Stop the process we started (SIGTERM, then SIGKILL); never touches anything else."""
        pid = self.owned_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        progress(f"{self.name}: stopping (pid {pid})")
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.2)
        if pid_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pid_file.unlink(missing_ok=True)
        # The kernel frees the sockets a moment after the process is gone; a start right after
        # the stop (a restart) would find them taken.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            port_open(self.host, port, timeout=0.2) for port in self.listening_ports()
        ):
            time.sleep(0.2)

    def reset(self, progress: Progress) -> None:
        """Delete this component's data (it must be stopped)."""
        if self.data_dir.exists():
            progress(f"{self.name}: deleting {self.data_dir}")
            shutil.rmtree(self.data_dir)


def _signal_group(pid: int, sig: int) -> None:
    # We started each service as the leader of its own session, so its group id is its pid.
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def run_checked(
    argv: Sequence[str],
    component: str,
    what: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1800,
) -> str:
    """Run a set-up command; on failure raise a StackError with the tail of its output."""
    try:
        result = subprocess.run(  # noqa: S603
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            cwd=str(cwd) if cwd else None,
        )
    except FileNotFoundError:
        raise StackError(component, f"{what}: `{argv[0]}` is not installed", f"install {argv[0]}")
    except subprocess.TimeoutExpired:
        raise StackError(component, f"{what}: timed out after {timeout:.0f}s")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise StackError(component, f"{what} failed (exit {result.returncode})", tail)
    return result.stdout
