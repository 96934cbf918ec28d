"""The gateway's long-lived parts, created at startup and injected into routes.

Routes ask for them with `Annotated` dependencies (`GatewayDep`), never through globals, so tests
build as many independent gateways as they like (each with its own config and cache prefix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from globalmart.core.settings import Settings
from globalmart.gateway.cache import ResponseCache
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.db import Database
from globalmart.gateway.freshness import LedgerMarker
from globalmart.gateway.tables import TableSpec

if TYPE_CHECKING:
    from globalmart.gateway.live import LiveFeed
    from globalmart.gateway.registry_browser import RegistryBrowser


@dataclass
class Gateway:
    settings: Settings
    config: GatewayConfig
    specs: dict[str, TableSpec]
    db: Database
    redis: Redis
    cache: ResponseCache
    registry: RegistryBrowser
    live: LiveFeed
    extras: dict[str, object] = field(default_factory=dict)

    @classmethod
    def create(
        cls, settings: Settings, config: GatewayConfig, specs: dict[str, TableSpec]
    ) -> Gateway:
        from globalmart.gateway.live import LiveFeed
        from globalmart.gateway.registry_browser import RegistryBrowser

        db = Database(settings, config)
        redis = Redis(
            host=settings.redis_host,
            port=settings.redis_port,
            socket_timeout=2,
            socket_connect_timeout=2,
            health_check_interval=30,
        )
        cache = ResponseCache(
            redis,
            LedgerMarker(db, config.cache_freshness_window_ms / 1000),
            prefix=config.cache_prefix,
            ttl={
                "realtime": config.cache_ttl_realtime_seconds,
                "warehouse": config.cache_ttl_warehouse_seconds,
            },
            enabled=config.cache_enabled,
        )
        registry = RegistryBrowser(settings.schema_registry_url)
        live = LiveFeed(db, specs, config.live_poll_seconds)
        return cls(settings, config, specs, db, redis, cache, registry, live)

    async def start(self) -> None:
        await self.db.open()

    async def stop(self) -> None:
        await self.live.stop()
        await self.db.close()
        await self.redis.aclose()
        self.registry.close()


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
