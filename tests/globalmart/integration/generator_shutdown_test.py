"""Ctrl-C stops a running generator cleanly: it flushes, and every event it reports as sent
(and acknowledged) is in the topics; nothing more, nothing less."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from globalmart.core import offsets
from globalmart.core.settings import Settings
from globalmart.generators.config import KINDS
from globalmart.stack.kafka import delete_topics
from globalmart.stack.testing import unique_name

from .generator_support import consume_all

PROGRAM = "from globalmart.cli.generate_cmd import app; app(prog_name='generate')"


def _wait_for_messages(
    settings: Settings, topic: str, at_least: int, process: subprocess.Popen[str]
) -> None:
    consumer = offsets.probe(settings.kafka_bootstrap_servers, topic)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and process.poll() is None:
            # a topic the generator has just created counts 0 until its partitions have leaders
            if offsets.high_watermarks(consumer, [topic])[topic] >= at_least:
                return
            time.sleep(0.5)
    finally:
        consumer.close()
    raise AssertionError(f"the generator sent fewer than {at_least} events to {topic}")


def test_interrupt_flushes_and_loses_nothing(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("kafka", "apicurio")
    prefix = unique_name("gen-stop") + "-"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PROGRAM,
            "--rate",
            "0",
            "--seed",
            "3",
            "--topic-prefix",
            prefix,
            "--metrics-port",
            "0",
            "--no-record",
            "--json",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    spec_topics = ("transactions-topic", "cart-events-topic", "product-views-topic")
    topics = [f"{prefix}{topic}" for topic in spec_topics]
    try:
        _wait_for_messages(settings, topics[2], 2000, process)  # it is sending at full speed
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        summary = json.loads(out)
        assert summary["ok"] is True and summary["produced"] > 1000
        assert summary["produced"] == summary["delivered"]
        records = consume_all(settings, topics)
        assert len(records) == summary["produced"]
        for kind in KINDS:
            topic = summary["topics"][kind]
            assert sum(r.topic == topic for r in records) == summary["totals"]["produced"][kind]
    finally:
        if process.poll() is None:
            process.kill()
        delete_topics(settings.kafka_bootstrap_servers, topics + [f"{t}-dlq" for t in topics])
