"""The script runner: the sandbox pool, and one script run on a fresh child with the `client`
host function over a FLORA connection, answered as an `Outcome` (runtime/executions/outcome.py).

It checks the code itself (text, size, not empty) before a child is taken, and at start it
reports the isolation layers the pool found, refusing to start when a required one is missing.
"""

from __future__ import annotations

import logging
from typing import Any

from client_surface import AsyncFlora
from client_surface.table import sandbox_spec
from runtime.errors import CodeTooLarge, EmptyCode, InvalidCode
from runtime.executions.outcome import Outcome, answer
from runtime.flora import ClientCalls, builtin_model_params
from runtime.settings import Settings
from sandbox import isolation
from sandbox.limits import Limits
from sandbox.pool import WarmPool

log = logging.getLogger("terrarium")


def check_code(code: str, limits: Limits) -> None:
    """Refuse code that is not UTF-8 text, is over `limits.code_bytes`, or is empty."""
    try:
        size = len(code.encode())
    except UnicodeEncodeError as exc:
        raise InvalidCode(
            f"the code holds a lone surrogate at character {exc.start}, which is not text "
            "UTF-8 can carry; send the script as plain UTF-8 text",
            "code",
        ) from None
    if size > limits.code_bytes:
        raise CodeTooLarge(
            f"the code is {size} bytes, over the {limits.code_bytes}-byte limit", "code"
        )
    if not code.strip():
        raise EmptyCode("the code is empty", "code")


class ScriptRunner:
    def __init__(self, settings: Settings, pool: WarmPool | None = None) -> None:
        self.settings = settings
        # The pre-flight warns of params keys a literal model does not list when it knows the
        # models: the built-in backend's catalog (the real FLORA's are checked at run time).
        known = None if settings.flora_api_key else builtin_model_params()
        self.pool = pool or WarmPool(
            sandbox_spec(known),
            size_max=settings.pool_max,
            warm=settings.pool_warm,
            queue_max=settings.queue_max,
        )

    async def start(self) -> None:
        await self.pool.start()
        statuses = {
            name: isolation.LayerStatus(name, info.get("active", False), info.get("detail", ""))
            for name, info in self.pool.layers.items()
        }
        for status in statuses.values():
            if not status.active:
                log.warning("ISOLATION LAYER NOT ACTIVE: %s (%s)", status.name, status.detail)
        if self.settings.require_isolation:
            try:
                isolation.check_required(statuses, self.settings.require_isolation)
            except RuntimeError:
                await self.pool.stop()
                raise

    async def stop(self) -> None:
        await self.pool.stop()

    async def run(
        self,
        execution_id: str,
        code: str,
        *,
        inputs: dict[str, Any] | None,
        limits: Limits,
        flora: AsyncFlora,
        workspaces: frozenset[str] | None = None,
        secrets: tuple[str, ...] = (),
        max_cost_usd: float | None = None,
        transport: str = "http",
    ) -> Outcome:
        """Run `code` on a fresh child; every `client.*` call goes to `flora`, its paid calls
        held under `max_cost_usd`."""
        calls = ClientCalls(
            flora, secrets=secrets, workspaces=workspaces, max_cost_usd=max_cost_usd
        )
        result = await self.pool.execute(
            code, inputs=inputs, limits=limits, host_functions={"client": calls}
        )
        return answer(
            result, execution_id, calls.records, calls.warnings,
            memory_mb=limits.memory_mb, transport=transport, cost_usd=calls.spent_usd,
        )  # fmt: skip

    def health(self) -> dict[str, Any]:
        pool = self.pool.health()
        return {
            "status": "ok" if pool["zygote_alive"] and pool.get("forking", True) else "degraded",
            "pool": pool,
            "isolation": self.pool.layers,
        }
