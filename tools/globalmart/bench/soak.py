"""`bench soak`: a generator rate held for minutes with the 5 stream jobs running, ending in the
reconciliation of every event through Kafka, the archive, the real-time tables and the warehouse.

A warm-up run (5 s of input, reconciled too) goes first and must be caught up with before the
measured run starts: the queries' first batches compile code, which is not what a soak measures.

Every `sample_s` seconds it records each query's consumer lag (records in its topic not yet
committed) and the resident memory of each component: the stack's own processes (the pids
`stack status --json` reports) and the stream driver with its JVM. Verdicts, after a warm-up
(the first quarter of the run, when Spark compiles the queries):

- lag bounded: no sample above `max_lag_s` seconds of input (rate x max_lag_s records), and the
  last third's median no higher than the first third's plus half that bound (no upward drift);
- memory bounded: per component, the median of the last quarter at most `rss_growth` x the
  median of the second quarter, plus 64 MiB of slack (a JVM's heap breathes);
- then the driver catches up and the reconciliation must find every event exactly once.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from globalmart.bench.pipeline import Pipeline, component_pids, rss_of_tree
from globalmart.core.settings import Settings

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_lag_s: float = 30.0
    rss_growth: float = 1.5
    rss_slack_bytes: int = 64 * MIB


def sample(pipeline: Pipeline, pids: dict[str, int], started: float) -> dict[str, Any]:
    rss = {name: rss_of_tree(pid) for name, pid in pids.items()}
    if pipeline.driver_pid is not None:
        rss["stream-driver"] = rss_of_tree(pipeline.driver_pid)
    return {"t": round(time.monotonic() - started, 1), "lag": pipeline.lag(), "rss": rss}


def verdicts(samples: list[dict[str, Any]], rate: float, limits: Limits) -> dict[str, Any]:
    """Lag and memory bounds over the samples after the warm-up quarter."""
    steady = samples[len(samples) // 4 :]
    if len(steady) < 4:
        return {"lag_bounded": False, "rss_bounded": False, "why": "fewer than 4 samples"}
    worst = [max(s["lag"].values()) for s in steady]
    bound = rate * limits.max_lag_s
    quarter = max(1, len(steady) // 3)
    early, late = worst[:quarter], worst[-quarter:]
    # lag is a sawtooth (one batch's worth); drift is a rise of the medians by half the bound
    drift_ok = statistics.median(late) <= statistics.median(early) + bound / 2
    lag = {
        "bound_records": int(bound),
        "max_records": max(worst),
        "max_seconds_of_input": round(max(worst) / rate, 1) if rate else None,
        "median_records": int(statistics.median(worst)),
        "no_upward_drift": drift_ok,
    }
    memory: dict[str, Any] = {}
    for name in samples[-1]["rss"]:
        series = [s["rss"].get(name) for s in steady if s["rss"].get(name)]
        if len(series) < 4:
            continue
        q = max(1, len(series) // 3)
        base, end = statistics.median(series[:q]), statistics.median(series[-q:])
        memory[name] = {
            "start_mib": round(base / MIB),
            "end_mib": round(end / MIB),
            "max_mib": round(max(series) / MIB),
            "bounded": end <= base * limits.rss_growth + limits.rss_slack_bytes,
        }
    return {
        "lag": lag,
        "lag_bounded": max(worst) <= bound and drift_ok,
        "rss": memory,
        "rss_bounded": bool(memory) and all(m["bounded"] for m in memory.values()),
    }


def run_soak(
    settings: Settings,
    rate: float,
    seconds: float,
    seed: int = 11,
    sample_s: float = 5.0,
    limits: Limits = Limits(),
    pipeline: Pipeline | None = None,
    spark: Any = None,
    progress: Any = print,
    live: bool = False,
) -> dict[str, Any]:
    """Run the soak (own private topics and schemas unless `pipeline` is given) and return its
    figures and verdicts; `result["ok"]` is the overall outcome. `live` reconciles Kafka and the
    real-time tables only and leaves the driver running (the chaos tests carry on with it)."""
    own = pipeline is None
    if pipeline is None:
        workdir = Path(tempfile.mkdtemp(prefix="gm-soak-", dir=_scratch_root(settings)))
        pipeline = Pipeline(settings, workdir)
        pipeline.create()
    own_spark = spark is None
    try:
        if pipeline.driver_pid is None:
            progress("starting the stream driver")
            pipeline.start_driver()
        pids = component_pids(settings)
        # warm-up, not measured: the first batches compile each query's code
        warm = pipeline.options(seed + 10_000, max(100, int(rate * 5)), rate)
        progress(f"warm-up: {warm.count:,} events, until the queries caught up")
        pipeline.generate(warm)
        pipeline.wait_caught_up(timeout=600)
        options = pipeline.options(seed, int(rate * seconds), rate)
        progress(f"generating {options.count:,} events at {rate:,.0f}/s (seed {seed})")
        thread = pipeline.generate_in_background(options)
        samples: list[dict[str, Any]] = []
        started = time.monotonic()
        while thread.is_alive():
            samples.append(sample(pipeline, pids, started))
            if len(samples) % 12 == 0:
                s = samples[-1]
                progress(f"t={s['t']:.0f}s lag={max(s['lag'].values())} rss={_mib(s['rss'])}")
            thread.join(sample_s)
        errors = getattr(thread, "errors", [])
        if errors:
            raise errors[0]
        summary = pipeline.summaries[-1]
        result: dict[str, Any] = {
            "rate": rate,
            "seconds": seconds,
            "events": options.count,
            "generator": {
                "ok": summary.ok,
                "delivered": summary.delivered,
                "achieved_rate": round(summary.totals.get("generated", 0) / summary.send_s, 1)
                if summary.send_s
                else None,
            },
            **verdicts(samples, rate, limits),
        }
        progress("draining, then reconciling every layer")
        clock = time.monotonic()
        pipeline.wait_caught_up()
        result["drain_s"] = round(time.monotonic() - clock, 1)
        if live:
            report = pipeline.reconcile_live()
            result["reconciliation"] = report.as_dict()
        else:
            if spark is None:
                from globalmart.spark.session import get_spark

                spark = get_spark("globalmart-soak-reconcile", settings)
            report, figures = pipeline.reconcile_all(spark)
            result["reconciliation"] = report.as_dict()
            result["reconciliation"].update(figures)
        result["samples"] = samples
        result["ok"] = bool(
            summary.ok and result["lag_bounded"] and result["rss_bounded"] and report.ok
        )
        return result
    finally:
        if own_spark and spark is not None:
            spark.stop()
        if own:
            pipeline.drop()


def _mib(rss: dict[str, int | None]) -> str:
    return ",".join(f"{k}:{(v or 0) // MIB}M" for k, v in rss.items())


def _scratch_root(settings: Settings) -> str:
    from globalmart.stack.base import StatePaths

    root = StatePaths(settings.globalmart_state_dir).data / "soak"
    root.mkdir(parents=True, exist_ok=True)
    return str(root)
