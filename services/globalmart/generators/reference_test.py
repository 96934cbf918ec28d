from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

from fastavro import parse_schema
from fastavro.validation import validate

from globalmart.generators import reference as ref
from globalmart.schemas.catalog import load_catalog

CATALOG = load_catalog()


def test_records_match_the_reference_schemas() -> None:
    r = ref.Reference(42)
    for name, rows in {
        "user": list(r.users(300)) + [r.user(ref.MAX_USERS)],
        "product": list(r.products(300)) + [r.product(ref.MAX_PRODUCTS)],
        "category": list(r.categories()),
        "country": list(r.countries()),
    }.items():
        parsed = parse_schema(CATALOG.entry(name).latest.data)
        for row in rows:
            assert validate(row, parsed, strict=True), row


def test_five_countries_and_a_hundred_categories_in_ten_departments() -> None:
    countries = [c["country"] for c in ref.Reference.countries()]
    assert countries == ["US", "GB", "DE", "FR", "JP"]
    categories = list(ref.Reference.categories())
    assert len(categories) == 100 == len({c["category_id"] for c in categories})
    assert len({c["name"] for c in categories}) == 100
    assert len({c["department"] for c in categories}) == 10


def test_records_are_a_function_of_id_and_seed() -> None:
    a, b, other = ref.Reference(42), ref.Reference(42), ref.Reference(43)
    assert a.user(1234) == b.user_by_id("U00001234")
    assert a.product(42) == b.product_by_id("P000042")
    assert [a.user(n) for n in range(1, 50)] != [other.user(n) for n in range(1, 50)]
    assert [a.price_cents(n) for n in range(1, 50)] != [other.price_cents(n) for n in range(1, 50)]


def test_distributions_look_like_a_shop() -> None:
    r = ref.Reference(42)
    users = list(r.users(5000))
    share_us = sum(u["country"] == "US" for u in users) / len(users)
    assert 0.35 < share_us < 0.45
    assert {u["country"] for u in users} == {"US", "GB", "DE", "FR", "JP"}
    assert all(18 <= u["age"] <= 80 for u in users)
    assert len({u["registered_at"] // 86_400_000_000 for u in users}) > 1000  # spread over years
    tiers = [u["loyalty_tier"] for u in users]
    assert tiers.count("bronze") > tiers.count("silver") > tiers.count("gold") > 0
    products = list(r.products(2000))
    prices = [p["price"] for p in products]
    assert min(prices) >= Decimal("0.99") and max(prices) < Decimal("1500")
    assert all(p["price"].as_tuple().exponent == -2 for p in products)
    assert {p["category_id"] for p in products} == {f"C{n:03d}" for n in range(1, 101)}
    assert 0 < sum(p["stock_quantity"] == 0 for p in products) < 300


def test_id_numbers_round_trip_and_bad_ids_are_refused() -> None:
    assert ref.id_number(ref.user_id(9_999_999), ref.USER_PREFIX) == 9_999_999
    assert ref.category_of_product(1) == ref.category_of_product(101) == 1
    for bad in ("X0001", "U12a", "U"):
        try:
            ref.id_number(bad, ref.USER_PREFIX)
        except ValueError:
            continue
        raise AssertionError(f"{bad} accepted")


STARTUP = """
import json, resource, sys, time
started = time.perf_counter()
from globalmart.generators.config import ModelConfig
from globalmart.generators.model import EventModel
model = EventModel(ModelConfig(seed=1, reference_seed=42, users=10_000_000, products=250_000))
ready = time.perf_counter() - started
for _ in range(20_000):
    model.next_event()
users = {model.next_event()[1] for _ in range(2_000)}
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"startup_s": ready, "rss_mb": rss_mb, "max_user": max(users)}))
"""


def test_ten_million_users_start_fast_and_small() -> None:
    """The spec's scale: 10M users and 250K products start in < 2 s and < 300 MB resident."""
    # the child imports what this test process can (a Pants sandbox has no PYTHONPATH of its own)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(
        [sys.executable, "-c", STARTUP], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    print(figures)
    assert figures["startup_s"] < 2.0
    assert figures["rss_mb"] < 300
    assert figures["max_user"] > "U01000000"  # users really come from the whole 10M range
