"""Released versions are immutable: `avro/released.json` records each one's sha256.

A version file listed there may never change or disappear (a changed doc or key counts: the
fingerprint covers the whole JSON, see catalog.canonical_json). A version not listed yet is a
*candidate*: `schemas check` holds it to its subject's compatibility mode, and `schemas release`
adds it to the manifest once it passes. The manifest is committed with the schemas.
"""

from __future__ import annotations

import json
from pathlib import Path

from globalmart.schemas.catalog import MANIFEST_FILE, Catalog, SchemaEntry
from globalmart.schemas.violations import Violation

RULE = "immutable"


def candidates(entry: SchemaEntry, released: dict[str, str]) -> list[int]:
    """The entry's versions not released yet."""
    return [v.version for v in entry.versions if v.release_key not in released]


def verify(catalog: Catalog) -> list[Violation]:
    """Released versions unchanged and present; versions numbered 1..N; candidates come last."""
    problems: list[Violation] = []
    versions = {v.release_key: (e, v) for e in catalog for v in e.versions}
    for key, fingerprint in sorted(catalog.released.items()):
        if key not in versions:
            subject = _subject_of(catalog, key)
            problems.append(
                Violation(subject, _number(key), "", RULE, f"released version {key}.avsc is gone")
            )
            continue
        entry, version = versions[key]
        if version.fingerprint != fingerprint:
            problems.append(
                Violation(
                    entry.label,
                    version.version,
                    "",
                    RULE,
                    f"released version {version.path} was edited (sha256 {version.fingerprint[:12]}"
                    f"… instead of {fingerprint[:12]}…): restore it and put the change in "
                    f"v{entry.latest.version + 1}.avsc",
                )
            )
    for entry in catalog:
        numbers = entry.version_numbers
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(
                Violation(entry.label, 0, "", "versions", f"versions {numbers} are not 1..N")
            )
        pending = candidates(entry, catalog.released)
        released = [n for n in numbers if n not in pending]
        if pending and released and min(pending) < max(released):
            problems.append(
                Violation(
                    entry.label,
                    min(pending),
                    "",
                    "versions",
                    f"v{min(pending)} is unreleased but v{max(released)} is released",
                )
            )
    return problems


def release(catalog: Catalog, root: Path) -> list[str]:
    """Record every candidate's fingerprint in `root/released.json`; returns the keys added."""
    released = dict(catalog.released)
    added = []
    for entry in catalog:
        for version in entry.versions:
            if version.release_key not in released:
                released[version.release_key] = version.fingerprint
                added.append(version.release_key)
    write(root / MANIFEST_FILE, released)
    return added


def write(path: Path, released: dict[str, str]) -> None:
    document = {
        "about": (
            "sha256 of each released schema version (key-sorted compact JSON). Released versions "
            "never change: `schemas check` fails if one does. Add entries with `schemas release`."
        ),
        "released": dict(sorted(released.items())),
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _number(key: str) -> int:
    tail = key.rsplit("/v", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _subject_of(catalog: Catalog, key: str) -> str:
    name = key.split("/")[1] if key.count("/") >= 2 else key
    return catalog.entries[name].label if name in catalog.entries else name
