"""Test support: one shared stack for all of Pants' parallel test processes.

Pants runs every test file in its own process. The first one that needs a component starts it
under an exclusive file lock; the others wait on the lock, then find it healthy and reuse it.
Tests isolate themselves with unique names (topics, databases, key prefixes) from `unique_name`.

Tests clean up what they start: components that were not running before a test started them are
stopped by a small reaper process once no test process has held a lease for `IDLE_SECONDS` (so
back-to-back runs still share them). Components someone started by hand (`stack up`) are never
stopped by tests.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from filelock import FileLock

from globalmart.core.settings import Settings, get_settings
from globalmart.stack import stack
from globalmart.stack.base import StackError, pid_alive

HOW_TO_START = "start it by hand with `./pants run :globalmart -- stack up` and look at its log"


class StackUnavailable(RuntimeError):
    pass


def ensure_running(names: Iterable[str], settings: Settings | None = None) -> Settings:
    """Make sure the named components are healthy, starting them (once, under a lock) if not."""
    settings = settings or get_settings()
    wanted = list(names)
    run_dir = settings.globalmart_state_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    _hold_lease(run_dir)
    components = stack.select(settings, wanted)
    if all(c.healthy() for c in components):
        return settings
    # Cold provisioning (apt, Maven, a Go build) can take several minutes on first use.
    with FileLock(
        str(run_dir / "stack.lock"), timeout=float(os.environ.get("GLOBALMART_STACK_WAIT", 1800))
    ):
        down = [c.name for c in components if not c.healthy()]
        try:
            stack.up(settings, wanted, _quiet)
        except StackError as error:
            raise StackUnavailable(f"{error}\n{HOW_TO_START}") from error
        _record_started(run_dir, down)
    # Outside the lock: a forked child would otherwise inherit (and hold) it.
    _ensure_reaper(settings, run_dir)
    return settings


# -- cleaning up what tests started -------------------------------------------------------------

IDLE_SECONDS = float(os.environ.get("GLOBALMART_TEST_STACK_IDLE", 180))
_LEASE_EVERY = 10.0
_lease_thread: threading.Thread | None = None


def _lease_file(run_dir: Path) -> Path:
    return run_dir / f"test-lease-{os.getpid()}"


def _hold_lease(run_dir: Path) -> None:
    """Touch this process's lease now and every few seconds while the test process lives."""
    global _lease_thread
    _lease_file(run_dir).touch()
    if _lease_thread is not None:
        return

    def renew() -> None:
        while True:
            time.sleep(_LEASE_EVERY)
            try:
                _lease_file(run_dir).touch()
            except OSError:
                return

    _lease_thread = threading.Thread(target=renew, name="stack-lease", daemon=True)
    _lease_thread.start()


def _record_started(run_dir: Path, names: list[str]) -> None:
    path = run_dir / "started-by-tests.json"
    started = set(json.loads(path.read_text())) if path.exists() else set()
    path.write_text(json.dumps(sorted(started | set(names))))


def _latest_lease(run_dir: Path) -> float:
    stamps = []
    for lease in run_dir.glob("test-lease-*"):
        try:
            stamps.append(lease.stat().st_mtime)
        except OSError:  # removed between listing and stat
            continue
    return max(stamps, default=0.0)


def _ensure_reaper(settings: Settings, run_dir: Path) -> None:
    """Fork one detached reaper (if none runs) that stops test-started components when idle."""
    pid_file = run_dir / "test-reaper.pid"
    if not (run_dir / "started-by-tests.json").exists():
        return  # nothing of ours to clean up
    try:
        if pid_alive(int(pid_file.read_text())):
            return
    except (OSError, ValueError):
        pass
    components = stack.all_components(settings)  # import everything before forking
    child = os.fork()
    if child != 0:
        os.waitpid(child, 0)  # the intermediate child exits at once; reap it
        return
    # Child: detach fully (double fork) so the test process can exit and its sandbox vanish.
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    # Drop every inherited descriptor: Pants waits for EOF on the test's stdout/stderr pipes, and
    # a daemon holding them would keep the finished test "running" until the reaper exits.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, 65536)
    log = open(settings.globalmart_state_dir / "logs" / "test-reaper.log", "a", buffering=1)
    try:
        os.chdir(settings.globalmart_state_dir)
        pid_file.write_text(str(os.getpid()))
        log.write(f"{_now()} reaper {os.getpid()} watching {run_dir}\n")
        while True:
            while time.time() - _latest_lease(run_dir) < IDLE_SECONDS:
                time.sleep(5)
            with FileLock(str(run_dir / "stack.lock"), timeout=600):
                if time.time() - _latest_lease(run_dir) < IDLE_SECONDS:
                    continue  # a test arrived meanwhile: keep watching
                started_path = run_dir / "started-by-tests.json"
                started = (
                    set(json.loads(started_path.read_text())) if started_path.exists() else set()
                )
                log.write(f"{_now()} idle for {IDLE_SECONDS:.0f}s: stopping {sorted(started)}\n")
                for component in reversed(components):
                    if component.name in started:
                        component.stop(lambda _m: None)
                started_path.unlink(missing_ok=True)
                for lease in run_dir.glob("test-lease-*"):
                    lease.unlink(missing_ok=True)
                pid_file.unlink(missing_ok=True)
                break
    finally:
        os._exit(0)


def _now() -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime())


def _quiet(message: str) -> None:
    print(f"[stack] {message}")


def unique_name(prefix: str) -> str:
    """A name no other test (or earlier run) uses: prefix plus a short random suffix."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
