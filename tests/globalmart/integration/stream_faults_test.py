"""Faults and the `stream` command: kill -9 mid-run, a lost commit file, graceful stops.

The dataset of stream_oracle_test runs through the real background driver (`stream start`),
in three driver processes:

A. live trigger, small batches: the first half of phase 1 while `stream status`, Prometheus
   metrics, stopping and starting a single job are checked — then the whole process group is
   killed with SIGKILL;
B. live again: the second half of phase 1 after the crash, then phase 2; a graceful
   `stream stop`;
C. (no driver) the last commit file of every query is deleted;
D. live again for the flush (phase 3): the lost commit's batch is replayed, then a graceful
   `stream stop`.

All 18 tables (and dead letters and alerts) must then equal the oracle: nothing lost, nothing
doubled. Alerts also went to a real local webhook, each at most once.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from globalmart.cli import stream_cmd
from globalmart.core.runlog import ALERT_DELIVERIES, STREAM_PROGRESS, RunLog
from globalmart.core.settings import Settings
from globalmart.integration.stream_driver import Driver, Webhook, until
from globalmart.integration.stream_harness import (
    Harness,
    driver_harness,
    drop_checkpoint_file,
    last_batch,
)
from globalmart.integration.stream_oracle import Oracle


@pytest.fixture(scope="module")
def harness(live_stack: Callable[..., Settings]) -> Iterator[Harness]:
    with driver_harness(live_stack, "gmfault") as harness:
        yield harness


def test_crash_lost_commit_and_graceful_stop_end_equal_to_the_oracle(
    harness: Harness, tmp_path: Path
) -> None:
    webhook = Webhook()
    driver = Driver(harness, tmp_path, webhook)
    oracle = Oracle(harness.dataset, harness.topics.topics)
    phase1, phase2, phase3 = harness.dataset.phases
    try:
        # A: live, small batches, then SIGKILL mid-run. Only half of phase 1 goes in before the
        # crash: Spark keeps the highest event time of the last batch in memory until the next
        # batch writes the watermark it sets, so a crash after a query's last batch of the
        # phase would lose the watermark phase 2's stragglers are judged by. The second half,
        # processed after the restart, sets it again whatever the crash lost.
        half = len(phase1) // 2
        harness.produce(phase1[:half])
        driver.start("--trigger", "1 second", "--max-offsets-per-trigger", "25")
        status = driver.status()
        assert status["running"] and all(q["active"] for q in status["queries"].values())
        assert set(status["queries"]) == set(stream_cmd.JOBS)
        until(lambda: len([r for r in driver.ledger() if r["rows_written"]]) >= 4, 300, "4 batches")
        metrics = httpx.get(f"http://127.0.0.1:{driver.metrics_port}/metrics", timeout=10).text
        assert "gm_stream_rows_dropped_by_watermark_total" in metrics
        assert re.search(
            r'gm_stream_batches_total\{outcome="committed",query="\w+"\} [1-9]', metrics
        )
        # one job stopped and started again inside the running driver
        assert driver.command("stop", "cart_analyzer").exit_code == 0
        assert not driver.status()["queries"]["cart_analyzer"]["active"]
        driver.start(names=["cart_analyzer"])
        assert driver.status()["queries"]["cart_analyzer"]["active"]
        pid = driver.pid()
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        until(lambda: driver.pid() is None, 60, "the killed driver to vanish")
        assert driver.command("status").exit_code == 3

        # B: live again: the rest of phase 1 after the crash, then phase 2; graceful stop
        driver.start("--trigger", "1 second")
        harness.produce(phase1[half:])
        driver.caught_up()
        harness.produce(phase2)
        driver.caught_up()
        assert driver.command("stop").exit_code == 0
        # C: every query loses its last commit file
        for query in stream_cmd.JOBS:
            commits = driver.checkpoints / query / "commits"
            drop_checkpoint_file(commits, last_batch(commits))

        # D: the flush, live; then a graceful stop
        harness.produce(phase3)
        driver.start("--trigger", "1 second")
        until(
            lambda: not any(harness.compare(oracle).values()),
            420,
            "the tables to match the oracle",
            lambda: f"{ {t: p[:5] for t, p in harness.compare(oracle).items() if p} }\n"
            + driver.explain(),
        )
        assert driver.command("stop").exit_code == 0
        assert driver.pid() is None
        assert not (driver.run_dir / "stream.pid").exists()
        assert {t: p[:5] for t, p in harness.compare(oracle).items() if p} == {}
    finally:
        pid = driver.pid()
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
        webhook.close()
    # webhook deliveries: real alerts, none twice (a crash may lose an undelivered one)
    keys = [a["dedup_key"] for a in webhook.received]
    stored = {a["dedup_key"] for a in harness.rows("alerts")}
    assert keys and len(keys) == len(set(keys)) and set(keys) <= stored
    assert {a["severity"] for a in webhook.received} <= {"info", "warning", "critical"}
    # progress and deliveries reached the run-metrics store (MongoDB wire)
    with RunLog(harness.settings) as runlog:
        progress = runlog.latest(STREAM_PROGRESS, 500, {"pg_schema": harness.schema})
        deliveries = runlog.latest(ALERT_DELIVERIES, 500, {"pg_schema": harness.schema})
    assert {p["query"] for p in progress} == set(stream_cmd.JOBS)
    assert any(d["channel"] == "webhook" and d["ok"] for d in deliveries)
