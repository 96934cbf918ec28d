"""Which metric names the services export, read from their source and from live endpoints.

Services define metrics with prometheus_client (`Counter("name", ...)`). Reading the definitions
from the source (Python's ast, nothing imported or run) covers services that are not running, or
not yet written to the point of running, when a dashboard is checked. The JVM side (Kafka's JMX
exporter) and Prometheus itself are asked over HTTP: their names come from rules and code we do
not have as Python.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

KINDS = frozenset({"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"})

#: series Prometheus adds for every target it scrapes
SCRAPE_SERIES = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)


@dataclass(frozen=True)
class MetricDefinition:
    kind: str  # Counter, Gauge, ...
    name: str  # as written in the constructor (with namespace/subsystem applied)
    where: str = ""  # file:line, for messages

    def exposed(self) -> set[str]:
        """The sample names prometheus_client exposes for this metric."""
        base = self.name
        if self.kind == "Counter":
            base = base.removesuffix("_total")
            return {f"{base}_total", f"{base}_created"}
        if self.kind == "Histogram":
            return {f"{base}_bucket", f"{base}_count", f"{base}_sum", f"{base}_created"}
        if self.kind == "Summary":
            return {base, f"{base}_count", f"{base}_sum", f"{base}_created"}
        if self.kind == "Info":
            return {f"{base}_info"}
        return {base}


def definitions_in_source(source: str, filename: str = "<source>") -> list[MetricDefinition]:
    """Metrics a module defines; names built from module-level string constants are resolved.

    Raises ValueError for a definition whose name cannot be worked out statically.
    """
    tree = ast.parse(source, filename)
    imported = _prometheus_imports(tree)
    if not imported:
        return []
    constants = _string_constants(tree)
    found: list[MetricDefinition] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        kind = _kind(node.func, imported)
        if kind is None:
            continue
        where = f"{filename}:{node.lineno}"
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        name_node = node.args[0] if node.args else keywords.get("name")
        if name_node is None:
            raise ValueError(f"{where}: {kind} without a name")
        parts = [
            _evaluate(keywords[key], constants, where)
            for key in ("namespace", "subsystem")
            if key in keywords
        ]
        parts.append(_evaluate(name_node, constants, where))
        found.append(MetricDefinition(kind, "_".join(p for p in parts if p), where))
    return found


def definitions_in_tree(roots: Iterable[Path]) -> list[MetricDefinition]:
    """Every metric defined in the non-test Python files under `roots`."""
    found: list[MetricDefinition] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if path.name.endswith("_test.py") or "__pycache__" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            if "prometheus_client" not in text:
                continue
            found.extend(definitions_in_source(text, str(path)))
    return found


def exposed_names(definitions: Iterable[MetricDefinition]) -> set[str]:
    return {name for definition in definitions for name in definition.exposed()}


def names_in_exposition(text: str) -> set[str]:
    """Sample names in a Prometheus text exposition (a /metrics body)."""
    names: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        end = min((i for i in (line.find("{"), line.find(" ")) if i >= 0), default=len(line))
        names.add(line[:end])
    return names


# -- helpers --------------------------------------------------------------------------------------


def _prometheus_imports(tree: ast.Module) -> dict[str, str]:
    """Local names bound to prometheus_client's metric classes: {local: kind}; '' for the module."""
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client":
            for alias in node.names:
                if alias.name in KINDS:
                    imported[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "prometheus_client":
                    imported[alias.asname or alias.name] = ""
    return imported


def _kind(func: ast.expr, imported: dict[str, str]) -> str | None:
    if isinstance(func, ast.Name) and imported.get(func.id):
        return imported[func.id]
    if (
        isinstance(func, ast.Attribute)
        and func.attr in KINDS
        and isinstance(func.value, ast.Name)
        and imported.get(func.value.id) == ""
    ):
        return func.attr
    return None


def _string_constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            for target in targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = value.value
    return constants


def _evaluate(node: ast.expr, constants: dict[str, str], where: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.JoinedStr):
        pieces = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                pieces.append(_evaluate(value.value, constants, where))
            else:
                pieces.append(_evaluate(value, constants, where))
        return "".join(pieces)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _evaluate(node.left, constants, where) + _evaluate(node.right, constants, where)
    raise ValueError(f"{where}: metric name is not a string literal or module constant")
