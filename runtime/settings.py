"""One settings object for the whole runtime, read from the environment (prefix TERRARIUM_).

FLORA's own variables keep their names (FLORA_API_KEY, FLORA_BASE_URL), as does DATABASE_URL,
so an operator who already has them set needs nothing new. The built-in backend's variables
(TERRARIUM_BACKEND_*) are read here too, as the operator's one configuration, and handed to the
backend as its own section (`backend_settings()`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from flora_backend.settings import BackendSettings


OPERATOR_KEY_MIN_CHARS = 24


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TERRARIUM_", extra="ignore")

    # --- serving -------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".terrarium")

    # --- storage -------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TERRARIUM_DATABASE_URL")
    )

    # --- upstream FLORA ------------------------------------------------------------------
    flora_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("FLORA_API_KEY", "TERRARIUM_FLORA_API_KEY")
    )
    flora_base_url: str = Field(
        default="https://app.flora.ai/api/v1",
        validation_alias=AliasChoices("FLORA_BASE_URL", "TERRARIUM_FLORA_BASE_URL"),
    )

    # --- built-in backend ----------------------------------------------------------------
    # Multiplier on each model's estimated seconds; 0 completes runs at once (tests).
    backend_speed: float = 0.02
    backend_fail_pattern: str | None = None
    backend_fail_rate: float = 0.0
    # Where generated files are served from: outputs' `url` fields start with this.
    backend_public_url: str = "http://127.0.0.1:8000"
    backend_initial_credits: int = 100_000  # per new workspace; 1 credit is about $0.001
    backend_rate_limit_per_minute: int = 0  # requests per API key per minute; 0 = off
    backend_sweep_interval_s: float = 0.25  # how often due runs are finalized (callbacks)
    # Every request to the built-in backend waits this long, as FLORA's round trip would (0: off).
    backend_latency_ms: float = 0.0
    # Let callback_url point at localhost/private addresses and use plain http (local dev).
    backend_callbacks_allow_private: bool = False
    # Webhook deliveries in flight at once (kept well below the database pool), and how long
    # one attempt (connect, send, first answer) may take.
    backend_webhook_concurrency: int = 4
    backend_webhook_timeout_s: float = 10.0

    # --- sandbox pool --------------------------------------------------------------------
    pool_max: int = 64  # executions running at once
    pool_warm: int = 8  # children forked ahead of demand
    queue_max: int = 256  # executions waiting for a slot before 503

    # --- limits: defaults, and the most a request may ask for ------------------------------
    timeout_s: float = 30.0
    max_timeout_s: float = 300.0
    cpu_s: float = 30.0
    max_cpu_s: float = 300.0
    memory_mb: int = 256
    max_memory_mb: int = 1024
    stdout_bytes: int = 64 * 1024
    result_bytes: int = 1024 * 1024
    max_calls: int = 1000
    code_bytes: int = 100 * 1024

    require_isolation: str = ""  # comma-separated layer names that must be active

    # --- operators: tenants, records, replicas ---------------------------------------------
    # "off" serves every request as the default tenant (tests of other concerns, local tools).
    auth: bool = True
    # Fernet key for tenants' upstream FLORA keys; else <data_dir>/secret.key (created 0600).
    # Replicas sharing one database must share this key.
    secret_key: str | None = None
    # Per-tenant defaults when `terrarium tenants create` does not say otherwise.
    tenant_max_concurrent: int = 8
    tenant_per_minute: int = 120
    # The default `max_cost_usd` of an execution (USD its paid calls may cost), for tenants
    # without one of their own; None: no cap unless the request sets one.
    max_cost_usd: float | None = Field(default=None, ge=0)
    # How long a server trusts a key it has seen work before asking the database again: a key
    # revoked by another process (`terrarium tenants revoke`, another replica) stops working
    # within this many seconds. 0 asks the database on every request.
    key_cache_s: float = Field(default=5.0, ge=0)
    # The bearer key of the admin API (/v1/admin); unset: one is made on first start, kept in
    # <data_dir>/operator-key (0600) and printed once. Replicas: set it, the same on each.
    operator_key: str | None = None

    @field_validator("operator_key")
    @classmethod
    def _strong_operator_key(cls, value: str | None) -> str | None:
        """Empty is unset; a set key is long enough to guess at no better than a made one, and
        never shaped like a tenant's runtime key (trk_...)."""
        if not value:
            return None
        if len(value) < OPERATOR_KEY_MIN_CHARS or value.startswith("trk_"):
            raise ValueError(
                f"the operator key must be at least {OPERATOR_KEY_MIN_CHARS} characters and "
                "must not start with trk_ (a tenant's runtime key); make one with "
                "`python -c \"import secrets; print('tro_' + secrets.token_urlsafe(32))\"`"
            )
        return value

    # Caps on what an execution record keeps (the response itself is bounded by limits).
    record_result_bytes: int = 1024 * 1024
    record_stdout_bytes: int = 64 * 1024
    # Each replica writes a heartbeat; executions of replicas silent this long are failed.
    heartbeat_interval_s: float = 5.0
    instance_stale_s: float = 30.0
    log_format: str = "json"  # "json" or "text"
    # Execution records (code, stdout, result) older than this many days are deleted, by a
    # prune every replica runs hourly and `terrarium records prune`; 0 keeps them forever.
    retention_days: float = Field(default=30.0, ge=0, le=36525)  # 100 years at most
    # On SIGTERM: refuse new executions (503) and let running ones finish for at most this
    # many seconds, then fail the rest; 0 fails them at once.
    drain_s: float = Field(default=30.0, ge=0)

    # --- completion webhooks (POST /v1/executions with webhook_url) -------------------------
    # Let webhook_url point at loopback/private addresses and use plain http (tests, local dev).
    webhooks_allow_private: bool = False
    # One attempt's time limit; attempts in all (the first and its retries); the first retry's
    # delay, each next one 4 times the last (5 s, 20 s, 80 s, 320 s).
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_attempts: int = Field(default=5, ge=1)
    webhook_retry_s: float = Field(default=5.0, ge=0)

    # --- fair sharing: tenants' queues ---------------------------------------------------
    # Above its concurrency a request waits up to this long in its tenant's queue, then 429
    # with a retry-after estimated from how fast the queue moved (0: refused at once). Waiting
    # requests are admitted round robin across tenants; the per-minute rate is never queued.
    tenant_queue_s: float = Field(default=30.0, ge=0)

    # --- at the door: what a request may carry --------------------------------------------
    # The whole request body (counted as it arrives, refused on its Content-Length first), and
    # a request's `inputs` as JSON; over either, 413 naming the setting.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    max_inputs_bytes: int = Field(default=1024 * 1024, gt=0)

    def database_url_or_default(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'terrarium.db').resolve()}"

    def backend_settings(self) -> BackendSettings:
        """The built-in backend's section: its behaviour, in the same data dir and database."""
        # Imported here: the backend package (FastAPI app, media) loads only when it is used.
        from flora_backend.settings import BackendSettings

        return BackendSettings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            speed=self.backend_speed,
            fail_pattern=self.backend_fail_pattern,
            fail_rate=self.backend_fail_rate,
            public_url=self.backend_public_url,
            initial_credits=self.backend_initial_credits,
            rate_limit_per_minute=self.backend_rate_limit_per_minute,
            sweep_interval_s=self.backend_sweep_interval_s,
            latency_ms=self.backend_latency_ms,
            callbacks_allow_private=self.backend_callbacks_allow_private,
            webhook_concurrency=self.backend_webhook_concurrency,
            webhook_timeout_s=self.backend_webhook_timeout_s,
        )
