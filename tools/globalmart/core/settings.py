"""All GlobalMart configuration in one place.

Values come from the environment, then from a `.env` file in the working directory, then from the
defaults below. Variable names follow the original spec (KAFKA_BOOTSTRAP_SERVERS, SPARK_MASTER_URL,
POSTGRES_REALTIME_PORT, ...) so an existing `.env` keeps working. Scale-out is configuration: point
these at a Kafka cluster, a Spark master or remote databases and the same code runs there.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_state_dir() -> Path:
    return Path(os.environ.get("GLOBALMART_REPO_ROOT", os.getcwd())) / ".globalmart"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Where the local stack keeps binaries, jars, data folders, logs and pid files.
    globalmart_state_dir: Path = Field(default_factory=_default_state_dir)
    log_level: str = "INFO"

    # Kafka
    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_controller_port: int = 9093
    kafka_topic_partitions: int = 3
    kafka_retention_hours: int = 168
    kafka_dlq_retention_hours: int = 720

    # Data generation
    data_gen_events_per_second: int = Field(default=50, ge=1)
    data_gen_num_users: int = Field(default=10_000, ge=1, le=10_000_000)
    data_gen_num_products: int = Field(default=1_000, ge=1, le=250_000)
    data_gen_seed: int = 42

    # Spark
    spark_master_url: str = "local[*]"
    spark_driver_memory: str = "2g"
    spark_executor_memory: str = "2g"

    # PostgreSQL real-time
    postgres_realtime_host: str = "localhost"
    postgres_realtime_port: int = 5433
    postgres_realtime_db: str = "globalmart_realtime"

    # PostgreSQL warehouse
    postgres_warehouse_host: str = "localhost"
    postgres_warehouse_port: int = 5432
    postgres_warehouse_db: str = "globalmart_warehouse"

    # Least-privilege roles shared by both databases: jobs write, the API reads.
    postgres_writer_user: str = "globalmart_user"
    postgres_writer_password: str = "globalmart_password"
    postgres_reader_user: str = "globalmart_reader"
    postgres_reader_password: str = "globalmart_reader_password"

    # Redis (API cache)
    redis_host: str = "localhost"
    redis_port: int = 6379

    # FerretDB (MongoDB wire protocol: run metrics)
    mongo_host: str = "localhost"
    mongo_port: int = 27017
    mongo_db: str = "globalmart_metrics"
    # FerretDB's debug handler (Prometheus metrics at /debug/metrics); 0 keeps it off.
    mongo_metrics_port: int = 0
    # Age limit of run documents (generator runs, stream progress, batch runs, alert deliveries).
    run_metrics_retention_days: float = Field(default=14.0, gt=0)

    # Apicurio Registry
    schema_registry_host: str = "localhost"
    schema_registry_port: int = 8080
    schema_registry_management_port: int = 9001
    # "mem" (ids restart at 1 on every start) or "postgres" (survives restarts, on the
    # warehouse server in database schema_registry_db, owned by the writer role).
    schema_registry_storage: Literal["mem", "postgres"] = "mem"
    schema_registry_db: str = "globalmart_registry"

    # Prometheus
    prometheus_host: str = "localhost"
    prometheus_port: int = 9090

    # Gateway (REST + GraphQL + dashboard)
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Where each service exposes Prometheus /metrics (scraped by the stack's Prometheus)
    generator_metrics_port: int = 8001
    stream_metrics_port: int = 8002
    kafka_jmx_exporter_port: int = 7071

    @field_validator("globalmart_state_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def kafka_host(self) -> str:
        return self.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[0]

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[1])

    @property
    def schema_registry_url(self) -> str:
        return f"http://{self.schema_registry_host}:{self.schema_registry_port}"

    @property
    def schema_registry_ccompat_url(self) -> str:
        """Confluent-compatible API: what confluent-kafka's serdes talk to."""
        return f"{self.schema_registry_url}/apis/ccompat/v7"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://{self.mongo_host}:{self.mongo_port}/"

    def postgres_dsn(self, database: str, *, reader: bool = False) -> str:
        """A libpq connection string for `realtime` or `warehouse` as the writer or reader role."""
        if database == "realtime":
            host, port, db = (
                self.postgres_realtime_host,
                self.postgres_realtime_port,
                self.postgres_realtime_db,
            )
        elif database == "warehouse":
            host, port, db = (
                self.postgres_warehouse_host,
                self.postgres_warehouse_port,
                self.postgres_warehouse_db,
            )
        else:
            raise ValueError(f"unknown database {database!r}: use 'realtime' or 'warehouse'")
        user, password = (
            (self.postgres_reader_user, self.postgres_reader_password)
            if reader
            else (self.postgres_writer_user, self.postgres_writer_password)
        )
        return f"host={host} port={port} dbname={db} user={user} password={password}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    # --env-file (or GLOBALMART_ENV_FILE) replaces ./.env; the environment still wins over both.
    env_file = os.environ.get("GLOBALMART_ENV_FILE", ".env")
    return Settings(_env_file=env_file)  # type: ignore[call-arg]
