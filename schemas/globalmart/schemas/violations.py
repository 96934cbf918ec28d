"""One problem found in the contracts: subject, version, field and rule, so the fix is obvious."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Violation:
    #: the subject (or subjects, comma-separated) the schema is registered under
    subject: str
    #: the version at fault; 0 when the problem is not about one version
    version: int
    #: dotted field path (e.g. items.quantity); "" when the problem is about the whole schema
    field: str
    #: the rule broken: a compatibility mode (BACKWARD_TRANSITIVE, ...) or a convention name
    rule: str
    message: str

    def __str__(self) -> str:
        where = self.subject + (f" v{self.version}" if self.version else "")
        field = f" field '{self.field}'" if self.field else ""
        return f"{where}{field} [{self.rule}]: {self.message}"
