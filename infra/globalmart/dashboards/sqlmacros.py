"""Grafana's PostgreSQL macros rendered as plain SQL, so a test can run a panel's query.

Grafana expands `$__timeFilter(col)` and friends before sending a query; psql and psycopg do not.
`to_postgres` does the same expansion for a time range given as two SQL expressions (by default
the last hour), following Grafana's own rendering:

  $__time(col)                    col AS "time"
  $__timeEpoch(col)               extract(epoch from col) AS "time"
  $__timeFilter(col)              col BETWEEN <from> AND <to>
  $__timeFrom() / $__timeTo()     <from> / <to>
  $__timeGroup(col, '5m')         to_timestamp(floor(extract(epoch from col)/300)*300)
  $__timeGroupAlias(col, '5m')    the same, AS "time"
  $__unixEpochFilter(col)         col >= extract(epoch from <from>) AND col <= extract(...<to>)
  $__interval / $__interval_ms    the interval given (default 1 minute)
  $name / ${name}                 a dashboard variable, from `variables`

Grafana's `$__timeGroup` returns epoch seconds; `to_timestamp` keeps the column a timestamptz here,
which Grafana accepts the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

DEFAULT_FROM = "(now() - interval '1 hour')"
DEFAULT_TO = "now()"

_MACRO = re.compile(r"\$__(\w+)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$([A-Za-z_]\w*)")
_DURATION = re.compile(r"^\s*'?\s*(\d+)\s*(ms|s|m|h|d|w)\s*'?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class MacroError(ValueError):
    """A macro this translator (and so probably Grafana) cannot expand."""


def duration_seconds(text: str) -> float:
    """'5m' (quoted or not) as seconds."""
    match = _DURATION.match(text)
    if not match:
        raise MacroError(f"not a duration: {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def split_args(text: str) -> list[str]:
    """Split macro arguments on top-level commas (commas inside () or quotes stay)."""
    args: list[str] = []
    depth, quote = 0, ""
    current: list[str] = []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    tail = "".join(current).strip()
    if tail or args:
        args.append(tail)
    return args


def _call_args(sql: str, start: int) -> tuple[list[str], int]:
    """The arguments of a call whose '(' is at `start`, and the index after its ')'."""
    depth, quote = 0, ""
    for index in range(start, len(sql)):
        char = sql[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return split_args(sql[start + 1 : index]), index + 1
    raise MacroError(f"unbalanced parentheses after position {start}")


def to_postgres(
    sql: str,
    *,
    time_from: str = DEFAULT_FROM,
    time_to: str = DEFAULT_TO,
    interval: str = "1m",
    variables: Mapping[str, str] | None = None,
) -> str:
    """`sql` with every Grafana macro and variable expanded; MacroError for unknown ones."""

    def group(args: list[str]) -> str:
        if len(args) < 2:
            raise MacroError("$__timeGroup needs (column, interval)")
        seconds = duration_seconds(args[1])
        step = f"{seconds:g}"
        return f"to_timestamp(floor(extract(epoch from {args[0]})/{step})*{step})"

    expanders: dict[str, Callable[[list[str]], str]] = {
        "time": lambda a: f'{_one(a, "time")} AS "time"',
        "timeEpoch": lambda a: f'extract(epoch from {_one(a, "timeEpoch")}) AS "time"',
        "timeFilter": lambda a: f"{_one(a, 'timeFilter')} BETWEEN {time_from} AND {time_to}",
        "timeFrom": lambda a: time_from,
        "timeTo": lambda a: time_to,
        "timeGroup": group,
        "timeGroupAlias": lambda a: f'{group(a)} AS "time"',
        "unixEpochFilter": lambda a: (
            f"{_one(a, 'unixEpochFilter')} >= extract(epoch from {time_from}) AND "
            f"{_one(a, 'unixEpochFilter')} <= extract(epoch from {time_to})"
        ),
    }
    plain = {
        "interval": f"'{interval}'",
        "interval_ms": f"{duration_seconds(interval) * 1000:g}",
    }
    out: list[str] = []
    position = 0
    for match in _MACRO.finditer(sql):
        if match.start() < position:
            continue  # inside a macro call already expanded
        name = match.group(1)
        out.append(sql[position : match.start()])
        if name in expanders:
            rest = sql[match.end() :]
            if not rest.lstrip().startswith("("):
                raise MacroError(f"$__{name} needs parentheses")
            paren = match.end() + (len(rest) - len(rest.lstrip()))
            args, position = _call_args(sql, paren)
            out.append(expanders[name](args))
        elif name in plain:
            out.append(plain[name])
            position = match.end()
        else:
            raise MacroError(f"unknown Grafana macro $__{name}")
    out.append(sql[position:])
    return _expand_variables("".join(out), variables or {})


def _one(args: list[str], macro: str) -> str:
    if len(args) != 1 or not args[0]:
        raise MacroError(f"$__{macro} takes exactly one column")
    return args[0]


def _expand_variables(sql: str, variables: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise MacroError(f"dashboard variable ${name} has no test value")
        return variables[name]

    return _VARIABLE.sub(replace, sql)
