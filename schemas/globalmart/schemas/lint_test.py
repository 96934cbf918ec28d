from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from globalmart.schemas.testing import SchemaTree, field_of, sample_event, sample_table

Change = Callable[[dict[str, Any]], Any]


def _set_type(name: str, avro_type: Any) -> Change:
    return lambda s: field_of(s, name).update(type=avro_type)


@pytest.mark.parametrize(
    "make, change, field, rule",
    [
        (sample_event, lambda s: field_of(s, "quantity").pop("doc"), "quantity", "doc"),
        (sample_event, lambda s: s.pop("topic"), "", "event"),
        (sample_event, lambda s: s["fields"].pop(0), "event_id", "event"),
        (sample_event, lambda s: s.update(namespace="acme"), "", "naming"),
        (sample_table, lambda s: s.update(primary_key=[]), "", "primary_key"),
        (sample_table, lambda s: s.update(primary_key=["nope"]), "nope", "primary_key"),
        (sample_table, lambda s: s["primary_key"].reverse(), "", "window"),
        (sample_table, lambda s: s["fields"].pop(), "updated_at", "window"),
        (sample_table, lambda s: s.pop("window_duration"), "", "window"),
        (sample_table, lambda s: s.update(table_type="cube"), "", "table_type"),
        (sample_table, lambda s: s.update(indexes=[["nope"]]), "nope", "indexes"),
        (sample_table, _set_type("revenue", "double"), "revenue", "money"),
        (
            sample_table,
            _set_type("created_at", {"type": "long", "logicalType": "timestamp-millis"}),
            "created_at",
            "timestamp",
        ),
        (sample_table, _set_type("updated_at", "long"), "updated_at", "timestamp"),
        (
            sample_table,
            _set_type("country", {"type": "record", "name": "c", "doc": "C.", "fields": []}),
            "country",
            "sql_type",
        ),
        (
            sample_table,
            lambda s: s["fields"].insert(3, {"name": "order", "type": "long", "doc": "SQL word."}),
            "order",
            "naming",
        ),
    ],
)
def test_conventions(
    tmp_path: Path, make: Callable[[], dict[str, Any]], change: Change, field: str, rule: str
) -> None:
    tree = SchemaTree(tmp_path)
    schema = make()
    change(schema)
    tree.write(schema, 1, kind="events" if "topic" in make() else "realtime")
    found = {(v.field, v.rule) for v in tree.check().violations}
    assert (field, rule) in found, found


def test_released_history_is_not_linted_again(tmp_path: Path) -> None:
    # A released v1 that misses a doc stays as it is; the latest version must comply.
    tree = SchemaTree(tmp_path)
    old = sample_event()
    field_of(old, "note").pop("doc")
    tree.write(old, 1)
    tree.release()
    assert {v.version for v in tree.check().violations} == {1}  # v1 is still the latest
    tree.write(sample_event(), 2)
    assert tree.check().ok
