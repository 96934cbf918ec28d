"""Free TCP ports for the services tests and benches start on the fly.

They are picked below the kernel's ephemeral range. A port from that range is also what outgoing
connections are given, so while a service that a test restarts is down, any client socket on the
machine may take its port and the restart fails to bind. The band chosen is clear of every
default port in the settings (the highest is FerretDB's 27017).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
BAND_FLOOR = 28000


def ephemeral_low() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux's default if unknown)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def band() -> tuple[int, int]:
    """The ports to pick from: [floor, ceiling)."""
    ceiling = ephemeral_low()
    return (BAND_FLOOR if ceiling - BAND_FLOOR >= 1000 else 1024), ceiling


def free_ports(
    count: int,
    host: str = "127.0.0.1",
    attempts: int = 2000,
    among: tuple[int, int] | None = None,
) -> list[int]:
    """`count` distinct ports nothing on `host` is bound to now, outside the ephemeral range."""
    floor, ceiling = among or band()
    rng = random.SystemRandom()
    held: list[socket.socket] = []
    try:
        for _ in range(attempts):
            if len(held) == count:
                break
            sock = socket.socket()
            try:
                sock.bind((host, rng.randrange(floor, ceiling)))
            except OSError:
                sock.close()
                continue
            held.append(sock)
        if len(held) < count:
            raise OSError(f"found {len(held)} of {count} free ports in {floor}-{ceiling - 1}")
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]
