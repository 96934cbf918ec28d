"""The background stream driver (`stream start`) as tests drive it: start, stop, status, wait.

With a real local webhook that collects the alerts POSTed to it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from globalmart.cli import stream_cmd
from globalmart.core.ports import free_port
from globalmart.integration.stream_harness import Harness
from globalmart.stream import testing

cli = CliRunner()


class Webhook:
    """A real HTTP receiver on loopback collecting the alerts POSTed to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class Driver:
    def __init__(self, harness: Harness, root: Path, webhook: Webhook) -> None:
        self.harness = harness
        self.run_dir = root / "run"
        self.checkpoints = root / "checkpoints"
        self.metrics_port = free_port()
        self.webhook = webhook

    def start(self, *extra: str, names: list[str] | None = None) -> Any:
        args = [
            "start",
            *(names or []),
            "--run-dir",
            str(self.run_dir),
            "--pg-schema",
            self.harness.schema,
            "--checkpoint-root",
            str(self.checkpoints),
            "--metrics-port",
            str(self.metrics_port),
            "--alert-channel",
            "log",
            "--alert-channel",
            f"webhook={self.webhook.url}",
            "--wait",
            "600",
        ]
        for source, topic in self.harness.topics.topics.items():
            args += ["--topic", f"{source}={topic}"]
        result = cli.invoke(stream_cmd.app, [*args, *extra])
        assert result.exit_code == 0, result.output
        return result

    def command(self, *args: str) -> Any:
        return cli.invoke(stream_cmd.app, [*args, "--run-dir", str(self.run_dir)])

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.command("status", "--json").output))

    def pid(self) -> int | None:
        return stream_cmd.running_pid(stream_cmd.Paths(self.harness.settings, self.run_dir))

    def caught_up(self, timeout: float = 300) -> None:
        """Every query committed all there is, and then a batch without data too.

        Spark 4.1 drops late rows by the watermark of the batch *before* (so that chained
        stateful operators agree): the watermark that phase N's data set is in force for the
        next phase only after one more batch, the no-data batch Spark runs when the watermark
        moves. A query whose watermark did not move runs none: it counts as settled once its
        last commit stayed the same for 20 s."""
        topics = self.harness.topics.topics
        source_of = {
            "sales_aggregator": "transaction",
            "anomaly_detector": "transaction",
            "inventory_tracker": "transaction",
            "cart_analyzer": "cart_event",
            "product_view_analyzer": "product_view",
        }
        last: dict[str, Any] = {}
        still_since: dict[str, float] = {}

        def settled(name: str, query: dict[str, Any]) -> bool:
            batch = query.get("last_committed_batch")
            if name not in last or last[name] != batch:
                last[name], still_since[name] = batch, time.monotonic()
            progress = query.get("last_progress") or {}
            no_data = progress.get("batch_id") == batch and progress.get("input_rows") == 0
            return no_data or time.monotonic() - still_since[name] >= 20

        def done() -> bool:
            ends = testing.end_offsets(self.harness.settings, topics.values())
            queries = self.status().get("queries", {})
            behind = [
                n
                for n, q in queries.items()
                if q.get("committed_records", 0) < ends[topics[source_of[n]]]
            ]
            waiting = [n for n, q in queries.items() if not settled(n, q)]
            return len(queries) == 5 and not behind and not waiting

        until(done, timeout, "the queries to catch up", self.explain)

    def ledger(self) -> list[dict[str, Any]]:
        return self.harness.rows("stream_batch_ledger")

    def log(self) -> str:
        path = stream_cmd.Paths(self.harness.settings, self.run_dir).log
        try:
            return path.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"

    def explain(self) -> str:
        """What a timed-out wait prints: the driver's status and the last lines of its log."""
        status = self.command("status", "--json").output
        tail = "\n".join(self.log().splitlines()[-40:])
        return f"status: {status}\nlog tail:\n{tail}"


def until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    explain: Callable[[], str] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{explain()}")
