"""Private instances of Kafka, PostgreSQL (real-time) and the registry, for tests that restart or
stop them: the shared stack is never touched.

They are the stack's own components (globalmart.stack) with a copy of the settings: their own
state folder (under the shared one's data/, so the postgres user can reach it) and free ports.
The provisioned software (jars, the registry) is shared through a symlink to the shared opt/
folder: nothing is downloaded again. Stopped (and deleted) by `close`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import uuid
from pathlib import Path

from globalmart.core.ports import free_ports
from globalmart.core.settings import Settings
from globalmart.stack.apicurio import Apicurio
from globalmart.stack.base import Component, StatePaths, pid_alive
from globalmart.stack.kafka import Kafka
from globalmart.stack.postgres import Postgres


def reap_orphans(shared: Settings) -> list[str]:
    """Stop and delete private stacks whose test process died without cleaning up (a Pants
    retry or timeout kills it before its fixtures' finalizers run)."""
    reaped = []
    for root in (StatePaths(shared.globalmart_state_dir).data / "chaos").glob("*"):
        try:
            if pid_alive(int((root / "owner.pid").read_text())):
                continue
        except (OSError, ValueError):
            pass
        driver = root / "pipeline" / "run" / "stream.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(driver.read_text())
            if b"globalmart.stream.service" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.killpg(pid, signal.SIGKILL)
        orphan = shared.model_copy(update={"globalmart_state_dir": root})
        for component in (Kafka(orphan), Postgres(orphan, "realtime"), Apicurio(orphan)):
            with contextlib.suppress(Exception):
                component.stop(lambda _m: None)
        (root / "opt").unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        reaped.append(root.name)
    return reaped


class PrivateStack:
    def __init__(self, shared: Settings) -> None:
        self.reaped = reap_orphans(shared)
        shared_paths = StatePaths(shared.globalmart_state_dir)
        self.root = shared_paths.data / "chaos" / uuid.uuid4().hex[:8]
        self.root.mkdir(parents=True)
        (self.root / "owner.pid").write_text(str(os.getpid()))
        (self.root / "opt").symlink_to(shared_paths.opt, target_is_directory=True)
        kafka, controller, jmx, pg, registry, management = free_ports(6)
        self.settings = shared.model_copy(
            update={
                "globalmart_state_dir": self.root,
                "kafka_bootstrap_servers": f"localhost:{kafka}",
                "kafka_controller_port": controller,
                "kafka_jmx_exporter_port": jmx,
                "postgres_realtime_port": pg,
                "schema_registry_port": registry,
                "schema_registry_management_port": management,
                "schema_registry_storage": "mem",
            }
        )
        self.components: dict[str, Component] = {
            "kafka": Kafka(self.settings),
            "postgres-realtime": Postgres(self.settings, "realtime"),
            "apicurio": Apicurio(self.settings),
        }
        self.log: list[str] = []

    def start(self, *names: str) -> None:
        for name in names or tuple(self.components):
            try:
                self.components[name].start(self.log.append)
            except Exception as error:
                raise RuntimeError(
                    f"private {name} did not start: {error}\n{self.log_tail(name)}"
                ) from error

    def heal(self) -> list[str]:
        """Start whatever is down (a failed test may leave a service stopped); say what."""
        down = [name for name, c in self.components.items() if not c.healthy()]
        if down:
            self.start(*down)
        return down

    def stop(self, name: str) -> None:
        self.components[name].stop(self.log.append)

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def pid(self, name: str) -> int | None:
        return self.components[name].owned_pid()

    def close(self) -> None:
        for component in reversed(list(self.components.values())):
            try:
                component.stop(self.log.append)
            except Exception:  # noqa: BLE001 - stop the others too
                pass
        (self.root / "opt").unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path: Path = self.components[name].log_file
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
