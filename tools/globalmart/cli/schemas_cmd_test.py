from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from globalmart.cli.main import app
from globalmart.schemas.testing import SchemaTree, field_of, sample_event

runner = CliRunner()


@pytest.fixture
def tree(tmp_path: Path) -> SchemaTree:
    tree = SchemaTree(tmp_path)
    tree.write(sample_event(), 1)
    tree.release()
    return tree


def check(tree: SchemaTree) -> list[str]:
    return ["schemas", "check", "--schemas-dir", str(tree.avro), "--policy", str(tree.policy_file)]


def test_check_passes_on_the_shipped_tree() -> None:
    result = runner.invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "schemas check passed" in result.output


def test_check_fails_naming_subject_field_and_rule(tree: SchemaTree) -> None:
    tree.evolve(sample_event(), 2, lambda s: field_of(s, "quantity").update(type="int"))
    result = runner.invoke(app, check(tree))
    assert result.exit_code == 1
    assert "orders-topic-value v2 field 'quantity' [FULL_TRANSITIVE]" in result.output
    assert "schemas check failed" in result.output


def test_check_fails_on_an_edited_release(tree: SchemaTree) -> None:
    edited = sample_event()
    edited["doc"] = "Edited after release."
    tree.write(edited, 1)
    result = runner.invoke(app, check(tree))
    assert result.exit_code == 1
    assert "orders-topic-value v1 [immutable]" in result.output


def test_release_freezes_candidates_that_pass(tree: SchemaTree) -> None:
    tree.evolve(sample_event(), 2, lambda s: None)
    args = [
        "schemas",
        "release",
        "--schemas-dir",
        str(tree.avro),
        "--policy",
        str(tree.policy_file),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "released events/order/v2" in result.output
    released = json.loads((tree.avro / "released.json").read_text())["released"]
    assert set(released) == {"events/order/v1", "events/order/v2"}


def test_release_refuses_a_broken_candidate(tree: SchemaTree) -> None:
    tree.evolve(sample_event(), 2, lambda s: s["fields"].remove(field_of(s, "quantity")))
    args = [
        "schemas",
        "release",
        "--schemas-dir",
        str(tree.avro),
        "--policy",
        str(tree.policy_file),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "nothing released" in result.output
    assert "events/order/v2" not in (tree.avro / "released.json").read_text()


def test_list_shows_every_subject_with_its_mode() -> None:
    result = runner.invoke(app, ["schemas", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for subject in ("transactions-topic-value", "sales_per_minute", "dim_customer"):
        assert subject in result.output
    assert "FULL_TRANSITIVE" in result.output


def test_show_prints_the_schema_and_its_facts() -> None:
    result = runner.invoke(app, ["schemas", "show", "transactions-topic-value", "--version", "1"])
    assert result.exit_code == 0, result.output
    assert '"name": "transaction"' in result.output
    assert "FULL_TRANSITIVE" in result.output
    missing = runner.invoke(app, ["schemas", "show", "no-such-subject"])
    assert missing.exit_code == 1 and "no subject or schema" in missing.output


def test_ddl_prints_both_databases_or_one() -> None:
    result = runner.invoke(app, ["schemas", "ddl"])
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE IF NOT EXISTS sales_per_minute (" in result.output
    assert "CREATE TABLE IF NOT EXISTS fact_sales (" in result.output
    only = runner.invoke(app, ["schemas", "ddl", "--database", "warehouse"])
    assert "sales_per_minute" not in only.output and "dim_date" in only.output
    bad = runner.invoke(app, ["schemas", "ddl", "--database", "nope"])
    assert bad.exit_code == 2
