"""What a generator run produces: the knobs of the behaviour model, checked once up front."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from globalmart.generators.reference import MAX_PRODUCTS, MAX_USERS

#: event kinds, in the order of the mix
VIEW: Final = "product_view"
CART: Final = "cart_event"
TRANSACTION: Final = "transaction"
KINDS: Final = (VIEW, CART, TRANSACTION)

#: the spec's default mix: 60% product views, 30% cart events, 10% transactions
DEFAULT_MIX: Final = (0.6, 0.3, 0.1)


class ConfigError(ValueError):
    """A setting that cannot work; the message names it."""


def parse_mix(text: str) -> tuple[float, float, float]:
    """`60/30/10` or `0.6,0.3,0.1` (views/cart/transactions) -> shares summing to 1."""
    parts = [p for p in text.replace(",", "/").split("/") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"--mix {text!r}: expected three numbers like 60/30/10") from None
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise ConfigError(f"--mix {text!r}: expected three non-negative numbers like 60/30/10")
    total = sum(values)
    return (values[0] / total, values[1] / total, values[2] / total)


@dataclass(frozen=True)
class ModelConfig:
    """The behaviour model of one worker process. Same config + seed -> same events."""

    seed: int
    #: seed of the reference data (users, products): the one every job uses, DATA_GEN_SEED
    reference_seed: int
    users: int = 10_000
    products: int = 1_000
    mix: tuple[float, float, float] = DEFAULT_MIX
    #: share of transactions that are anomalous (of the kinds the anomaly job detects)
    anomaly_rate: float = 0.02
    #: share of events whose event_time lies in the past (late / out of order)
    late_share: float = 0.01
    #: late events are 5 s to this many seconds old (beyond the 10-minute watermark sometimes)
    max_lateness_s: float = 900.0
    #: event time: start (UTC epoch microseconds) and the pace of the virtual clock
    start_time_us: int = 0
    events_per_second: float = 50.0
    #: concurrent shopping sessions per worker
    sessions: int = 1_000
    #: this worker among `workers`: users are split so one user's events come from one process
    worker: int = 0
    workers: int = 1
    #: test hook: share of events deliberately broken so validation must dead-letter them
    invalid_share: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.users <= MAX_USERS:
            raise ConfigError(f"users must be 1..{MAX_USERS:,} (got {self.users:,})")
        if not 1 <= self.products <= MAX_PRODUCTS:
            raise ConfigError(f"products must be 1..{MAX_PRODUCTS:,} (got {self.products:,})")
        if len(self.mix) != 3 or abs(sum(self.mix) - 1.0) > 1e-6 or min(self.mix) < 0:
            raise ConfigError(f"mix must be three shares summing to 1 (got {self.mix})")
        for name in ("anomaly_rate", "late_share", "invalid_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1 (got {value})")
        if self.max_lateness_s < 5:
            raise ConfigError(f"max_lateness_s must be at least 5 s (got {self.max_lateness_s})")
        if self.events_per_second <= 0:
            raise ConfigError("events_per_second must be positive")
        if self.sessions < 1:
            raise ConfigError("sessions must be at least 1")
        if not 0 <= self.worker < self.workers:
            raise ConfigError(f"worker {self.worker} outside 0..{self.workers - 1}")
        if self.workers > self.users:
            raise ConfigError(f"{self.workers} processes need at least as many users")

    def for_worker(self, worker: int, workers: int) -> ModelConfig:
        return replace(self, worker=worker, workers=workers)
