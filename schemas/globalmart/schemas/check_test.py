"""`schemas check` end to end on throwaway trees: each rejection, and a clean tree passing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.check import run_checks
from globalmart.schemas.policy import load_policy
from globalmart.schemas.testing import SchemaTree, field_of, sample_event, sample_table
from globalmart.schemas.violations import Violation

SUBJECT = "orders-topic-value"


@pytest.fixture
def tree(tmp_path: Path) -> SchemaTree:
    tree = SchemaTree(tmp_path)
    tree.write(sample_event(), 1)
    tree.write(sample_table(), 1)
    tree.release()
    return tree


def only(violations: list[Violation]) -> Violation:
    assert len(violations) == 1, "\n".join(map(str, violations))
    return violations[0]


def test_the_shipped_tree_is_clean() -> None:
    report = run_checks(load_catalog(), load_policy())
    assert report.ok, "\n".join(map(str, report.violations))
    assert report.schemas >= 3 + 1 + 4 + 21


def test_clean_tree_with_a_compatible_candidate_passes(tree: SchemaTree) -> None:
    def add_optional_field(schema: dict[str, Any]) -> None:
        schema["fields"].append(
            {"name": "coupon", "type": ["null", "string"], "default": None, "doc": "Coupon code."}
        )

    tree.evolve(sample_event(), 2, add_optional_field)
    report = tree.check()
    assert report.ok, "\n".join(map(str, report.violations))
    assert report.candidates == [(SUBJECT, 2)]


def test_field_removed_without_default_is_rejected(tree: SchemaTree) -> None:
    tree.evolve(sample_event(), 2, lambda s: s["fields"].remove(field_of(s, "quantity")))
    violation = only(tree.check().violations)
    assert (violation.subject, violation.version, violation.field) == (SUBJECT, 2, "quantity")
    assert violation.rule == "FULL_TRANSITIVE"
    assert "reader_field_missing_default_value" in violation.message
    assert "readers on v1 cannot read data written with v2" in violation.message
    # The message names subject, field and rule in one line.
    assert str(violation).startswith(f"{SUBJECT} v2 field 'quantity' [FULL_TRANSITIVE]")


def test_field_removed_is_fine_under_backward(tree: SchemaTree) -> None:
    # BACKWARD only asks the new schema to read old data: a removed field is simply skipped.
    tree.set_modes({"events": "BACKWARD_TRANSITIVE", "realtime": "BACKWARD_TRANSITIVE"})
    tree.evolve(sample_event(), 2, lambda s: s["fields"].remove(field_of(s, "quantity")))
    assert tree.check().ok


def test_field_added_without_default_is_rejected(tree: SchemaTree) -> None:
    def add(schema: dict[str, Any]) -> None:
        schema["fields"].append({"name": "discount_count", "type": "long", "doc": "Discounts."})

    tree.evolve(sample_table(), 2, add)
    violation = only(tree.check().violations)
    assert (violation.subject, violation.field, violation.rule) == (
        "orders_per_minute",
        "discount_count",
        "BACKWARD_TRANSITIVE",
    )
    assert "v2 cannot read data written with v1" in violation.message


def test_type_narrowed_is_rejected(tree: SchemaTree) -> None:
    tree.evolve(sample_event(), 2, lambda s: field_of(s, "quantity").update(type="int"))
    violation = only(tree.check().violations)
    assert (violation.field, violation.rule) == ("quantity", "FULL_TRANSITIVE")
    assert "type_mismatch" in violation.message
    assert "int (reader) cannot read long (writer)" in violation.message


def test_type_widened_is_rejected_only_when_forward_matters(tree: SchemaTree) -> None:
    tree.evolve(sample_event(), 2, lambda s: field_of(s, "quantity").update(type="double"))
    assert only(tree.check().violations).field == "quantity"  # FULL: v1 readers cannot
    tree.set_modes({"events": "BACKWARD_TRANSITIVE", "realtime": "BACKWARD_TRANSITIVE"})
    assert tree.check().ok  # long -> double is a promotion the new reader performs


def test_enum_symbol_removed_is_rejected(tree: SchemaTree) -> None:
    tree.set_modes({"events": "BACKWARD_TRANSITIVE", "realtime": "BACKWARD_TRANSITIVE"})
    tree.evolve(
        sample_event(), 2, lambda s: field_of(s, "status")["type"]["symbols"].remove("shipped")
    )
    violation = only(tree.check().violations)
    assert (violation.field, violation.rule) == ("status", "BACKWARD_TRANSITIVE")
    assert "missing_enum_symbols" in violation.message
    assert "shipped" in violation.message


def test_enum_symbol_removed_is_fine_with_an_enum_default(tree: SchemaTree) -> None:
    tree.set_modes({"events": "BACKWARD_TRANSITIVE", "realtime": "BACKWARD_TRANSITIVE"})

    def remove_with_default(schema: dict[str, Any]) -> None:
        enum = field_of(schema, "status")["type"]
        enum["symbols"].remove("shipped")
        enum["default"] = "placed"

    tree.evolve(sample_event(), 2, remove_with_default)
    assert tree.check().ok


def test_released_version_edited_is_rejected(tree: SchemaTree) -> None:
    edited = sample_event()
    field_of(edited, "quantity")["doc"] = "Units ordered (a harmless-looking doc edit)."
    tree.write(edited, 1)
    violation = only(tree.check().violations)
    assert (violation.subject, violation.version, violation.rule) == (SUBJECT, 1, "immutable")
    assert "was edited" in violation.message and "v2.avsc" in violation.message


def test_released_version_deleted_is_rejected(tree: SchemaTree) -> None:
    tree.evolve(sample_event(), 2, lambda s: None)
    tree.release()
    (tree.avro / "events" / "order" / "v1.avsc").unlink()
    rules = {v.rule for v in tree.check().violations}
    assert "immutable" in rules and "versions" in rules


def test_transitive_checks_every_earlier_version(tree: SchemaTree) -> None:
    # v2 adds a column with a default; v3 drops the default. v3 reads v2 rows (the column is
    # there) but not v1 rows (it is not): BACKWARD passes, BACKWARD_TRANSITIVE does not.
    extra = {"name": "channel", "type": "string", "default": "web", "doc": "Sales channel."}
    v2 = tree.evolve(sample_table(), 2, lambda s: s["fields"].append(dict(extra)))
    tree.release()
    tree.evolve(v2, 3, lambda s: field_of(s, "channel").pop("default"))
    violation = only(tree.check().violations)
    assert (violation.version, violation.field) == (3, "channel")
    assert "v3 cannot read data written with v1" in violation.message
    tree.set_modes({"events": "FULL_TRANSITIVE", "realtime": "BACKWARD"})
    assert tree.check().ok


def test_decimal_scale_change_is_rejected_although_avro_allows_it(tree: SchemaTree) -> None:
    tree.evolve(sample_table(), 2, lambda s: field_of(s, "revenue")["type"].update(scale=3))
    violation = only(tree.check().violations)
    assert (violation.field, violation.rule) == ("revenue", "logical_type")


def test_primary_key_change_is_rejected(tree: SchemaTree) -> None:
    tree.evolve(sample_table(), 2, lambda s: s["primary_key"].remove("country"))
    violation = only(tree.check().violations)
    assert (violation.subject, violation.rule) == ("orders_per_minute", "primary_key")


def test_only_candidates_are_held_to_the_mode(tree: SchemaTree) -> None:
    # An incompatible v2 that was released under an older policy is history, not a failure.
    tree.evolve(sample_event(), 2, lambda s: field_of(s, "quantity").update(type="int"))
    tree.release()
    assert tree.check().ok


def test_unreleased_version_before_a_released_one_is_rejected(tree: SchemaTree) -> None:
    tree.evolve(sample_event(), 2, lambda s: None)
    tree.release()
    manifest = tree.avro / "released.json"
    manifest.write_text(manifest.read_text().replace('"events/order/v1"', '"events/order/v9"'))
    rules = {v.rule for v in tree.check().violations}
    assert {"versions", "immutable"} <= rules


def test_events_need_a_transitive_mode(tree: SchemaTree) -> None:
    tree.set_modes({"events": "BACKWARD", "realtime": "BACKWARD_TRANSITIVE"})
    violation = only(tree.check().violations)
    assert (violation.subject, violation.rule) == (SUBJECT, "policy")
