from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from globalmart.core.retention import prune_all
from globalmart.core.runlog import COLLECTIONS, RunLog
from globalmart.core.settings import Settings
from globalmart.stack.testing import unique_name


def test_prune_all_keeps_recent_runs_only(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("ferretdb")
    run = unique_name("retention")
    now = datetime.now(UTC)
    with RunLog(settings) as log:
        for collection in COLLECTIONS:
            log.record(
                collection, {"run": run, "age": "old", "recorded_at": now - timedelta(days=9)}
            )
            log.record(
                collection, {"run": run, "age": "new", "recorded_at": now - timedelta(days=6)}
            )

    deleted = prune_all(settings, keep_days=7)

    assert set(deleted) == set(COLLECTIONS)
    assert all(count >= 1 for count in deleted.values()), deleted
    with RunLog(settings) as log:
        for collection in COLLECTIONS:
            kept = log.latest(collection, where={"run": run})
            assert [doc["age"] for doc in kept] == ["new"], collection
    # The default keeps both (and removes nothing of this run).
    assert settings.run_metrics_retention_days > 9
    prune_all(settings)
    with RunLog(settings) as log:
        assert len(log.latest(COLLECTIONS[0], where={"run": run})) == 1


def test_a_non_positive_retention_is_refused(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("ferretdb")
    with pytest.raises(ValueError, match="positive"):
        prune_all(settings, keep_days=0)
