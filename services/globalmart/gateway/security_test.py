from __future__ import annotations

from typing import Any

from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.security import TokenBucket, _matches


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take("a", now=0.0)
    assert 0.09 < wait <= 0.1
    assert bucket.take("b", now=0.0) == 0.0  # per client
    assert bucket.take("a", now=0.2) == 0.0  # refilled


def test_token_bucket_forgets_the_oldest_clients() -> None:
    bucket = TokenBucket(rate=1, burst=1, max_clients=2)
    for client in ("a", "b", "c"):
        bucket.take(client, now=0.0)
    assert "a" not in bucket._buckets and len(bucket._buckets) == 2


def test_key_matching_and_comma_separated_config() -> None:
    assert _matches("k2", ["k1", "k2"]) and not _matches("k3", ["k1", "k2"])
    assert not _matches("k", [])
    keys: Any = "a, b"
    origins: Any = "http://x.test"
    config = GatewayConfig(admin_api_keys=keys, cors_origins=origins)
    assert config.admin_api_keys == ["a", "b"] and config.cors_origins == ["http://x.test"]
    assert GatewayConfig().admin_api_keys == []
