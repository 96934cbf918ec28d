"""Redis: the gateway's cache, Debian's redis-server run with our own config in our data folder.

The Debian package ships a system service (/etc/redis/redis.conf, /var/lib/redis). We never use it:
the stack runs its own foreground redis-server on the configured port, so the pid we record is the
server and `stop` only ever touches that process.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from globalmart.stack.base import Component, Progress, StackError
from globalmart.stack.provision import install_quietly

PACKAGE = "redis-server"
SERVICE = "redis-server"
MAXMEMORY = "256mb"


class Redis(Component):
    name = "redis"
    start_timeout = 30.0

    @property
    def host(self) -> str:
        return self.settings.redis_host

    @property
    def port(self) -> int:
        return self.settings.redis_port

    @property
    def binary(self) -> Path | None:
        found = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        return Path(found) if found else None

    @property
    def config_file(self) -> Path:
        return self.data_dir / "redis.conf"

    @property
    def version(self) -> str:
        try:
            info = self._client().info("server")
            return str(info["redis_version"])
        except redis_py.RedisError:
            pass
        if self.binary is None:
            return "not installed"
        try:
            out = subprocess.run(
                [str(self.binary), "--version"], capture_output=True, text=True, timeout=30
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        match = re.search(r"v=(\S+)", out)
        return match.group(1) if match else "unknown"

    def provisioned(self) -> bool:
        return self.binary is not None

    def provision(self, progress: Progress) -> None:
        install_quietly(self.name, [PACKAGE], [SERVICE], progress)
        if self.binary is None:
            raise StackError(self.name, "redis-server not found after installing it")

    def prepare(self, progress: Progress) -> None:
        # Rewritten every start so .env changes (host, port) take effect.
        binds = _bind_addresses(self.host)
        text = "\n".join(
            [
                "# Written by the GlobalMart stack on every start; edit settings in .env instead.",
                # "-addr": bind it if the machine has it (e.g. ::1 without IPv6), skip otherwise.
                "bind " + " ".join([binds[0], *(f"-{a}" for a in binds[1:])]),
                "protected-mode yes",
                f"port {self.port}",
                "daemonize no",  # the stack supervises the foreground process (pid file, stop)
                "supervised no",
                'logfile ""',  # stdout: the stack's log file
                "loglevel notice",
                f"dir {self.data_dir}",
                # A cache: the gateway recomputes anything missing, so no snapshots, no AOF, no
                # fork-for-save pauses, and restarts start cold and clean.
                'save ""',
                "appendonly no",
                f"maxmemory {MAXMEMORY}",
                "maxmemory-policy allkeys-lru",
                "databases 16",
                "",
            ]
        )
        if not self.config_file.exists() or self.config_file.read_text() != text:
            self.config_file.write_text(text)

    def command(self) -> tuple[Sequence[str], Mapping[str, str]]:
        if self.binary is None:
            raise StackError(
                self.name, "redis-server is not installed", f"apt-get install {PACKAGE}"
            )
        return [str(self.binary), str(self.config_file)], {}

    def _client(self) -> redis_py.Redis:
        # No retries: redis-py's default backoff turns one refused probe into ~5 s of waiting.
        return redis_py.Redis(
            host=self.host,
            port=self.port,
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )

    def healthy(self) -> bool:
        try:
            with self._client() as client:
                return bool(client.ping())
        except redis_py.RedisError:
            return False


def _bind_addresses(host: str) -> list[str]:
    """redis `bind` takes addresses, not names: resolve ours (IPv4 first)."""
    if host in ("0.0.0.0", "*"):
        return ["*", "::*"]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return [host]  # let redis report the bad address in its log
    addrs: list[str] = []
    for family, *_rest, sockaddr in sorted(infos, key=lambda i: i[0] != socket.AF_INET):
        addr = str(sockaddr[0])
        if addr not in addrs:
            addrs.append(addr)
    return addrs or [host]


# -- Debian packages whose services auto-start -------------------------------------------------
