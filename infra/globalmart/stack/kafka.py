"""Kafka 4.1.1: one KRaft node in combined mode (broker + controller), run from Maven Central jars.

Kafka is not packaged for Debian and its release tarballs live on a website we cannot reach, so the
broker is assembled from `infra/jvm/kafka/pom.xml` and started as `java kafka.Kafka`. Besides the
broker, this module owns the topic layout: the three event topics and their dead-letter topics.

Broker and JVM metrics for Prometheus come from the JMX exporter java agent
(`infra/jvm/jmx-exporter/pom.xml`, rules in `infra/kafka/jmx-exporter.yaml`), served at
http://<kafka host>:<KAFKA_JMX_EXPORTER_PORT>/metrics.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from globalmart.core.settings import Settings
from globalmart.stack.base import (
    Component,
    Progress,
    StackError,
    infra_file,
    port_open,
    run_checked,
)
from globalmart.stack.provision import find_java_home, maven_copy_dependencies

KAFKA_VERSION = "4.1.1"

EVENT_TOPICS: list[str] = ["transactions-topic", "cart-events-topic", "product-views-topic"]
DLQ_TOPICS: list[str] = [f"{topic}-dlq" for topic in EVENT_TOPICS]

_HOUR_MS = 3_600_000
_MARKER = ".pom.sha256"

# librdkafka prints to stderr unless given a logger; route it through logging, silent by default
# (a broker going away during `stack stop` is expected), visible when the app configures logging.
_CLIENT_LOG = logging.getLogger(__name__ + ".librdkafka")
_CLIENT_LOG.addHandler(logging.NullHandler())


def admin_client(bootstrap: str) -> AdminClient:
    # Any: confluent-kafka's hints allow only scalar values, but "logger" takes a Logger.
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _CLIENT_LOG}
    return AdminClient(conf)


@dataclass(frozen=True)
class TopicSpec:
    """A topic we own: created when missing, retention kept in line with settings."""

    name: str
    partitions: int
    retention_hours: int
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)

    def topic_config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_hours * _HOUR_MS), **self.config}


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The event topics and their dead-letter topics, sized and retained as configured."""
    events = [
        TopicSpec(name, settings.kafka_topic_partitions, settings.kafka_retention_hours)
        for name in EVENT_TOPICS
    ]
    # A DLQ sees few records: one partition keeps them in arrival order for whoever replays them.
    dlqs = [TopicSpec(name, 1, settings.kafka_dlq_retention_hours) for name in DLQ_TOPICS]
    return events + dlqs


def create_topics(bootstrap: str, specs: Sequence[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create the missing topics and align retention of existing ones; returns the names created.

    Idempotent, so every `stack start` and every test fixture may call it. An existing topic keeps
    its partition count: adding partitions would move keys to other partitions.
    """
    admin = admin_client(bootstrap)
    futures = admin.create_topics(
        [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication_factor,
                config=spec.topic_config(),
            )
            for spec in specs
        ],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    created: list[str] = []
    existing: list[TopicSpec] = []
    by_name = {spec.name: spec for spec in specs}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                existing.append(by_name[name])
            else:
                raise
    if existing:
        _align_config(admin, existing, timeout)
    return created


def delete_topics(bootstrap: str, names: Sequence[str], timeout: float = 30.0) -> None:
    """Delete topics (e.g. a test's own); names that do not exist are ignored."""
    if not names:
        return
    # Keep the client referenced until the futures resolve: a collected client fails them.
    admin = admin_client(bootstrap)
    futures = admin.delete_topics(list(names), operation_timeout=timeout, request_timeout=timeout)
    for future in futures.values():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if not (
                isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            ):
                raise


def _align_config(admin: AdminClient, specs: Sequence[TopicSpec], timeout: float) -> None:
    # Incremental SET touches only our keys, so settings changes (e.g. retention) reach old topics
    # without resetting anything an operator set by hand.
    resources = [
        ConfigResource(
            ConfigResource.Type.TOPIC,
            spec.name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in spec.topic_config().items()
            ],
        )
        for spec in specs
    ]
    for future in admin.incremental_alter_configs(resources, request_timeout=timeout).values():
        future.result(timeout=timeout)


def _kafka_uuid() -> str:
    # Kafka's Uuid.toString: URL-safe base64 of 16 random bytes without padding; like
    # Uuid.randomUuid, avoid a leading "-" (it would read as a command-line flag).
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


class Kafka(Component):
    name = "kafka"
    # Measured 5-17 s from spawn to healthy (cold JVM, KRaft election) on 2 busy cores.
    start_timeout = 90.0
    # Kafka defaults to 1 GB; a dev broker idles far below that, and the machine has 2 cores.
    heap = "512m"
    initial_heap = "128m"

    @property
    def host(self) -> str:
        return self.settings.kafka_host

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def controller_port(self) -> int:
        return self.settings.kafka_controller_port

    @property
    def version(self) -> str:
        return KAFKA_VERSION

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    # -- files -------------------------------------------------------------------------------
    @property
    def pom(self) -> Path:
        return infra_file("jvm/kafka/pom.xml")

    @property
    def agent_pom(self) -> Path:
        return infra_file("jvm/jmx-exporter/pom.xml")

    @property
    def libs_dir(self) -> Path:
        return self.opt_dir / "libs"

    @property
    def agent_dir(self) -> Path:
        # Apart from libs/: everything there is on the broker's classpath, the agent must not be.
        return self.opt_dir / "agent"

    @property
    def jmx_exporter_port(self) -> int:
        return self.settings.kafka_jmx_exporter_port

    @property
    def jmx_exporter_config(self) -> Path:
        return self.data_dir / "jmx-exporter.yaml"

    def agent_jar(self) -> Path:
        jars = sorted(self.agent_dir.glob("jmx_prometheus_javaagent-*.jar"))
        if not jars:
            raise StackError(self.name, f"no JMX exporter agent in {self.agent_dir}", "stack up")
        return jars[-1]

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.data_dir / "log4j2.yaml"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "kraft-logs"

    def _pom_digest(self) -> str:
        return hashlib.sha256(self.pom.read_bytes() + self.agent_pom.read_bytes()).hexdigest()

    # -- lifecycle ---------------------------------------------------------------------------
    def provisioned(self) -> bool:
        # The marker holds the poms' hash: editing a pom (a version bump) re-resolves the jars.
        marker = self.libs_dir / _MARKER
        try:
            return marker.read_text().strip() == self._pom_digest()
        except OSError:
            return False

    def provision(self, progress: Progress) -> None:
        if self.provisioned():
            return
        for pom in (self.pom, self.agent_pom):
            if not pom.exists():
                raise StackError(self.name, f"missing {pom}", "run from a GlobalMart checkout")
        self.opt_dir.mkdir(parents=True, exist_ok=True)
        maven_copy_dependencies(self.name, self.agent_pom, self.agent_dir, progress)
        maven_copy_dependencies(self.name, self.pom, self.libs_dir, progress)
        (self.libs_dir / _MARKER).write_text(self._pom_digest())

    def _java(self) -> Path:
        return find_java_home(self.name, minimum=17) / "bin" / "java"

    def _jvm_args(self) -> list[str]:
        return [
            "-cp",
            f"{self.libs_dir}/*",
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            "-Djava.awt.headless=true",
        ]

    def server_properties(self) -> dict[str, str]:
        s = self.settings
        listeners = (
            f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}"
        )
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Dynamic quorum (KIP-853): the single voter is written at format time (--standalone).
            "controller.quorum.bootstrap.servers": f"{self.host}:{self.controller_port}",
            "controller.listener.names": "CONTROLLER",
            "listeners": listeners,
            "advertised.listeners": listeners,
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            "num.partitions": str(s.kafka_topic_partitions),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            # 50 offsets partitions (the default) cost start-up time and file handles on a laptop.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Topics are created on purpose (after_start, test fixtures): a typo must fail loudly.
            "auto.create.topics.enable": "false",
            "log.retention.hours": str(s.kafka_retention_hours),
            # Consumers in tests join alone; the default 3 s wait only slows them down.
            "group.initial.rebalance.delay.ms": "0",
            # Sized for a 2-core machine.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }

    def prepare(self, progress: Progress) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Rewritten on every start so settings changes (ports, retention) take effect.
        lines = [f"{key}={value}" for key, value in self.server_properties().items()]
        header = "# Written by `globalmart stack start` from settings; edits are overwritten.\n"
        self.config_file.write_text(header + "\n".join(lines) + "\n")
        for source, target in (
            (infra_file("kafka/log4j2.yaml"), self.log4j_file),
            (infra_file("kafka/jmx-exporter.yaml"), self.jmx_exporter_config),
        ):
            if not source.exists():
                raise StackError(self.name, f"missing {source}", "run from a GlobalMart checkout")
            shutil.copyfile(source, target)
        if (self.log_dirs / "meta.properties").exists():
            return
        progress(f"{self.name}: formatting KRaft storage")
        # -g (ignore formatted) as a second guard: formatting twice must never wipe a log dir.
        run_checked(
            [
                str(self._java()),
                *self._jvm_args(),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                _kafka_uuid(),
                "-c",
                str(self.config_file),
                "-g",
            ],
            self.name,
            "kafka storage format",
            timeout=120,
        )

    def command(self) -> tuple[Sequence[str], Mapping[str, str]]:
        argv = [
            str(self._java()),
            f"-Xms{self.initial_heap}",
            f"-Xmx{self.heap}",
            # Kafka's own launcher flags (kafka-run-class.sh), minus GC log files.
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:+ExitOnOutOfMemoryError",
            # Only the broker gets the agent: StorageTool (prepare) must not bind the port.
            f"-javaagent:{self.agent_jar()}={self.host}:{self.jmx_exporter_port}"
            f":{self.jmx_exporter_config}",
            *self._jvm_args(),
            "kafka.Kafka",
            str(self.config_file),
        ]
        return argv, {}

    def listening_ports(self) -> tuple[int, ...]:
        return (self.port, self.controller_port, self.jmx_exporter_port)

    def healthy(self) -> bool:
        # A cheap port check first: librdkafka would otherwise retry and log for the full timeout.
        if not port_open(self.host, self.port):
            return False
        admin = admin_client(self.bootstrap)
        try:
            metadata = admin.list_topics(timeout=3)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def after_start(self, progress: Progress) -> None:
        try:
            created = create_topics(
                self.settings.kafka_bootstrap_servers, topic_specs(self.settings)
            )
        except KafkaException as exc:
            raise StackError(self.name, f"creating topics failed: {exc}", f"see {self.log_file}")
        if created:
            progress(f"{self.name}: created topics {', '.join(sorted(created))}")
