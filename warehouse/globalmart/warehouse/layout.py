"""Where the batch side keeps its files, and which event type each topic carries.

    <state>/data/archive/<event type>/event_date=YYYY-MM-DD/part-*.parquet   raw events
    <state>/data/archive/_checkpoints/<query>/                              archive query state
    <state>/data/reference/<entity>/*.parquet|*.avro                         catalog snapshots

The event type is the Avro record name (transaction, cart_event, product_view): one name per
concept from the schema to the archive folder.
"""

from __future__ import annotations

from datetime import date, timedelta

from globalmart.core.settings import Settings
from globalmart.schemas.catalog import load_catalog
from globalmart.stack.base import StatePaths

TRANSACTION, CART_EVENT, PRODUCT_VIEW = "transaction", "cart_event", "product_view"
EVENT_TYPES = (TRANSACTION, CART_EVENT, PRODUCT_VIEW)
PARTITION = "event_date"


def archive_root(settings: Settings) -> str:
    return str(StatePaths(settings.globalmart_state_dir).data / "archive")


def reference_root(settings: Settings) -> str:
    return str(StatePaths(settings.globalmart_state_dir).data / "reference")


def checkpoint_dir(base_path: str, query_name: str) -> str:
    return f"{base_path.rstrip('/')}/_checkpoints/{query_name}"


def event_topics() -> dict[str, str]:
    """Kafka topic -> event type, from the event schemas' `topic` attribute."""
    return {
        str(entry.latest.topic): entry.name
        for entry in load_catalog().of_kind("events")
        if entry.latest.topic
    }


def subject_of(event_type: str) -> str:
    """The registry subject holding the event type's schema (TopicNameStrategy)."""
    return f"{load_catalog().entry(event_type).latest.topic}-value"


def partition_dir(base_path: str, event_type: str, day: date) -> str:
    return f"{base_path.rstrip('/')}/{event_type}/{PARTITION}={day.isoformat()}"


def days(first: date, last: date) -> list[date]:
    if last < first:
        raise ValueError(f"empty date range: {first} .. {last}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
