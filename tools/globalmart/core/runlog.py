"""Run metrics in the MongoDB-wire store (FerretDB): one collection per kind of run.

Generators, stream queries, batch runs and alert deliveries append documents here; the gateway's
ops endpoints read them back. FerretDB v1 has no TTL indexes, so retention is an explicit
`prune` on the indexed `recorded_at` field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import PyMongoError

from globalmart.core.settings import Settings

GENERATOR_RUNS: Final = "generator_runs"
STREAM_PROGRESS: Final = "stream_progress"
BATCH_RUNS: Final = "batch_runs"
ALERT_DELIVERIES: Final = "alert_deliveries"
COLLECTIONS: Final = (GENERATOR_RUNS, STREAM_PROGRESS, BATCH_RUNS, ALERT_DELIVERIES)


class RunLog:
    """Append and read run documents; every document gets a timezone-aware `recorded_at`."""

    def __init__(self, settings: Settings, timeout_ms: int = 3000) -> None:
        self._client: MongoClient[dict[str, Any]] = MongoClient(
            settings.mongo_url, serverSelectionTimeoutMS=timeout_ms, tz_aware=True
        )
        self._db = self._client[settings.mongo_db]
        self._indexed: set[str] = set()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _collection(self, name: str) -> Any:
        if name not in COLLECTIONS:
            raise ValueError(f"unknown run collection {name!r}: one of {', '.join(COLLECTIONS)}")
        collection = self._db[name]
        if name not in self._indexed:
            collection.create_index([("recorded_at", ASCENDING)])
            self._indexed.add(name)
        return collection

    def record(self, collection: str, document: Mapping[str, Any]) -> None:
        doc = dict(document)
        doc.setdefault("recorded_at", datetime.now(UTC))
        self._collection(collection).insert_one(doc)

    def latest(
        self, collection: str, limit: int = 50, where: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        cursor = (
            self._collection(collection)
            .find(dict(where or {}), {"_id": 0})
            .sort("recorded_at", DESCENDING)
            .limit(limit)
        )
        return list(cursor)

    def prune(self, collection: str, keep: timedelta) -> int:
        """Delete documents older than `keep`; returns how many went."""
        cutoff = datetime.now(UTC) - keep
        return int(
            self._collection(collection).delete_many({"recorded_at": {"$lt": cutoff}}).deleted_count
        )


def record_quietly(settings: Settings, collection: str, document: Mapping[str, Any]) -> bool:
    """Best effort for long-running jobs: a metrics store outage must never stop the pipeline."""
    try:
        with RunLog(settings) as log:
            log.record(collection, document)
        return True
    except PyMongoError:
        return False
