"""The contracts in the real Apicurio Registry: register, fetch back, rules, and CI's verdict.

Each test works under its own prefix (`unique_name`), so parallel runs and the real subjects never
meet; what it created is deleted afterwards when the registry allows deletion.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from globalmart.core.settings import Settings
from globalmart.schemas.catalog import Catalog, canonical_json, load_catalog
from globalmart.schemas.policy import load_policy
from globalmart.schemas.registry import (
    Naming,
    Registry,
    RegistryError,
    fetch,
    register_all,
    registered,
    registry_check,
    registry_text,
)
from globalmart.schemas.testing import SchemaTree, field_of, sample_event, sample_table
from globalmart.stack.testing import unique_name

Require = Callable[..., Settings]


@pytest.fixture
def registry(live_stack: Require) -> Iterator[Registry]:
    settings = live_stack("apicurio")
    with Registry.from_settings(settings) as client:
        yield client


@pytest.fixture
def naming(registry: Registry) -> Iterator[Naming]:
    naming = Naming(unique_name("test") + "-")
    yield naming
    _forget(registry, load_catalog(), naming)


def _forget(registry: Registry, catalog: Catalog, naming: Naming) -> None:
    for subject, entry in catalog.subjects():
        if entry.uses_ccompat:
            registry.delete_artifact(naming.group(entry), naming.artifact(entry, subject))
    for kind in ("reference", "realtime", "warehouse"):
        registry.delete_group(f"{naming.prefix}globalmart.{kind}")


def test_register_every_subject_and_fetch_it_back(registry: Registry, naming: Naming) -> None:
    catalog, policy = load_catalog(), load_policy()
    first = register_all(registry, catalog, policy, naming)
    assert len(first) == sum(len(e.versions) * len(e.subjects) for e in catalog)
    assert {r.status for r in first} == {"created"}

    again = register_all(registry, catalog, policy, naming)
    assert {r.status for r in again} == {"unchanged"}

    for subject, entry in catalog.subjects():
        group, artifact = naming.group(entry), naming.artifact(entry, subject)
        text = fetch(registry, entry, group, artifact, entry.latest.version)
        assert canonical_json(json.loads(text)) == entry.latest.canonical, subject

    for row in registered(registry, catalog, naming):
        entry = catalog.by_subject(row.subject.removeprefix(naming.prefix))
        mode = policy.mode_for(entry)
        assert mode is not None
        assert row.versions == entry.version_numbers
        assert row.rules == {"COMPATIBILITY": mode.mode, "VALIDITY": "FULL"}, row.subject


def test_events_are_confluent_subjects_a_serializer_finds(
    live_stack: Require, registry: Registry, naming: Naming
) -> None:
    settings = live_stack("apicurio")
    catalog = load_catalog()
    register_all(registry, catalog, load_policy(), naming)
    client = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
    subject = naming.subject("transactions-topic-value")
    assert subject in client.get_subjects()
    latest = client.get_latest_version(subject)
    version = catalog.entry("transaction").latest
    assert latest.schema.schema_str is not None
    assert canonical_json(json.loads(latest.schema.schema_str)) == version.canonical
    # What AvroSerializer does with auto.register.schemas=False: look the exact text up.
    found = client.lookup_schema(subject, Schema(registry_text(version), "AVRO"))
    assert found.schema_id == latest.schema_id and found.version == 1


def test_a_changed_release_is_refused_by_register(
    tmp_path: Path, registry: Registry, naming: Naming
) -> None:
    tree = SchemaTree(tmp_path)
    tree.write(sample_table(), 1)
    register_all(registry, tree.catalog(), tree.policy(), naming)
    edited = sample_table()
    edited["doc"] = "Edited in place."
    tree.write(edited, 1)
    with pytest.raises(RegistryError, match="different content"):
        register_all(registry, tree.catalog(), tree.policy(), naming)
    _forget(registry, tree.catalog(), naming)


def test_registry_rules_reject_a_broken_candidate(tmp_path: Path, registry: Registry) -> None:
    tree = SchemaTree(tmp_path)
    tree.write(sample_event(), 1)
    tree.write(sample_table(), 1)
    tree.release()
    tree.evolve(sample_event(), 2, lambda s: field_of(s, "quantity").update(type="int"))
    tree.evolve(sample_table(), 2, lambda s: s["fields"].append(_added_without_default()))

    result = registry_check(registry, tree.catalog(), tree.policy())
    assert sorted(result.checked) == [("orders-topic-value", 2), ("orders_per_minute", 2)]
    found = {(v.subject, v.version, v.field, v.rule) for v in result.violations}
    assert ("orders-topic-value", 2, "quantity", "FULL_TRANSITIVE") in found
    assert any(
        v.subject == "orders_per_minute" and v.rule == "BACKWARD_TRANSITIVE"
        for v in result.violations
    ), result.violations
    # The offline checker agrees on the same tree.
    offline = {(v.subject, v.field) for v in tree.check().violations}
    assert ("orders-topic-value", "quantity") in offline
    assert ("orders_per_minute", "discount_count") in offline


def test_registry_names_a_removed_field(tmp_path: Path, registry: Registry) -> None:
    # The registry locates a forward failure in the *old* schema; it must still name the field.
    tree = SchemaTree(tmp_path)
    tree.write(sample_event(), 1)
    tree.release()
    tree.evolve(sample_event(), 2, lambda s: s["fields"].remove(field_of(s, "quantity")))
    result = registry_check(registry, tree.catalog(), tree.policy())
    assert [(v.field, v.rule) for v in result.violations] == [("quantity", "FULL_TRANSITIVE")]


def test_registry_accepts_a_compatible_candidate(tmp_path: Path, registry: Registry) -> None:
    tree = SchemaTree(tmp_path)
    tree.write(sample_event(), 1)
    tree.release()
    optional = {"name": "coupon", "type": ["null", "string"], "default": None, "doc": "Coupon."}
    tree.evolve(sample_event(), 2, lambda s: s["fields"].append(optional))
    result = registry_check(registry, tree.catalog(), tree.policy())
    assert result.violations == [] and result.checked == [("orders-topic-value", 2)]


def test_released_history_is_not_judged_again(tmp_path: Path, registry: Registry) -> None:
    # Like the offline check: only candidates are held to the (possibly newer) policy. v2 broke
    # BACKWARD but was released; v3 is only judged against v2 under (non-transitive) BACKWARD.
    tree = SchemaTree(tmp_path, {"realtime": "BACKWARD"})
    tree.write(sample_table(), 1)
    v2 = tree.evolve(sample_table(), 2, lambda s: s["fields"].append(_added_without_default()))
    tree.release()
    optional = {"name": "coupon", "type": ["null", "string"], "default": None, "doc": "Coupon."}
    tree.evolve(v2, 3, lambda s: s["fields"].append(optional))
    result = registry_check(registry, tree.catalog(), tree.policy())
    assert result.violations == [] and result.checked == [("orders_per_minute", 3)]
    assert tree.check().ok


def test_the_shipped_tree_passes_the_registry_check(registry: Registry) -> None:
    result = registry_check(registry, load_catalog(), load_policy())
    assert result.violations == []


def _added_without_default() -> dict[str, object]:
    return {"name": "discount_count", "type": "long", "doc": "Discounts."}
