from __future__ import annotations

from pathlib import Path

from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.policy import load_policy
from globalmart.schemas.testing import SchemaTree, sample_event


def test_shipped_policy_covers_every_subject_with_a_reason() -> None:
    catalog, policy = load_catalog(), load_policy()
    assert policy.verify(catalog) == []
    for entry in catalog:
        mode = policy.mode_for(entry)
        assert mode is not None and len(mode.reason) > 40, entry.name
    events = policy.mode_for(catalog.entry("transaction"))
    assert events is not None and events.mode == "FULL_TRANSITIVE"


def test_subject_override_beats_kind() -> None:
    catalog, policy = load_catalog(), load_policy()
    ledger = policy.mode_for(catalog.entry("stream_batch_ledger"))
    assert ledger is not None and ledger.source == "subject stream_batch_ledger"


def test_bad_policies_are_reported(tmp_path: Path) -> None:
    tree = SchemaTree(tmp_path)
    tree.write(sample_event(), 1)
    tree.policy_file.write_text(
        '[kinds.events]\nmode = "SIDEWAYS"\nreason = "x"\n'
        '[kinds.stuff]\nmode = "FULL"\nreason = "x"\n'
        '[subjects.ghost]\nmode = "FULL"\nreason = "x"\n'
        '[subjects.orders-topic-value]\nmode = "FULL"\nreason = ""\n'
    )
    messages = " | ".join(str(v) for v in tree.check().violations)
    assert "SIDEWAYS" in messages
    assert "unknown kind" in messages
    assert "override names no known subject" in messages
    assert "every mode needs a reason" in messages
    assert "no compatibility mode for events" in messages


def test_unreadable_policy_is_one_clear_problem(tmp_path: Path) -> None:
    tree = SchemaTree(tmp_path)
    tree.policy_file.write_text("[kinds.events\n")
    assert [v.rule for v in tree.policy().problems] == ["policy"]
