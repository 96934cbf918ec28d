"""The soak's verdicts and the reconciliation's bookkeeping, on figures made up for the purpose."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from globalmart.bench.reconcile import Layer, expect, replay
from globalmart.bench.soak import MIB, Limits, verdicts
from globalmart.generators.runner import RunOptions


def _samples(lags: list[int], rss: list[int]) -> list[dict]:
    return [
        {"t": i * 5.0, "lag": {"sales_aggregator": lag, "cart_analyzer": lag // 2}, "rss": {"x": r}}
        for i, (lag, r) in enumerate(zip(lags, rss))
    ]


def test_a_sawtooth_lag_and_flat_memory_are_bounded() -> None:
    lags = [9000, 8000] + [300, 900, 200, 800] * 5  # warm-up spike, then one batch's worth
    result = verdicts(_samples(lags, [500 * MIB] * len(lags)), 100, Limits(max_lag_s=30))
    assert result["lag_bounded"] and result["rss_bounded"]
    assert result["lag"]["max_records"] == 900


def test_a_lag_that_keeps_growing_or_jumps_over_the_bound_is_not() -> None:
    growing = [130 * i for i in range(24)]  # under the bound, but rising by more than half of it
    assert not verdicts(_samples(growing, [MIB] * 24), 100, Limits(max_lag_s=30))["lag_bounded"]
    spike = [100] * 20 + [3_500] + [100] * 3
    assert not verdicts(_samples(spike, [MIB] * 24), 100, Limits(max_lag_s=30))["lag_bounded"]


def test_memory_that_keeps_growing_is_not_bounded() -> None:
    rss = [(400 + 40 * i) * MIB for i in range(24)]
    result = verdicts(_samples([10] * 24, rss), 100, Limits())
    assert result["lag_bounded"] and not result["rss_bounded"]
    assert not result["rss"]["x"]["bounded"]


def test_replay_is_deterministic_and_every_id_is_counted_once() -> None:
    options = RunOptions(
        rate=100, count=2_000, seed=7, start_time=datetime(2026, 11, 24, tzinfo=UTC), late_share=0
    )
    first = [e["event_id"] for _, e in replay(options)]
    assert first == [e["event_id"] for _, e in replay(options)] and len(set(first)) == 2_000
    expected = expect([options])
    assert expected.total == 2_000
    assert sum(r[0] for r in expected.sales.values()) == len(expected.ids["transaction"])
    layer = Layer("kafka")
    ids = expected.ids["cart_event"]
    found = Counter(ids)
    one = next(iter(ids))
    found[one] += 1  # a duplicate
    del found[next(i for i in ids if i != one)]  # a loss
    found["poison-1"] += 1
    layer.ids("cart_event", found, ids, allowed={"poison-1"})
    assert layer.figures["cart_event.missing"] == 1
    assert layer.figures["cart_event.duplicated"] == 1
    assert layer.figures["cart_event.unexpected"] == 0
    assert len(layer.problems) == 2
