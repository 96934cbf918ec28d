"""Alert delivery: pluggable channels fed after each batch commits.

The jobs store alerts in the `alerts` table (deduplicated on `dedup_key`, in the batch's
transaction); the writer reports which ones were new, and the dispatcher delivers each new alert
once to every channel whose minimum severity it meets. Delivery runs on a background thread so
a slow webhook never holds a micro-batch up; every attempt is recorded (best effort) in the
run-metrics store's `alert_deliveries` collection. An alert whose batch was replayed is not new,
so it is not delivered twice.

Channels: `log` (the service log) and `webhook=<url>` (JSON POST, retried with back-off).
Add one by implementing `AlertChannel.deliver`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "critical")


class DeliveryError(RuntimeError):
    pass


class AlertChannel(Protocol):
    name: str
    min_severity: str

    def deliver(self, alert: Mapping[str, Any]) -> None:
        ...


def payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """An alert as JSON-ready values (ISO-8601 UTC times, exact decimals as strings)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(value, Decimal):
            return str(value)
        return value

    out = {k: plain(v) for k, v in alert.items()}
    if isinstance(out.get("details"), str):
        out["details"] = json.loads(out["details"])
    return out


@dataclass
class LogChannel:
    name: str = "log"
    min_severity: str = "info"
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("globalmart.alerts"))

    def deliver(self, alert: Mapping[str, Any]) -> None:
        level = {"info": logging.INFO, "warning": logging.WARNING}.get(
            str(alert["severity"]), logging.ERROR
        )
        self.logger.log(level, "[%s] %s: %s", alert["severity"], alert["title"], alert["message"])


@dataclass
class WebhookChannel:
    url: str
    name: str = "webhook"
    min_severity: str = "info"
    timeout: float = 5.0
    attempts: int = 3
    backoff: float = 0.5

    def deliver(self, alert: Mapping[str, Any]) -> None:
        body = payload(alert)
        last: Exception | None = None
        for attempt in range(self.attempts):
            try:
                response = httpx.post(self.url, json=body, timeout=self.timeout)
                if response.status_code < 300:
                    return
                last = DeliveryError(f"HTTP {response.status_code}")
                if response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refuses it: retrying will not help
            except httpx.HTTPError as error:
                last = error
            time.sleep(self.backoff * (2**attempt))
        raise DeliveryError(f"{self.url}: {last}")


def parse_channels(specs: Iterable[str]) -> list[AlertChannel]:
    """`log`, `webhook=<url>`, optionally with `@<min severity>`: `webhook=http://h/x@critical`."""
    channels: list[AlertChannel] = []
    for spec in specs:
        spec, _, severity = (
            spec.partition("@") if "@" in spec.rsplit("/", 1)[-1] else (spec, "", "")
        )
        severity = severity or "info"
        if severity not in SEVERITIES:
            raise ValueError(f"alert channel {spec!r}: severity must be one of {SEVERITIES}")
        if spec == "log":
            channels.append(LogChannel(min_severity=severity))
        elif spec.startswith("webhook="):
            channels.append(WebhookChannel(spec.split("=", 1)[1], min_severity=severity))
        else:
            raise ValueError(f"unknown alert channel {spec!r}: use log or webhook=<url>")
    return channels


class AlertDispatcher:
    """Delivers alerts to channels on a background thread; `close` drains the queue."""

    def __init__(
        self,
        channels: Sequence[AlertChannel],
        record: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.channels = list(channels)
        self.record = record
        self.delivered: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        self._queue: queue.Queue[Mapping[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="alert-dispatcher", daemon=True)
        self._thread.start()

    def submit(self, alerts: Iterable[Mapping[str, Any]]) -> None:
        for alert in alerts:
            self._queue.put(alert)

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            for channel in self.channels:
                if SEVERITIES.index(str(alert["severity"])) < SEVERITIES.index(
                    channel.min_severity
                ):
                    continue
                started = time.monotonic()
                error = None
                try:
                    channel.deliver(alert)
                    self.delivered[channel.name] = self.delivered.get(channel.name, 0) + 1
                except Exception as exc:  # noqa: BLE001 - a channel failure never stops the others
                    error = f"{type(exc).__name__}: {exc}"
                    self.failed[channel.name] = self.failed.get(channel.name, 0) + 1
                    log.warning(
                        "alert %s not delivered to %s: %s", alert["dedup_key"], channel.name, error
                    )
                if self.record is not None:
                    self.record(
                        {
                            "dedup_key": alert["dedup_key"],
                            "alert_type": alert["alert_type"],
                            "severity": alert["severity"],
                            "channel": channel.name,
                            "ok": error is None,
                            "error": error,
                            "seconds": round(time.monotonic() - started, 3),
                        }
                    )
