"""Registry helpers that need no server (the round trips are in tests/globalmart/integration)."""

from __future__ import annotations

import json

from globalmart.schemas.catalog import canonical_json, load_catalog
from globalmart.schemas.registry import Naming, field_at, registry_text


def test_registry_text_is_compact_and_equal_in_content() -> None:
    version = load_catalog().entry("transaction").latest
    text = registry_text(version)
    assert "\n" not in text
    assert canonical_json(json.loads(text)) == version.canonical


def test_field_at_names_fields_from_checker_locations() -> None:
    data = load_catalog().entry("transaction").latest.data
    names = [f["name"] for f in data["fields"]]
    items = names.index("items")
    assert field_at(data, f"/fields/{items}/type") == "items"
    assert field_at(data, f"/fields/{items}/type/items/fields/2/type") == "items[].quantity"
    assert field_at(data, "/fields/99/type") == "/fields/99/type"
    assert field_at(data, "") == ""


def test_naming_prefixes_only_what_it_may() -> None:
    catalog = load_catalog()
    naming = Naming("t-1-")
    event, table = catalog.entry("transaction"), catalog.entry("sales_per_minute")
    # ccompat subjects always live in the default group: the subject carries the prefix.
    assert naming.group(event) == "default"
    assert naming.artifact(event, "transactions-topic-value") == "t-1-transactions-topic-value"
    # Native artifacts keep their name inside a prefixed group.
    assert naming.group(table) == "t-1-globalmart.realtime"
    assert naming.artifact(table, "sales_per_minute") == "sales_per_minute"
