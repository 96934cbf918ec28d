from __future__ import annotations

import asyncio

from globalmart.gateway.freshness import RecentRead


class Reads:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> int:
        self.count += 1
        await asyncio.sleep(0.01)
        return self.count


def test_concurrent_callers_share_one_read_and_later_callers_read_again() -> None:
    reads = Reads()
    recent = RecentRead(reads)

    async def scenario() -> tuple[list[int], int]:
        together = await asyncio.gather(*(recent() for _ in range(5)))
        return list(together), await recent()

    together, later = asyncio.run(scenario())
    assert together == [1] * 5 and later == 2 and reads.count == 2


def test_a_window_reuses_a_recent_read_then_expires() -> None:
    reads = Reads()
    recent = RecentRead(reads, window=1.0)  # generous: a loaded machine stalls loops

    async def scenario() -> list[int]:
        values = [await recent() for _ in range(3)]
        await asyncio.sleep(1.1)
        return [*values, await recent()]

    assert asyncio.run(scenario()) == [1, 1, 1, 2]


def test_a_failed_read_reaches_every_waiter_and_is_not_remembered() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise ConnectionError("database down")
        return "marker"

    recent = RecentRead(flaky, window=10)

    async def scenario() -> str:
        results = await asyncio.gather(recent(), recent(), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        return await recent()

    assert asyncio.run(scenario()) == "marker" and calls == 2
