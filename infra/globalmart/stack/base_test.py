"""The component lifecycle with real processes: start, reuse, stop, and every explained failure."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from globalmart.core.ports import free_port
from globalmart.core.settings import Settings
from globalmart.stack.base import Component, StackError, pid_alive, port_open


class HttpServer(Component):
    """A real (tiny) service: Python's http.server on a port of our choosing."""

    name = "toy-http"
    start_timeout = 20.0

    def __init__(self, settings: Settings, port: int, argv: Sequence[str] | None = None) -> None:
        super().__init__(settings)
        self._port = port
        self._argv = argv

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._port

    @property
    def version(self) -> str:
        return "1"

    def healthy(self) -> bool:
        # A protocol probe, not just an open port: a foreign listener must not look like us.
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self._port}/", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def command(self) -> tuple[Sequence[str], Mapping[str, str]]:
        argv = self._argv or [
            sys.executable,
            "-m",
            "http.server",
            str(self._port),
            "--bind",
            "127.0.0.1",
        ]
        return argv, {}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    state = tmp_path / "state"
    return Settings(_env_file=None, globalmart_state_dir=state)  # type: ignore[call-arg]


def test_start_reuse_stop(settings: Settings) -> None:
    messages: list[str] = []
    toy = HttpServer(settings, free_port())
    toy.start(messages.append)
    try:
        status = toy.status()
        assert status.healthy and status.pid is not None and pid_alive(status.pid)
        toy.start(messages.append)
        assert toy.status().pid == status.pid
        assert any("already running" in m for m in messages)
    finally:
        toy.stop(messages.append)
    assert not pid_alive(status.pid)
    assert not port_open("127.0.0.1", toy.port)
    assert not toy.pid_file.exists()
    assert toy.status().healthy is False


def test_port_taken_by_someone_else_is_explained_and_left_alone(settings: Settings) -> None:
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        toy = HttpServer(settings, port)
        # Something on our port that we did not start: no pid of ours, and stop leaves it alone.
        assert toy.status().pid is None
        toy.stop(lambda _m: None)
        assert port_open("127.0.0.1", port)
        with pytest.raises(StackError) as error:
            toy.start(lambda _m: None)
        assert "taken" in str(error.value)


def test_not_healthy_in_time_is_explained(settings: Settings) -> None:
    toy = HttpServer(settings, free_port(), argv=["sleep", "30"])
    toy.start_timeout = 1.5
    with pytest.raises(StackError, match=r"not healthy within 2s"):
        toy.start(lambda _m: None)
    toy.stop(lambda _m: None)
    assert toy.owned_pid() is None


def test_exit_during_start_is_explained(settings: Settings) -> None:
    toy = HttpServer(settings, free_port(), argv=["false"])
    with pytest.raises(StackError, match="exited during start-up") as error:
        toy.start(lambda _m: None)
    assert str(toy.log_file) in str(error.value)


# A service whose main thread exits on SIGTERM while another thread keeps serving for a while,
# as a JVM's threads outlive its launcher thread: the process is not gone, nor its port free.
LINGERING = """
import ctypes, http.server, os, platform, signal, sys, threading, time
handler = http.server.SimpleHTTPRequestHandler
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
def linger():
    time.sleep(2)
    os._exit(0)
def on_term(*_):
    threading.Thread(target=linger).start()
    ctypes.CDLL(None).syscall({"x86_64": 60, "aarch64": 93}[platform.machine()], 0)
signal.signal(signal.SIGTERM, on_term)
signal.pause()
"""


def test_a_process_whose_main_thread_exited_first_is_alive_until_its_last_thread(
    settings: Settings,
) -> None:
    port = free_port()
    toy = HttpServer(settings, port, argv=[sys.executable, "-c", LINGERING, str(port)])
    toy.start(lambda _m: None)
    pid = toy.owned_pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    with open(f"/proc/{pid}/status") as status:
        assert "State:\tZ" in status.read()  # what ps shows as <defunct> ...
    assert pid_alive(pid) and port_open("127.0.0.1", port)  # ... yet it still serves
    toy.stop(lambda _m: None)
    # stop waits for the last thread and the port: a restart right away binds it
    assert not pid_alive(pid)
    assert not port_open("127.0.0.1", port)
    toy.start(lambda _m: None)
    toy.stop(lambda _m: None)
