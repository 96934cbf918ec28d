"""Retention of the run metrics store (FerretDB): delete run documents older than N days.

FerretDB v1 has no TTL indexes, so nothing expires by itself: this job must run periodically
(e.g. with the nightly batch, or at gateway start-up). Run by hand with
    python -m globalmart.core.retention [--keep-days N]
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from globalmart.core.runlog import COLLECTIONS, RunLog
from globalmart.core.settings import Settings, get_settings


def prune_all(settings: Settings, keep_days: float | None = None) -> dict[str, int]:
    """Delete documents older than `keep_days` (default: the RUN_METRICS_RETENTION_DAYS setting)
    from every run collection; counts per collection. Stream progress writes a document per
    micro-batch and query, so this is what bounds the store."""
    if keep_days is None:
        keep_days = settings.run_metrics_retention_days
    if keep_days <= 0:
        raise ValueError(f"keep_days must be positive, got {keep_days}")
    keep = timedelta(days=keep_days)
    with RunLog(settings) as log:
        return {collection: log.prune(collection, keep) for collection in COLLECTIONS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep-days", type=float, default=None)
    args = parser.parse_args(argv)
    settings = get_settings()
    args.keep_days = args.keep_days or settings.run_metrics_retention_days
    deleted = prune_all(settings, args.keep_days)
    for collection, count in deleted.items():
        print(f"{collection}: deleted {count} document(s) older than {args.keep_days:g} days")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
