"""Settings for tests that run the real app: the pool, the built-in backend at instant speed,
and per-tenant admission with room for bursts."""

from __future__ import annotations

from typing import Any

from runtime.settings import Settings


def make_settings(tmp_path: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "backend_speed": 0,
        "pool_warm": 4,
        "timeout_s": 10,
        "max_timeout_s": 30,
        "cpu_s": 10,
        "memory_mb": 256,
        # Tests here are about executions, not per-tenant admission: room for bursts.
        "tenant_max_concurrent": 64,
        "tenant_per_minute": 100_000,
    }
    values.update(overrides)
    return Settings(**values)
