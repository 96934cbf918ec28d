from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from globalmart.core.runlog import BATCH_RUNS, RunLog, record_quietly
from globalmart.core.settings import Settings
from globalmart.stack.testing import unique_name


def test_record_latest_and_prune(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("ferretdb")
    run = unique_name("run")
    with RunLog(settings) as log:
        old = datetime.now(UTC) - timedelta(days=40)
        log.record(BATCH_RUNS, {"run": run, "status": "ok", "recorded_at": old})
        log.record(BATCH_RUNS, {"run": run, "status": "failed"})
        latest = log.latest(BATCH_RUNS, where={"run": run})
        assert [d["status"] for d in latest] == ["failed", "ok"]
        assert latest[0]["recorded_at"].tzinfo is not None
        assert log.prune(BATCH_RUNS, keep=timedelta(days=30)) >= 1
        assert [d["status"] for d in log.latest(BATCH_RUNS, where={"run": run})] == ["failed"]
        with pytest.raises(ValueError, match="unknown run collection"):
            log.record("nope", {})


def test_record_quietly_survives_an_outage(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("ferretdb")
    down = settings.model_copy(update={"mongo_port": 1})
    assert record_quietly(down, BATCH_RUNS, {"run": "x"}) is False
    assert record_quietly(settings, BATCH_RUNS, {"run": unique_name("ok")}) is True
