"""`schemas check`, offline: layout, conventions, released versions unchanged, policy complete, and
every candidate version compatible with its history under its subject's mode."""

from __future__ import annotations

from dataclasses import dataclass, field

from globalmart.schemas import compat, lint, manifest
from globalmart.schemas.catalog import Catalog
from globalmart.schemas.policy import Policy
from globalmart.schemas.violations import Violation


@dataclass
class CheckReport:
    violations: list[Violation] = field(default_factory=list)
    #: (subject label, version) of each candidate checked for compatibility
    candidates: list[tuple[str, int]] = field(default_factory=list)
    schemas: int = 0
    versions: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


def run_checks(catalog: Catalog, policy: Policy) -> CheckReport:
    report = CheckReport(schemas=len(catalog.entries))
    report.versions = sum(len(e.versions) for e in catalog)
    found = [*catalog.problems, *policy.verify(catalog), *manifest.verify(catalog)]
    found.extend(lint.lint(catalog))
    for entry in catalog:
        pending = manifest.candidates(entry, catalog.released)
        report.candidates.extend((entry.label, n) for n in pending)
        mode = policy.mode_for(entry)
        if mode is not None and pending:
            found.extend(compat.check_entry(entry, mode, pending))
    report.violations = sorted(set(found))
    return report
