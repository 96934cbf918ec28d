"""`bench all`: the four benchmarks in one run, written as a JSON result and a Markdown report.

Each bench is its own module's function (nothing copied here); this module only runs them in
order, keeps going when one fails (its error is part of the result), and adds what a reader
needs to judge the figures: the machine (cores, memory, CPU model, load before and after), the
versions of every component, and each bench's headline figures next to the baseline measured in
the same run (Kafka's ProducerPerformance, DuckDB, a bare Redis GET) or, for the stream bench
which has no in-run baseline, next to its target.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from globalmart.core.settings import Settings

BENCHES = ("generator", "stream", "batch", "api")


@dataclass(frozen=True)
class Sizes:
    """How much each bench does; `quick()` for smoke runs (figures are then only indicative)."""

    generator_events: int = 300_000
    generator_rounds: int = 2
    stream_rates: tuple[int, ...] | None = None
    stream_step_seconds: float | None = None

    @classmethod
    def quick(cls) -> Sizes:
        return cls(generator_events=20_000, generator_rounds=1, stream_rates=(1_000,))


def _run_generator(settings: Settings, sizes: Sizes) -> dict[str, Any]:
    from globalmart.bench.generator import run_generator_bench

    return run_generator_bench(
        settings, sizes.generator_events, rounds=sizes.generator_rounds
    ).as_dict()


def _run_stream(settings: Settings, sizes: Sizes) -> dict[str, Any]:
    from globalmart.bench import stream

    return stream.run_stream_bench(
        settings,
        False,
        sizes.stream_rates or stream.RATES,
        sizes.stream_step_seconds or stream.STEP_SECONDS,
    )


def _run_batch(settings: Settings, sizes: Sizes) -> dict[str, Any]:
    from globalmart.bench.batch import run_batch_bench

    return run_batch_bench(settings, False)


def _run_api(settings: Settings, sizes: Sizes) -> dict[str, Any]:
    from globalmart.bench.api import run_api_bench

    return run_api_bench(settings, False)


RUNNERS: dict[str, Callable[[Settings, Sizes], dict[str, Any]]] = {
    "generator": _run_generator,
    "stream": _run_stream,
    "batch": _run_batch,
    "api": _run_api,
}


def parse_only(values: Sequence[str] | None) -> list[str]:
    """`--only stream,api` or `--only stream --only api` -> benches in the canonical order."""
    wanted = {v.strip() for value in values or [] for v in value.split(",") if v.strip()}
    unknown = sorted(wanted - set(BENCHES))
    if unknown:
        raise ValueError(
            f"unknown bench(es) {', '.join(unknown)}: choose from {', '.join(BENCHES)}"
        )
    return [b for b in BENCHES if b in wanted] if wanted else list(BENCHES)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "cpu_model": model or platform.processor() or "unknown",
        "os": f"{platform.system()} {platform.release()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def versions(settings: Settings) -> dict[str, str]:
    """Python and Spark from this interpreter; the services as the stack reports them."""
    found = {"python": platform.python_version()}
    try:
        import pyspark

        found["spark"] = pyspark.__version__
    except ImportError:
        found["spark"] = "not installed"
    from globalmart.stack import stack

    for component in stack.all_components(settings):
        if component.name in ("kafka", "postgres-realtime", "redis", "apicurio"):
            try:
                found[component.name] = component.version
            except Exception as error:  # noqa: BLE001 - a version is informative only
                found[component.name] = f"unknown ({type(error).__name__})"
    return found


def run_all(
    settings: Settings,
    only: Sequence[str] = BENCHES,
    sizes: Sizes = Sizes(),
    quiet: bool = False,
    runners: dict[str, Callable[[Settings, Sizes], dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Run the chosen benches in order; `quiet` sends their own tables to stderr (for --json)."""
    runners = runners or RUNNERS
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "versions": versions(settings),
        "sizes": {k: v for k, v in sizes.__dict__.items()},
        "benches": {},
    }
    for name in only:
        clock = time.monotonic()
        entry: dict[str, Any] = {"load_before": [round(x, 2) for x in os.getloadavg()]}
        target = sys.stderr if quiet else sys.stdout
        try:
            with contextlib.redirect_stdout(target):
                entry["result"] = runners[name](settings, sizes)
            entry["ok"] = True
        except Exception as error:  # noqa: BLE001 - one failing bench must not hide the others
            entry.update(ok=False, error=f"{type(error).__name__}: {error}"[:2000])
        entry["seconds"] = round(time.monotonic() - clock, 1)
        entry["load_after"] = [round(x, 2) for x in os.getloadavg()]
        result["benches"][name] = entry
    result["finished_at"] = datetime.now(UTC).isoformat()
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["headlines"] = headlines(result)
    return result


# -- headline figures and their baselines ---------------------------------------------------


def _ratio(value: Any, baseline: Any) -> float | None:
    try:
        return round(float(value) / float(baseline), 3) if float(baseline) else None
    except (TypeError, ValueError):
        return None


def _row(bench: str, figure: str, value: Any, unit: str, baseline: str, base: Any) -> dict:
    return {
        "bench": bench,
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": base,
        "ratio": _ratio(value, base),
    }


def headlines(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per headline figure: value, the in-run baseline (or target) and their ratio."""
    rows: list[dict[str, Any]] = []
    for name, entry in result.get("benches", {}).items():
        r = entry.get("result")
        if not entry.get("ok") or not isinstance(r, dict):
            continue
        try:
            rows += _bench_headlines(name, r)
        except (KeyError, TypeError) as error:  # a bench changed its figures' names
            rows.append(_row(name, f"figures not found ({error!r})", None, "", "", None))
    return rows


def _bench_headlines(name: str, r: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if name == "generator":
        rows.append(
            _row(
                name,
                "generator events/s",
                r["events_per_second"],
                "events/s",
                "Kafka ProducerPerformance records/s",
                r["kafka_records_per_second"],
            )
        )
    elif name == "stream":
        rows.append(
            _row(
                name,
                "sustained input rate",
                r.get("sustained_events_per_second"),
                "events/s",
                "target",
                r.get("target_events_per_second"),
            )
        )
        rows.append(
            _row(
                name,
                "p95 event-to-row latency at that rate",
                r.get("p95_seconds_at_sustained"),
                "s",
                "target",
                r.get("target_p95_seconds"),
            )
        )
    elif name == "batch":
        rows.append(
            _row(
                name,
                "Spark batch (one day)",
                r["spark_total_s"],
                "s",
                "DuckDB, same aggregates",
                r["duckdb_total_s"],
            )
        )
    elif name == "api":
        cached, floor = r["cached_get"], r["redis_get"]
        rows.append(
            _row(
                name,
                f"cached GET p99 at {r['target_rps']}/s",
                cached["p99_ms"],
                "ms",
                "bare Redis GET p99",
                floor["p99_ms"],
            )
        )
        rows.append(
            _row(
                name,
                "gateway saturation requests/s",
                r["max_rps"],
                "requests/s",
                "bare Redis GETs/s",
                floor["ops_per_s"],
            )
        )
    return rows


# -- the report -----------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def render_markdown(result: dict[str, Any]) -> str:
    """The Markdown report of a `run_all` result (also of one read back from its JSON)."""
    m, v = result.get("machine", {}), result.get("versions", {})
    lines = [
        f"# GlobalMart benchmarks, {result.get('started_at', '?')}",
        "",
        "## Machine",
        "",
        f"- {m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('cpu_model')}"
        f" ({m.get('os')})",
        f"- load average (1, 5, 15 min): {_load(m.get('load_average'))} at the start, "
        f"{_load(m.get('load_average_end'))} at the end",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        "",
        "## Headline figures",
        "",
        "| bench | figure | value | baseline (same run) | baseline value | ratio |",
        "|---|---|---:|---|---:|---:|",
    ]
    for row in result.get("headlines") or headlines(result):
        lines.append(
            f"| {row['bench']} | {row['figure']} | {_fmt(row['value'])} {row['unit']} "
            f"| {row['baseline']} | {_fmt(row['baseline_value'])} {row['unit']} "
            f"| {_fmt(row['ratio'])} |"
        )
    lines += ["", "## Benches", ""]
    for name, entry in result.get("benches", {}).items():
        state = "ok" if entry.get("ok") else "FAILED"
        lines.append(
            f"### {name}: {state} in {_fmt(entry.get('seconds'))} s "
            f"(load {_load(entry.get('load_before'))} -> {_load(entry.get('load_after'))})"
        )
        lines.append("")
        if not entry.get("ok"):
            lines += ["```", str(entry.get("error", "")), "```", ""]
            continue
        lines += ["| figure | value |", "|---|---:|"]
        for key, value in _flatten(entry.get("result") or {}):
            lines.append(f"| {key} | {_fmt(value)} |")
        lines.append("")
    return "\n".join(lines)


def _load(values: Any) -> str:
    return " / ".join(f"{x:.2f}" for x in values) if values else "?"


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested figures as dotted keys; lists of records (the stream's steps) by index."""
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for key, item in value.items():
            out += _flatten(item, f"{prefix}{key}.")
        return out
    if isinstance(value, list) and any(isinstance(x, (dict, list)) for x in value):
        out = []
        for index, item in enumerate(value):
            out += _flatten(item, f"{prefix}{index}.")
        return out
    if isinstance(value, list):
        return [(prefix.rstrip("."), ", ".join(_fmt(x) for x in value))]
    return [(prefix.rstrip("."), value)]


def write_report(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """bench-<UTC time>.json and .md in `out_dir` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(result["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    json_path = out_dir / f"bench-{stamp}.json"
    md_path = out_dir / f"bench-{stamp}.md"
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(result) + "\n")
    return json_path, md_path


def default_out_dir() -> Path:
    from globalmart.stack.base import repo_root

    return repo_root() / "dist" / "bench"
