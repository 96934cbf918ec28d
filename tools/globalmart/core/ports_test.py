import socket

import pytest

from globalmart.core import ports


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    picked = ports.free_ports(20)
    assert len(set(picked)) == 20
    assert all(ports.BAND_FLOOR <= p < ports.ephemeral_low() for p in picked)
    for port in picked:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def _two_adjacent_free() -> int:
    for _ in range(100):
        port = ports.free_port()
        if port + 1 < ports.ephemeral_low() and ports.free_ports(1, among=(port + 1, port + 2)):
            return port
    raise AssertionError("no two adjacent free ports")


def test_a_bound_port_is_never_picked() -> None:
    port = _two_adjacent_free()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        # a band of two ports, one taken: only the other comes out, and there is no second
        among = (port, port + 2)
        assert {ports.free_ports(1, among=among)[0] for _ in range(20)} == {port + 1}
        with pytest.raises(OSError, match="found 1 of 2 free ports"):
            ports.free_ports(2, among=among, attempts=50)


def test_the_ephemeral_floor_is_read_from_the_kernel(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "range"
    fake.write_text("40000\t60999\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", fake)
    assert ports.ephemeral_low() == 40000
    fake.write_text("garbage")
    assert ports.ephemeral_low() == 32768
