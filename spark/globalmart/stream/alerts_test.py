"""Alert channels: the webhook against a real local HTTP server, severity filters, the log."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from globalmart.stream.alerts import (
    AlertDispatcher,
    DeliveryError,
    LogChannel,
    WebhookChannel,
    parse_channels,
    payload,
)

ALERT = {
    "dedup_key": "high_value:o1",
    "alert_type": "high_value_anomaly",
    "severity": "critical",
    "title": "High-value purchase of $12000.00",
    "message": "Purchase o1 ...",
    "source_table": "high_value_anomalies",
    "entity_id": "o1",
    "country": "US",
    "event_time": datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
    "details": '{"total_amount": "12000.00"}',
    "alert_generated_at": datetime(2026, 1, 5, 10, 0, 3, tzinfo=UTC),
}


class Receiver:
    def __init__(self, statuses: list[int]) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses = statuses
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append(json.loads(body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    r = Receiver(list(getattr(request, "param", [])))
    yield r
    r.server.shutdown()


def test_payload_is_json_ready() -> None:
    body = payload(ALERT)
    assert body["event_time"] == "2026-01-05T10:00:00Z"
    assert body["details"] == {"total_amount": "12000.00"}
    json.dumps(body)


def test_webhook_posts_the_alert(receiver: Receiver) -> None:
    WebhookChannel(receiver.url).deliver(ALERT)
    assert receiver.bodies[0]["dedup_key"] == "high_value:o1"


@pytest.mark.parametrize("receiver", [[503, 200]], indirect=True)
def test_webhook_retries_server_errors(receiver: Receiver) -> None:
    WebhookChannel(receiver.url, backoff=0.01).deliver(ALERT)
    assert len(receiver.bodies) == 2


@pytest.mark.parametrize("receiver", [[400, 200]], indirect=True)
def test_webhook_does_not_retry_a_refusal(receiver: Receiver) -> None:
    with pytest.raises(DeliveryError, match="HTTP 400"):
        WebhookChannel(receiver.url, backoff=0.01).deliver(ALERT)
    assert len(receiver.bodies) == 1


def test_dispatcher_filters_by_severity_and_records(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    records: list[dict[str, Any]] = []
    channels = parse_channels(["log", f"webhook={receiver.url}@critical"])
    dispatcher = AlertDispatcher(channels, record=records.append)
    with caplog.at_level(logging.INFO, logger="globalmart.alerts"):
        dispatcher.submit([ALERT, {**ALERT, "dedup_key": "restock:x", "severity": "info"}])
        dispatcher.close()
    assert [b["dedup_key"] for b in receiver.bodies] == ["high_value:o1"]
    assert dispatcher.delivered == {"log": 2, "webhook": 1}
    assert {(r["channel"], r["ok"]) for r in records} == {("log", True), ("webhook", True)}
    assert "High-value purchase" in caplog.text


def test_a_failing_channel_does_not_stop_the_others() -> None:
    records: list[dict[str, Any]] = []
    dead = WebhookChannel("http://127.0.0.1:9/nothing", attempts=1, backoff=0.0, timeout=1.0)
    dispatcher = AlertDispatcher([dead, LogChannel()], record=records.append)
    dispatcher.submit([ALERT])
    dispatcher.close()
    assert dispatcher.failed == {"webhook": 1} and dispatcher.delivered == {"log": 1}
    assert any(not r["ok"] and r["error"] for r in records)


def test_channel_specs_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown alert channel"):
        parse_channels(["pager"])
    with pytest.raises(ValueError, match="severity"):
        parse_channels(["log@loud"])
