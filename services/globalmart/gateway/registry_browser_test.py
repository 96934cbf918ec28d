from __future__ import annotations

import json
from typing import Any

from globalmart.gateway.registry_browser import allowed, diff_schemas

V1: dict[str, Any] = {
    "type": "record",
    "name": "r",
    "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "int"}],
}


def _with(**changes: object) -> str:
    data = json.loads(json.dumps(V1))
    data.update(changes)
    return json.dumps(data)


def test_added_field_with_default_is_compatible_both_ways() -> None:
    v2 = _with(fields=V1["fields"] + [{"name": "c", "type": "long", "default": 0}])
    diff = diff_schemas(json.dumps(V1), v2)
    assert [f["name"] for f in diff["added"]] == ["c"] and diff["added"][0]["has_default"]
    assert diff["backward_compatible"] and diff["forward_compatible"]
    assert allowed("FULL_TRANSITIVE", diff)
    assert "+" in diff["unified_diff"] and not diff["identical"]


def test_added_field_without_default_breaks_backward() -> None:
    v2 = _with(fields=V1["fields"] + [{"name": "c", "type": "long"}])
    diff = diff_schemas(json.dumps(V1), v2)
    assert not diff["backward_compatible"] and diff["forward_compatible"]
    assert not allowed("BACKWARD", diff) and allowed("FORWARD", diff) and allowed("NONE", diff)


def test_changed_and_removed_fields() -> None:
    v2 = _with(fields=[{"name": "a", "type": "string", "doc": "now documented"}], doc="x")
    diff = diff_schemas(json.dumps(V1), v2)
    assert [f["name"] for f in diff["removed"]] == ["b"]
    assert diff["changed"] == [
        {"name": "a", "changed": ["doc"], "from": {"doc": None}, "to": {"doc": "now documented"}}
    ]
    assert diff["record_changes"] == ["doc"]
