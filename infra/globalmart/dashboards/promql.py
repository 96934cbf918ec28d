"""Which metric names a PromQL expression reads: enough of PromQL's grammar to find them.

Dashboards must only chart metrics some service exports; this finds the names to check. It is a
scanner, not a parser: it blanks out what cannot hold a metric name (strings, label matchers,
ranges, label lists of `by`/`on`/...), then keeps the identifiers that are not functions,
keywords or Grafana variables.
"""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_VARIABLE = re.compile(r"\$(?:\{[^}]*\}|\w+)")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)(?:[smhdwy]|ms)?")
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")

#: words that look like identifiers but are operators, modifiers or literals
KEYWORDS = frozenset(
    {
        "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
        "group_left", "group_right", "atan2", "inf", "nan", "start", "end",
    }
)  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects, e.g. {"up"} for `sum by (job) (up{job="kafka"})`."""
    names: set[str] = set()
    text = _VARIABLE.sub(" ", expr)
    # {__name__="x"} selects by name; read those before the matchers are blanked.
    for braces in _BRACES.findall(_STRING.sub(_keep_name_strings, text)):
        names.update(_NAME_MATCHER.findall(braces))
    text = _STRING.sub(" ", text)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        word = match.group(0)
        if word.lower() in KEYWORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or aggregation: rate(...), sum(...), histogram_quantile(...)
        names.add(word)
    return names


def _keep_name_strings(match: re.Match[str]) -> str:
    # Strings stay as they are for the __name__ pass; only braces inside them are neutralised.
    return match.group(0).replace("{", " ").replace("}", " ")
