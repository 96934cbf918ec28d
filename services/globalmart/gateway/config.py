"""Gateway options that the shared settings do not have yet.

Hosts, ports and DSNs come from `globalmart.core.settings` (api_host, api_port, postgres_dsn,
redis_*, schema_registry_url). The options below are the gateway's own; they read `GATEWAY_*`
environment variables (and `.env`), with safe defaults: no API key configured means the admin and
ops endpoints refuse everyone, no CORS origin means no cross-origin access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from globalmart.core.settings import Settings

CommaList = Annotated[list[str], NoDecode]


class GatewayConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_file=".env", extra="ignore", case_sensitive=False
    )

    #: comma-separated API keys (sent as X-API-Key) for admin endpoints (also allowed on ops ones)
    admin_api_keys: CommaList = Field(default_factory=list)
    #: comma-separated API keys for ops endpoints (dead letters, batch ledger, cache stats)
    ops_api_keys: CommaList = Field(default_factory=list)
    #: origins allowed by CORS, comma-separated (`*` for any; credentials are never allowed)
    cors_origins: CommaList = Field(default_factory=list)

    #: token bucket per client address: sustained requests/s and burst size (0 disables)
    rate_limit_per_second: float = Field(default=200.0, ge=0)
    rate_limit_burst: int = Field(default=400, ge=1)

    #: cache entry lifetimes (a committed batch makes entries unreachable long before these)
    cache_ttl_realtime_seconds: int = Field(default=300, ge=1)
    cache_ttl_warehouse_seconds: int = Field(default=600, ge=1)
    cache_enabled: bool = True
    #: reuse a freshness marker read for this long (0: one read per request, so a committed
    #: batch shows on the very next request; see `freshness`)
    cache_freshness_window_ms: int = Field(default=0, ge=0, le=10_000)
    #: key prefix, so parallel test gateways never share entries
    cache_prefix: str = "gm"

    pool_max_size: int = Field(default=8, ge=1)
    statement_timeout_ms: int = Field(default=5000, ge=100)

    graphql_max_depth: int = Field(default=6, ge=2)
    graphql_max_cost: int = Field(default=5000, ge=10)
    graphql_max_tokens: int = Field(default=2000, ge=10)
    graphql_max_aliases: int = Field(default=15, ge=1)

    #: how often live streams (SSE, subscriptions) look for new rows
    live_poll_seconds: float = Field(default=1.0, gt=0)

    #: built front-end assets (GraphiQL bundle); default <state>/opt/gateway-web/dist
    assets_dir: Path | None = None

    @field_validator("admin_api_keys", "ops_api_keys", "cors_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def resolved_assets_dir(self, settings: Settings) -> Path:
        return self.assets_dir or settings.globalmart_state_dir / "opt" / "gateway-web" / "dist"
