from __future__ import annotations

import re
import uuid
from collections import Counter, defaultdict
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from globalmart.generators.codec import InvalidDatum, compile_encoder
from globalmart.generators.config import KINDS, ConfigError, ModelConfig, parse_mix
from globalmart.generators.model import EventModel
from globalmart.schemas.catalog import load_catalog

START = 1_790_000_000_000_000
BASE = ModelConfig(seed=11, reference_seed=42, start_time_us=START, events_per_second=50.0)
Event = tuple[int, str, dict[str, Any]]


def _run(config: ModelConfig, n: int) -> tuple[EventModel, list[Event]]:
    model = EventModel(config)
    return model, [model.next_event() for _ in range(n)]


@pytest.fixture(scope="module")
def clean() -> tuple[EventModel, list[Event]]:
    """100K events without late ones, so event-time rules can be checked exactly."""
    return _run(replace(BASE, late_share=0.0), 100_000)


def _transactions(events: list[Event]) -> list[dict[str, Any]]:
    return [e for kind, _key, e in events if kind == 2]


def test_default_mix_is_60_30_10(clean: tuple[EventModel, list[Event]]) -> None:
    _model, events = clean
    shares = Counter(kind for kind, _key, _e in events)
    for kind, expected in enumerate((0.6, 0.3, 0.1)):
        assert abs(shares[kind] / len(events) - expected) < 0.01


def test_mix_is_configurable() -> None:
    _model, events = _run(replace(BASE, mix=parse_mix("20/50/30")), 20_000)
    shares = Counter(kind for kind, _key, _e in events)
    for kind, expected in enumerate((0.2, 0.5, 0.3)):
        assert abs(shares[kind] / len(events) - expected) < 0.015
    assert parse_mix("0.6,0.3,0.1") == pytest.approx((0.6, 0.3, 0.1))
    for bad in ("1/2", "a/b/c", "-1/1/1", "0/0/0"):
        with pytest.raises(ConfigError):
            parse_mix(bad)


def test_every_action_occurs_with_its_fields(clean: tuple[EventModel, list[Event]]) -> None:
    _model, events = clean
    actions: dict[int, Counter[str]] = defaultdict(Counter)
    for kind, key, event in events:
        assert key == event["user_id"]
        if kind == 2:
            continue
        actions[kind][event["action"]] += 1
        action = event["action"]
        if kind == 0:
            assert (event["product_id"] is not None) == (action in ("view", "compare"))
            assert (event["search_query"] is not None) == (action == "search")
            assert (event["category_id"] is None) == (action == "search")
            assert bool(event["filters"]) == (action == "filter")
            assert bool(event["compared_product_ids"]) <= (action == "compare")
            assert event["product_id"] not in event["compared_product_ids"]
        else:
            assert (event["product_id"] is None) == (action in ("checkout", "abandon"))
            assert event["cart_item_count"] >= 0 and event["cart_total"] >= 0
    assert set(actions[0]) == {"view", "search", "filter", "compare"}
    assert set(actions[1]) == {"add", "remove", "update", "checkout", "abandon"}
    assert actions[0]["view"] > actions[0]["search"] > actions[0]["compare"]
    assert actions[1]["add"] > actions[1]["checkout"] > actions[1]["abandon"]


def test_transactions_follow_checked_out_carts(clean: tuple[EventModel, list[Event]]) -> None:
    model, events = clean
    checkouts: dict[str, dict[str, Any]] = {}
    followed = 0
    for kind, _key, event in events:
        if kind == 1 and event["action"] == "checkout":
            checkouts[event["session_id"]] = event
        elif kind == 2 and event["session_id"] is not None:
            cart = checkouts.pop(event["session_id"])  # a checkout came first
            assert cart["user_id"] == event["user_id"] and cart["country"] == event["country"]
            assert cart["cart_total"] == event["total_amount"]
            assert cart["cart_item_count"] == sum(i["quantity"] for i in event["items"])
            assert cart["event_time"] <= event["event_time"]
            followed += 1
    transactions = _transactions(events)
    assert followed == model.counts["checkout_purchases"]
    assert followed / len(transactions) > 0.6
    for transaction in transactions:
        assert transaction["items"]
        total = sum(i["line_amount"] for i in transaction["items"])
        assert total == transaction["total_amount"]
        for item in transaction["items"]:
            assert item["line_amount"] == item["unit_price"] * item["quantity"]


def _flagged(transactions: list[dict[str, Any]]) -> dict[str, set[str]]:
    """The anomaly job's rules applied to event time: which transactions / users they flag."""
    high_value = {t["transaction_id"] for t in transactions if t["total_amount"] > 5000}
    high_quantity = {
        t["transaction_id"] for t in transactions if any(i["quantity"] >= 50 for i in t["items"])
    }
    by_user: dict[str, list[tuple[int, Decimal]]] = defaultdict(list)
    for t in transactions:
        by_user[t["user_id"]].append((t["event_time"], t["total_amount"]))
    frequent, spending = set(), set()
    for user, purchases in by_user.items():
        purchases.sort()
        for i, (start, _amount) in enumerate(purchases):
            window = [p for p in purchases[i:] if p[0] < start + 300_000_000]
            if len(window) >= 3:
                frequent.add(user)
            if sum(p[1] for p in window) > 10_000:
                spending.add(user)
    return {"high_value": high_value, "high_quantity": high_quantity,
            "frequent": frequent, "spending": spending}  # fmt: skip


def test_two_percent_anomalies_of_the_detected_kinds(clean: tuple[EventModel, list[Event]]) -> None:
    model, events = clean
    transactions = _transactions(events)
    counts = model.counts
    injected = sum(
        counts[f"anomaly_{k}"] for k in ("high_value", "high_quantity", "rapid_purchases")
    )
    assert 0.016 < injected / len(transactions) < 0.024
    flagged = _flagged(transactions)
    # every kind shows up, and the rules flag exactly what was injected
    assert len(flagged["high_value"]) == counts["anomaly_high_value"] > 0
    assert len(flagged["high_quantity"]) == counts["anomaly_high_quantity"] > 0
    bursts = counts["anomaly_rapid_purchases"] // 3
    assert bursts > 0
    # users buying 3+ times in 5 minutes: the bursts, and rarely a chance repeat buyer
    assert bursts <= len(flagged["frequent"]) <= bursts * 1.1 + 2
    # > $10K in 5 minutes: high-spend bursts and big single purchases, nobody else
    big_spenders = {t["user_id"] for t in transactions if t["total_amount"] > 5000}
    assert flagged["spending"] <= big_spenders | flagged["frequent"]
    assert flagged["spending"] & flagged["frequent"]  # some bursts spend > $10K
    # everything else stays clear of the thresholds; carts are capped at $4,500 and 5 units a line
    for t in transactions:
        if t["transaction_id"] not in flagged["high_value"] | flagged["high_quantity"]:
            assert t["total_amount"] <= 5000
            assert all(i["quantity"] < 50 for i in t["items"])
        if t["session_id"] is not None:
            assert t["total_amount"] <= 4500
            assert all(i["quantity"] <= 5 for i in t["items"])


def test_anomaly_rate_is_configurable() -> None:
    model, events = _run(replace(BASE, mix=(0.0, 0.0, 1.0), anomaly_rate=0.10), 20_000)
    injected = sum(v for k, v in model.counts.items() if k.startswith("anomaly_"))
    assert 0.085 < injected / len(events) < 0.115
    model, events = _run(replace(BASE, anomaly_rate=0.0), 20_000)
    assert not any(v for k, v in model.counts.items() if k.startswith("anomaly_"))
    assert not _flagged(_transactions(events))["high_value"]


def _seq(event: dict[str, Any]) -> int:
    return int(event["event_id"][-12:], 16)


def test_late_events_have_the_configured_share_and_lateness() -> None:
    config = replace(BASE, late_share=0.05, max_lateness_s=120)
    model, events = _run(config, 40_000)
    step = 1_000_000 / config.events_per_second
    lateness = [START + _seq(e) * step - e["event_time"] for _k, _u, e in events]
    late = [x for x in lateness if x > 1]
    assert late and len(late) == model.counts["late"]
    assert abs(len(late) / len(events) - 0.05) < 0.005
    assert min(late) >= 5_000_000 and max(late) <= 120_000_000
    assert all(abs(x) <= 1 for x in lateness if x <= 1)
    out_of_order = sum(
        1 for a, b in zip(events, events[1:]) if b[2]["event_time"] < a[2]["event_time"]
    )
    assert out_of_order >= len(late) * 0.9


def test_same_seed_same_events_other_seed_other_events() -> None:
    _m, first = _run(BASE, 5_000)
    _m, again = _run(BASE, 5_000)
    _m, other = _run(replace(BASE, seed=12), 5_000)
    assert first == again
    assert [e[2]["event_id"] for e in first] != [e[2]["event_id"] for e in other]
    assert [e[0] for e in first] != [e[0] for e in other]


def test_event_ids_are_unique_version_8_uuids(clean: tuple[EventModel, list[Event]]) -> None:
    _model, events = clean
    ids = [e["event_id"] for _k, _u, e in events]
    assert len(set(ids)) == len(ids)
    for text in ids[:100]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 8 and parsed.variant == uuid.RFC_4122
    transaction_ids = [t["transaction_id"] for t in _transactions(events)]
    assert len(set(transaction_ids)) == len(transaction_ids)
    other_worker = EventModel(replace(BASE, worker=1, workers=2)).next_event()[2]["event_id"]
    assert other_worker[:24] != ids[0][:24]


def test_workers_split_the_users() -> None:
    users = []
    for worker in range(3):
        _m, events = _run(replace(BASE, users=300, worker=worker, workers=3), 3000)
        users.append({key for _k, key, _e in events})
    assert users[0] and not (users[0] & users[1]) and not (users[1] & users[2])
    assert all(int(u[1:]) % 3 == 1 for u in users[0])


def test_invalid_share_breaks_events_the_encoder_rejects() -> None:
    catalog = load_catalog()
    encoders = [compile_encoder(catalog.entry(kind).latest.data) for kind in KINDS]
    model, events = _run(replace(BASE, invalid_share=0.05), 4000)
    rejected = 0
    for kind, _key, event in events:
        try:
            encoders[kind](event)
        except InvalidDatum:
            rejected += 1
    assert rejected == model.counts["invalid"] > 100


def test_bad_settings_are_refused() -> None:
    for changes in (
        {"users": 0},
        {"products": 250_001},
        {"mix": (0.5, 0.5, 0.5)},
        {"anomaly_rate": 1.5},
        {"max_lateness_s": 1},
        {"worker": 2, "workers": 2},
    ):
        with pytest.raises(ConfigError):
            replace(BASE, **changes)


def test_tiny_catalogs_still_work() -> None:
    model, events = _run(replace(BASE, users=1, products=1, anomaly_rate=0.2), 3000)
    assert {key for _k, key, _e in events} == {"U00000001"}
    assert {e["product_id"] for k, _u, e in events if k == 0} <= {"P000001", None}
    assert re.fullmatch(r"S-[0-9a-f]{8}-0-\d+", events[0][2]["session_id"])


def test_memo_bounds_do_not_change_the_events(monkeypatch: pytest.MonkeyPatch) -> None:
    # The model memoises shoppers and amounts in bounded dicts that are cleared when full; a
    # clear must only cost time: the same config gives the same events with a tiny bound.
    from globalmart.generators import model as model_module

    config = replace(BASE, users=2_000, events_per_second=100_000.0)
    _model, expected = _run(config, 20_000)
    monkeypatch.setattr(model_module, "_MEMO_LIMIT", 3)
    tiny, events = _run(config, 20_000)
    assert len(tiny._shoppers) <= 3 and len(tiny._amounts) <= 3
    assert events == expected
