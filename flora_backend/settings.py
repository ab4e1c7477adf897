"""The built-in backend's own settings section, read from the environment.

The variables are the ones operators already set: `TERRARIUM_BACKEND_*` for the backend's
behaviour, `TERRARIUM_DATA_DIR` for where its database and files live, and `DATABASE_URL` for a
shared PostgreSQL. An embedding application may instead hand the backend this section built from
its own configuration (anything with a `backend_settings()` method, see `BackendSettingsSource`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BackendSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TERRARIUM_BACKEND_", extra="ignore", populate_by_name=True
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Field(
        default=Path(".terrarium"), validation_alias=AliasChoices("TERRARIUM_DATA_DIR")
    )
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TERRARIUM_DATABASE_URL")
    )

    # --- runs ----------------------------------------------------------------------------
    # Multiplier on each model's estimated seconds; 0 completes runs at once (tests).
    speed: float = 0.02
    fail_pattern: str | None = None  # a prompt matching this regex fails its run
    fail_rate: float = 0.0
    # Where generated files are served from: outputs' `url` fields start with this.
    public_url: str = "http://127.0.0.1:8000"
    initial_credits: int = 100_000  # per new workspace; 1 credit is about $0.001
    rate_limit_per_minute: int = 0  # requests per API key per minute; 0 = off
    sweep_interval_s: float = 0.25  # how often due runs are finalized (callbacks)
    # Every request waits this long before it is handled, as FLORA's round trip would (0: off).
    latency_ms: float = 0.0

    # --- webhooks ------------------------------------------------------------------------
    # Let callback_url point at localhost/private addresses and use plain http (local dev).
    callbacks_allow_private: bool = False
    # Webhook deliveries in flight at once (kept well below the database pool), and how long
    # one attempt (connect, send, first answer) may take.
    webhook_concurrency: int = 4
    webhook_timeout_s: float = 10.0

    def database_url_or_default(self) -> str:
        """The SQLAlchemy async URL: `database_url` with an async driver, else SQLite in
        `<data_dir>/terrarium.db`."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'terrarium.db').resolve()}"


class BackendSettingsSource(Protocol):
    """An application's configuration that can hand the backend its section."""

    def backend_settings(self) -> BackendSettings: ...
