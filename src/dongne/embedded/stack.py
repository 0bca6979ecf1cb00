"""Start and stop the embedded servers that the settings ask for."""

from __future__ import annotations

from dataclasses import dataclass, field

from dongne.config import Settings
from dongne.embedded.postgres import EmbeddedPostgres
from dongne.embedded.redis import EmbeddedRedis


@dataclass
class ServerUrls:
    database_url: str
    redis_url: str


@dataclass
class EmbeddedStack:
    """The servers for one DONGNE_HOME; external URLs in the settings bypass them."""

    settings: Settings
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    _started: list[EmbeddedPostgres | EmbeddedRedis] = field(default_factory=list)

    def __post_init__(self) -> None:
        home = self.settings.home
        if self.settings.uses_embedded_postgres:
            self.postgres = EmbeddedPostgres.under(home)
        if self.settings.uses_embedded_redis:
            self.redis = EmbeddedRedis.under(home)

    def start(self) -> ServerUrls:
        """Start what is not running yet; servers already running are reused."""
        for server in (self.postgres, self.redis):
            if server is not None and server.start():
                self._started.append(server)
        return self.urls()

    def urls(self) -> ServerUrls:
        database_url = self.postgres.database_url("dongne") if self.postgres else None
        redis_url = self.redis.url if self.redis else None
        return ServerUrls(
            database_url=database_url or str(self.settings.database_url),
            redis_url=redis_url or str(self.settings.redis_url),
        )

    def stop(self, *, only_started: bool = False) -> None:
        """Stop the servers: all of them, or only those this process started."""
        servers = list(self._started) if only_started else [self.postgres, self.redis]
        for server in reversed(servers):
            if server is not None:
                server.stop()
        self._started.clear()
