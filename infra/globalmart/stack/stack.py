"""The stack as a whole: its components in start order, and the up/down/status/logs/reset verbs."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from globalmart.core.settings import Settings
from globalmart.stack.base import Component, ComponentStatus, Progress, StackError


def all_components(settings: Settings) -> list[Component]:
    """Every component, in start order (databases before what stores into them)."""
    # Imported here so that a component module's optional imports never break the others.
    from globalmart.stack.apicurio import Apicurio
    from globalmart.stack.ferretdb import FerretDB
    from globalmart.stack.kafka import Kafka
    from globalmart.stack.postgres import Postgres
    from globalmart.stack.prometheus import Prometheus
    from globalmart.stack.redis import Redis
    from globalmart.stack.spark import SparkRuntime

    return [
        Postgres(settings, "warehouse"),
        Postgres(settings, "realtime"),
        Redis(settings),
        FerretDB(settings),
        Kafka(settings),
        Apicurio(settings),
        Prometheus(settings),
        SparkRuntime(settings),
    ]


def component_names(settings: Settings) -> list[str]:
    return [c.name for c in all_components(settings)]


def select(settings: Settings, names: Iterable[str] | None) -> list[Component]:
    components = all_components(settings)
    wanted = list(names or [])
    if not wanted:
        return components
    by_name = {c.name: c for c in components}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise StackError(
            "stack",
            f"unknown component(s): {', '.join(unknown)}",
            f"choose from {', '.join(by_name)}",
        )
    return [c for c in components if c.name in wanted]


def up(settings: Settings, names: Iterable[str] | None, progress: Progress) -> dict[str, float]:
    """Provision and start the chosen components; returns seconds spent per component."""
    timings: dict[str, float] = {}
    for component in select(settings, names):
        started = time.monotonic()
        component.start(progress)
        timings[component.name] = time.monotonic() - started
    return timings


def down(settings: Settings, names: Iterable[str] | None, progress: Progress) -> None:
    """Stop what the stack started, in reverse order."""
    for component in reversed(select(settings, names)):
        component.stop(progress)


def status(settings: Settings, names: Iterable[str] | None = None) -> list[ComponentStatus]:
    return [c.status() for c in select(settings, names)]


def reset(settings: Settings, names: Iterable[str] | None, progress: Progress) -> None:
    """Stop the chosen components and delete their data (provisioned software is kept)."""
    chosen = select(settings, names)
    for component in reversed(chosen):
        component.stop(progress)
    for component in chosen:
        component.reset(progress)


def tail_log(settings: Settings, name: str, lines: int = 50) -> list[str]:
    (component,) = select(settings, [name])
    if not component.log_file.exists():
        return []
    with open(component.log_file, errors="replace") as log:
        return list(deque(log, maxlen=lines))
