"""Compatibility policy: each subject's mode and the reason for it.

Read from compatibility.toml in the `globalmart.contracts` package (contracts/globalmart/contracts).

A kind sets the mode of all its schemas; a `[subjects.<name>]` table overrides one schema (by
subject or record name). Every mode carries a reason: the policy documents *why* as well as *what*.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from globalmart.schemas.catalog import KINDS, Catalog, SchemaEntry
from globalmart.schemas.violations import Violation

MODES: tuple[str, ...] = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
#: kinds whose data lives on in topics and archives: old data must stay readable forever
MINIMUM_TRANSITIVE: dict[str, tuple[str, ...]] = {
    "events": ("BACKWARD_TRANSITIVE", "FULL_TRANSITIVE"),
    "deadletter": ("BACKWARD_TRANSITIVE", "FULL_TRANSITIVE"),
}
POLICY_FILE = "compatibility.toml"


def default_policy_file() -> Traversable:
    return resources.files("globalmart.contracts") / POLICY_FILE


@dataclass(frozen=True)
class Mode:
    mode: str
    reason: str
    #: where the mode comes from: "kind events" or "subject alerts"
    source: str

    @property
    def backward(self) -> bool:
        return self.mode.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.mode.startswith(("FORWARD", "FULL"))

    @property
    def transitive(self) -> bool:
        return self.mode.endswith("_TRANSITIVE")


@dataclass
class Policy:
    kinds: dict[str, Mode]
    subjects: dict[str, Mode]
    problems: list[Violation]

    def mode_for(self, entry: SchemaEntry) -> Mode | None:
        for name in (*entry.subjects, entry.name):
            if name in self.subjects:
                return self.subjects[name]
        return self.kinds.get(entry.kind)

    def verify(self, catalog: Catalog) -> list[Violation]:
        """Every schema has a mode; overrides name real subjects; topic data stays readable."""
        problems = list(self.problems)
        known = {n for e in catalog for n in (*e.subjects, e.name)}
        for name in sorted(set(self.subjects) - known):
            problems.append(Violation(name, 0, "", "policy", "override names no known subject"))
        for entry in catalog:
            mode = self.mode_for(entry)
            if mode is None:
                problems.append(
                    Violation(
                        entry.label, 0, "", "policy", f"no compatibility mode for {entry.kind}"
                    )
                )
            elif (
                entry.kind in MINIMUM_TRANSITIVE and mode.mode not in MINIMUM_TRANSITIVE[entry.kind]
            ):
                allowed = " or ".join(MINIMUM_TRANSITIVE[entry.kind])
                problems.append(
                    Violation(
                        entry.label, 0, "", "policy", f"{mode.mode} is too weak; use {allowed}"
                    )
                )
        return problems


def load_policy(source: Traversable | None = None) -> Policy:
    source = source if source is not None else default_policy_file()
    problems: list[Violation] = []
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return Policy({}, {}, [Violation(POLICY_FILE, 0, "", "policy", f"unreadable: {exc}")])

    def parse(table: object, source_name: str) -> Mode | None:
        if not isinstance(table, dict):
            problems.append(Violation(source_name, 0, "", "policy", "expected a table"))
            return None
        mode, reason = str(table.get("mode", "")), str(table.get("reason", "")).strip()
        if mode not in MODES:
            problems.append(
                Violation(source_name, 0, "", "policy", f"mode {mode!r} is not one of {MODES}")
            )
            return None
        if not reason:
            problems.append(Violation(source_name, 0, "", "policy", "every mode needs a reason"))
            return None
        return Mode(mode, " ".join(reason.split()), source_name)

    kinds: dict[str, Mode] = {}
    for kind, table in dict(data.get("kinds", {})).items():
        if kind not in KINDS:
            problems.append(Violation(kind, 0, "", "policy", f"unknown kind; kinds are {KINDS}"))
            continue
        if (mode := parse(table, f"kind {kind}")) is not None:
            kinds[kind] = mode
    subjects: dict[str, Mode] = {}
    for subject, table in dict(data.get("subjects", {})).items():
        if (mode := parse(table, f"subject {subject}")) is not None:
            subjects[subject] = mode
    return Policy(kinds, subjects, problems)
