"""Throwaway schema trees for tests: write versions, a policy and a manifest into a folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from globalmart.schemas import manifest
from globalmart.schemas.catalog import Catalog, load_catalog
from globalmart.schemas.check import CheckReport, run_checks
from globalmart.schemas.policy import Policy, load_policy

TS = {"type": "long", "logicalType": "timestamp-micros"}


def sample_event() -> dict[str, Any]:
    """A small valid event: topic, id, time, a long, an enum and a field with a default."""
    return {
        "type": "record",
        "name": "order",
        "namespace": "globalmart.events",
        "doc": "A test order.",
        "topic": "orders-topic",
        "fields": [
            {"name": "event_id", "type": "string", "doc": "Unique id."},
            {"name": "event_time", "type": TS, "doc": "Event time."},
            {"name": "quantity", "type": "long", "doc": "Units."},
            {
                "name": "status",
                "type": {
                    "type": "enum",
                    "name": "order_status",
                    "doc": "Where the order is.",
                    "symbols": ["placed", "paid", "shipped"],
                },
                "doc": "Status.",
            },
            {"name": "note", "type": ["null", "string"], "default": None, "doc": "Free text."},
        ],
    }


def sample_table() -> dict[str, Any]:
    """A small valid windowed real-time table."""
    return {
        "type": "record",
        "name": "orders_per_minute",
        "namespace": "globalmart.realtime",
        "doc": "Orders per minute.",
        "table_type": "window",
        "window_duration": "1 minute",
        "primary_key": ["window_start", "window_end", "country"],
        "indexes": [["updated_at"]],
        "fields": [
            {"name": "window_start", "type": TS, "doc": "Window start."},
            {"name": "window_end", "type": TS, "doc": "Window end."},
            {"name": "country", "type": "string", "doc": "Country."},
            {"name": "order_count", "type": "long", "doc": "Orders."},
            {
                "name": "revenue",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 16, "scale": 2},
                "doc": "Revenue in USD.",
            },
            {"name": "is_final", "type": "boolean", "doc": "Watermark passed."},
            {"name": "created_at", "type": TS, "doc": "First write."},
            {"name": "updated_at", "type": TS, "doc": "Last write."},
        ],
    }


def field_of(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


class SchemaTree:
    """A schema folder plus a policy file under `root`, released or not, checkable."""

    def __init__(self, root: Path, modes: dict[str, str] | None = None) -> None:
        self.avro = root / "avro"
        self.avro.mkdir(parents=True, exist_ok=True)
        self.policy_file = root / "compatibility.toml"
        self.set_modes(modes or {"events": "FULL_TRANSITIVE", "realtime": "BACKWARD_TRANSITIVE"})

    def set_modes(self, kinds: dict[str, str], subjects: dict[str, str] | None = None) -> None:
        lines = []
        for section, modes in (("kinds", kinds), ("subjects", subjects or {})):
            for name, mode in modes.items():
                lines += [f"[{section}.{name}]", f'mode = "{mode}"', 'reason = "test"', ""]
        self.policy_file.write_text("\n".join(lines))

    def write(self, data: dict[str, Any], version: int, kind: str | None = None) -> Path:
        kind = kind or str(data["namespace"]).rsplit(".", 1)[-1]
        path = self.avro / kind / str(data["name"]) / f"v{version}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2))
        return path

    def evolve(self, data: dict[str, Any], version: int, change: Any) -> dict[str, Any]:
        """Write a copy of `data`, changed in place by `change(copy)`, as `version`."""
        new = copy.deepcopy(data)
        change(new)
        self.write(new, version)
        return new

    def release(self) -> list[str]:
        return manifest.release(self.catalog(), self.avro)

    def catalog(self) -> Catalog:
        return load_catalog(self.avro)

    def policy(self) -> Policy:
        return load_policy(self.policy_file)

    def check(self) -> CheckReport:
        return run_checks(self.catalog(), self.policy())
