"""The offline checker on single pairs: which field, which avro rule, both directions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from globalmart.schemas.catalog import SchemaEntry, SchemaVersion, load_catalog
from globalmart.schemas.compat import check_entry, incompatibilities
from globalmart.schemas.policy import Mode
from globalmart.schemas.testing import field_of


def version(data: dict[str, Any], number: int) -> SchemaVersion:
    return SchemaVersion("events", data["name"], number, f"events/x/v{number}.avsc", data)


@pytest.fixture
def transaction() -> dict[str, Any]:
    return copy.deepcopy(load_catalog().entry("transaction").latest.data)


def items_field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return field_of(field_of(schema, "items")["type"]["items"], name)


def test_nested_field_is_named_by_path(transaction: dict[str, Any]) -> None:
    new = copy.deepcopy(transaction)
    items_field(new, "quantity")["type"] = "string"
    (problem,) = incompatibilities(version(new, 2), version(transaction, 1))
    assert problem.field == "items[].quantity"
    assert problem.kind == "type_mismatch"


def test_nullable_field_narrowed_is_named(transaction: dict[str, Any]) -> None:
    old = copy.deepcopy(transaction)
    field_of(old, "session_id")["type"] = ["null", "long"]
    new = copy.deepcopy(transaction)
    field_of(new, "session_id")["type"] = ["null", "int"]
    (problem,) = incompatibilities(version(new, 2), version(old, 1))
    assert problem.field == "session_id"
    assert "int (reader) cannot read long (writer)" in problem.detail


def test_payment_method_enum_can_grow_thanks_to_its_default(transaction: dict[str, Any]) -> None:
    new = copy.deepcopy(transaction)
    field_of(new, "payment_method")["type"]["symbols"].insert(0, "crypto")
    entry = SchemaEntry("events", "transaction", [version(transaction, 1), version(new, 2)])
    entry.subjects = ["transactions-topic-value"]
    assert check_entry(entry, Mode("FULL_TRANSITIVE", "r", "test")) == []


def test_cart_action_enum_cannot_grow_under_full(transaction: dict[str, Any]) -> None:
    old = copy.deepcopy(load_catalog().entry("cart_event").latest.data)
    new = copy.deepcopy(old)
    field_of(new, "action")["type"]["symbols"].append("save_for_later")
    entry = SchemaEntry("events", "cart_event", [version(old, 1), version(new, 2)])
    entry.subjects = ["cart-events-topic-value"]
    (violation,) = check_entry(entry, Mode("FULL_TRANSITIVE", "r", "test"))
    assert violation.field == "action" and "save_for_later" in violation.message
    assert "readers on v1" in violation.message


def test_mode_none_checks_nothing(transaction: dict[str, Any]) -> None:
    new = copy.deepcopy(transaction)
    new["fields"] = new["fields"][:2]
    entry = SchemaEntry("events", "transaction", [version(transaction, 1), version(new, 2)])
    assert check_entry(entry, Mode("NONE", "r", "test")) == []
    assert check_entry(entry, Mode("FORWARD", "r", "test"))
