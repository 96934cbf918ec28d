from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from globalmart.core.settings import Settings, get_settings
from globalmart.gateway.config import GatewayConfig

_OURS = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "POSTGRES_REALTIME_PORT",
    "DATA_GEN_NUM_USERS",
    "GLOBALMART_ENV_FILE",
    "GLOBALMART_STATE_DIR",
    "SPARK_MASTER_URL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _OURS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()


def test_defaults_follow_the_spec() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.kafka_bootstrap_servers == "localhost:9092"
    assert (s.postgres_realtime_port, s.postgres_realtime_db) == (5433, "globalmart_realtime")
    assert (s.postgres_warehouse_port, s.postgres_warehouse_db) == (5432, "globalmart_warehouse")
    assert s.data_gen_events_per_second == 50
    assert s.spark_master_url == "local[*]"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:19092,broker-2:19092")
    monkeypatch.setenv("POSTGRES_REALTIME_PORT", "6543")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.kafka_host == "broker-1" and s.kafka_port == 19092
    assert s.postgres_realtime_port == 6543
    assert "port=6543" in s.postgres_dsn("realtime")


def test_dotenv_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("DATA_GEN_NUM_USERS=1234\nSPARK_MASTER_URL=spark://m:7077\n")
    monkeypatch.setenv("SPARK_MASTER_URL", "local[2]")
    s = get_settings()
    assert s.data_gen_num_users == 1234
    assert s.spark_master_url == "local[2]"


def test_env_file_option_replaces_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATA_GEN_NUM_USERS=1\n")
    other = tmp_path / "prod.env"
    other.write_text("DATA_GEN_NUM_USERS=777\n")
    monkeypatch.setenv("GLOBALMART_ENV_FILE", str(other))
    assert get_settings().data_gen_num_users == 777


def test_invalid_values_are_rejected_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_GEN_NUM_USERS", "20000000")
    with pytest.raises(ValidationError, match="data_gen_num_users"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_state_dir_is_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBALMART_STATE_DIR", "relative/state")
    assert Settings(_env_file=None).globalmart_state_dir.is_absolute()  # type: ignore[call-arg]


def test_reader_and_writer_roles_differ() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert f"user={s.postgres_reader_user}" in s.postgres_dsn("warehouse", reader=True)
    assert f"user={s.postgres_writer_user}" in s.postgres_dsn("warehouse")
    with pytest.raises(ValueError, match="unknown database"):
        s.postgres_dsn("nope")


def test_env_example_documents_every_setting() -> None:
    example = Path(os.environ.get("GLOBALMART_REPO_ROOT", ".")) / ".env.example"
    sandbox_copy = Path(__file__).resolve().parents[3] / ".env.example"
    text = (sandbox_copy if sandbox_copy.exists() else example).read_text()
    documented = {
        line.lstrip("# ").split("=", 1)[0].lower()
        for line in text.splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].isupper()
    }
    # the gateway's own options (globalmart.gateway.config) sit beside the shared ones
    gateway = {f"gateway_{name}" for name in GatewayConfig.model_fields}
    assert documented == set(Settings.model_fields) | gateway
