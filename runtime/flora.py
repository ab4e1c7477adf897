"""Which FLORA scripts talk to, and the host function that carries their `client.*` calls.

With FLORA_API_KEY set: the real FLORA API. Without it: the built-in backend, reached
in-process through httpx's ASGI transport (the same HTTP code path, no socket). Either way the
credentials live only here, in the host: a call from a script arrives as JSON
(`{"method", "arguments"}`), is validated by `dispatch_call` against the table, and its answer or
error goes back as JSON. Each call is recorded for the execution's `calls`, with long strings cut
and no key anywhere.
"""

from __future__ import annotations

import logging
import math
import re
import time
import weakref
from typing import Any

from client_surface import AsyncFlora
from client_surface._client import upload_source
from client_surface.dispatch import ArgumentError, dispatch_call, model_params_of
from client_surface.errors import APIError, PermissionDeniedError
from client_surface.table import SCRIPT_UPLOAD_MAX_BYTES, Method, find
from sandbox.pool import HostCallError
from sandbox.preflight import params_warning

log = logging.getLogger("terrarium.flora")

MAX_RECORDED_STRING = 200
MAX_HOST_WARNINGS = 50  # per execution; the same warning is added once
MODEL_PARAMS_TTL_S = 60.0  # how long a connection's models.list answer is trusted
CREDIT_USD = 0.001  # a model's estimated_credits in USD (docs/flora.md)
# The paid calls: each starts runs FLORA bills in USD (its answer's `charged_cost`).
PAID_METHODS = frozenset({
    "generations.create", "runs.start_generation", "techniques.runs.create",
    "runs.start_technique", "actions.run", "projects.actions.run",
})  # fmt: skip
_RUN_ID = re.compile(r"\brun[ _]?(?:id)?[ :=]+'?\"?([A-Za-z0-9_-]{3,80})")

# Each FLORA connection's {model_id: param names}, with the time it was fetched: read for the
# warning on params keys a model does not list, so models.list is asked once a minute at most.
_model_params: weakref.WeakKeyDictionary[AsyncFlora, tuple[float, dict[str, tuple[str, ...]]]] = (
    weakref.WeakKeyDictionary()
)


def builtin_model_params() -> dict[str, list[str]]:
    """{model_id: param names} of the built-in backend's catalog: what the sandbox's pre-flight
    knows of models when that backend is the one scripts talk to (`sandbox_spec`)."""
    from flora_backend.catalog import MODELS

    return {m.model_id: [str(p["name"]) for p in m.params] for m in MODELS}


def unknown_params_warning(
    spec: Method, arguments: dict[str, Any], known: dict[str, tuple[str, ...]]
) -> str | None:
    """The warning for a call whose open params map holds keys the chosen model does not list
    (`Method.model_params`), in the pre-flight's words (`sandbox.preflight.params_warning`), so
    a literal call warned of before the script ran is warned of once. None when every key is
    one of its params, or the model is not named or not known."""
    if spec.model_params is None:
        return None
    model_arg, params_arg = spec.model_params
    model_id, params = arguments.get(model_arg), arguments.get(params_arg)
    if not isinstance(model_id, str) or not isinstance(params, dict) or not params:
        return None
    valid = known.get(model_id)
    if valid is None:
        return None  # not a model FLORA listed: the call itself says so
    return params_warning(spec.full_name, params_arg, model_id, [str(k) for k in params], valid)


async def model_params(flora: AsyncFlora) -> dict[str, tuple[str, ...]]:
    """The params each of the connection's models lists, from a models.list at most a minute old
    (APIError when it cannot be fetched)."""
    now = time.monotonic()
    cached = _model_params.get(flora)
    if cached is not None and now - cached[0] < MODEL_PARAMS_TTL_S:
        return cached[1]
    found = model_params_of(await dispatch_call(flora, "models.list", {}))
    _model_params[flora] = (now, found)
    return found


_model_costs: weakref.WeakKeyDictionary[AsyncFlora, tuple[float, dict[str, float]]] = (
    weakref.WeakKeyDictionary()
)


async def model_costs(flora: AsyncFlora) -> dict[str, float]:
    """Each model's estimated cost of one run in USD, from a models.list at most a minute old."""
    now = time.monotonic()
    cached = _model_costs.get(flora)
    if cached is not None and now - cached[0] < MODEL_PARAMS_TTL_S:
        return cached[1]
    page = await dispatch_call(flora, "models.list", {})
    found: dict[str, float] = {}
    for model in page.get("models") or [] if isinstance(page, dict) else []:
        if isinstance(model, dict) and isinstance(model.get("model_id"), str):
            credits = model.get("estimated_credits")
            if isinstance(credits, int | float) and math.isfinite(credits) and credits >= 0:
                found[model["model_id"]] = float(credits) * CREDIT_USD
    _model_costs[flora] = (now, found)
    return found


def charged(value: Any) -> float:
    """What a paid call's answer says it cost, in USD (`charged_cost`, or its runs' sum)."""
    if isinstance(value, dict):
        cost = value.get("charged_cost")
        if isinstance(cost, int | float) and math.isfinite(cost) and cost > 0:
            return float(cost)
        runs = value.get("runs")
        if isinstance(runs, list):
            return sum(charged(run) for run in runs)
    return 0.0


def duplicate_run_id(message: str) -> str | None:
    """The run a 409 `idempotency_duplicate` says the key already started, if it says so."""
    found = _RUN_ID.search(message)
    return found.group(1).rstrip(".;") if found else None


def trim(value: Any, depth: int = 0) -> Any:
    """A copy fit for the record: long strings cut, deep nesting elided."""
    if isinstance(value, str):
        if len(value) > MAX_RECORDED_STRING:
            return value[:MAX_RECORDED_STRING] + f"... ({len(value)} chars)"
        return value
    if depth > 6:
        return "..."
    if isinstance(value, dict):
        if not value:  # a call with no arguments
            return {}
        return {str(k): trim(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list):
        return [trim(v, depth + 1) for v in value[:50]]
    return value


class ClientCalls:
    """The `client` host function for one execution: dispatch, record, scrub."""

    def __init__(
        self,
        flora: AsyncFlora,
        secrets: tuple[str, ...] = (),
        workspaces: frozenset[str] | None = None,
        max_cost_usd: float | None = None,
    ) -> None:
        self.flora = flora
        # The most this execution's paid calls may cost (None: no cap), and what they cost.
        self.max_cost_usd = max_cost_usd
        self.spent_usd = 0.0
        self.records: list[dict[str, Any]] = []
        self._secrets = tuple(s for s in secrets if s)
        # The workspaces this execution's tenant may touch; None = no restriction.
        self.workspaces = workspaces
        # What the host has to tell the agent about its calls (an argument filled in, params
        # keys a model does not list): the execution's warnings, after the child's.
        self.warnings: list[str] = []
        self._params_unchecked = False  # models.list failed once: no more tries this execution

    def _warn(self, text: str) -> None:
        if text not in self.warnings and len(self.warnings) < MAX_HOST_WARNINGS:
            self.warnings.append(text)

    async def _check_model_params(self, spec: Method, arguments: dict[str, Any]) -> None:
        """Warn when an open params map holds keys the chosen model does not list; the call is
        made either way (FLORA's params is an open map)."""
        if spec.model_params is None or self._params_unchecked:
            return
        if not arguments.get(spec.model_params[1]):
            return
        try:
            known = await model_params(self.flora)
        except APIError as exc:
            self._params_unchecked = True
            log.info("models.list failed (%s); params keys not checked", exc.code)
            return
        warning = unknown_params_warning(spec, arguments, known)
        if warning is not None:
            self._warn(self._scrub(warning))

    def _check_workspace(self, spec: Method | None, arguments: dict[str, Any]) -> None:
        """Refuse, before anything leaves the host, a call naming another tenant's workspace in
        any argument the table declares a workspace id."""
        if self.workspaces is None or spec is None:
            return  # an unknown method is refused by dispatch_call, before any request
        for name in spec.workspace_args:
            workspace_id = arguments.get(name)
            if workspace_id is None or (
                isinstance(workspace_id, str) and workspace_id in self.workspaces
            ):
                continue
            allowed = ", ".join(sorted(self.workspaces)) or "none"
            raise PermissionDeniedError(
                f"{name} {str(workspace_id)[:80]!r} is not a workspace this key may use "
                f"(allowed: {allowed})",
                status=403,
                code="workspace_forbidden",
                fields=[{"field": name, "message": "not one of this tenant's workspaces"}],
            )

    async def _estimate(self, method: str, arguments: dict[str, Any]) -> float | None:
        """What a paid call will cost in USD, from FLORA's own figures: the model's
        estimated_credits, or the technique's run_cost; None when FLORA does not say."""
        try:
            if method in ("generations.create", "runs.start_generation"):
                model = arguments.get("model")
                if not isinstance(model, str):
                    return None
                return (await model_costs(self.flora)).get(model)
            if method in ("techniques.runs.create", "runs.start_technique"):
                ident = arguments.get("id_or_slug") or arguments.get("technique_id")
                if not isinstance(ident, str):
                    return None
                technique = await dispatch_call(
                    self.flora, "techniques.retrieve", {"id_or_slug": ident}
                )
                cost = technique.get("run_cost") if isinstance(technique, dict) else None
                return float(cost) if isinstance(cost, int | float) and cost >= 0 else None
        except APIError as exc:
            log.info("cost estimate for %s failed (%s)", method, exc.code)
        return None

    async def _check_budget(self, method: str, arguments: dict[str, Any]) -> None:
        """Refuse, before it leaves the host, a paid call whose estimate exceeds what is left of
        the execution's `max_cost_usd` (or any paid call once nothing is left)."""
        if self.max_cost_usd is None or method not in PAID_METHODS:
            return
        left = self.max_cost_usd - self.spent_usd
        estimate = await self._estimate(method, arguments)
        if left > 0 and (estimate is None or estimate <= left + 1e-9):
            if estimate is None:
                self._warn(
                    f"{method}: FLORA gives no cost estimate for this call; it was made under "
                    f"max_cost_usd with ${left:.4f} left"
                )
            return
        cost = f"an estimated ${estimate:.4f}" if estimate is not None else "money"
        raise HostCallError({
            "class": "InsufficientCreditsError", "status": 402, "code": "budget_exceeded",
            "message": f"{method} would cost {cost}, over what is left of this execution's "
            f"max_cost_usd (${max(left, 0):.4f} of ${self.max_cost_usd:.4f}); nothing was "
            "sent to FLORA",
            "hint": "pick a cheaper model (models.list: estimated_credits, 1 credit = $0.001), "
            "or run again with a larger max_cost_usd",
            "fields": [{"field": "max_cost_usd", "message": f"{max(left, 0):.4f} left"}],
        })  # fmt: skip

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    async def __call__(self, payload: Any) -> Any:
        started = time.perf_counter()
        method = payload.get("method") if isinstance(payload, dict) else None
        arguments = payload.get("arguments") if isinstance(payload, dict) else None
        if not isinstance(method, str) or not isinstance(arguments, dict):
            raise HostCallError({"class": "ArgumentError", "message": "malformed client call"})
        record: dict[str, Any] = {"method": method, "arguments": trim(arguments), "status": "error"}
        self.records.append(record)
        try:
            spec = find(method)
            self._check_workspace(spec, arguments)
            if spec is not None and spec.helper and isinstance(arguments.get("file"), str):
                # bytes from a script are capped below its call frame: larger files by URL
                upload_source(arguments["file"], SCRIPT_UPLOAD_MAX_BYTES)
            if spec is not None and spec.model_params is not None:
                await self._check_model_params(spec, arguments)
            if spec is not None and self.max_cost_usd is not None:
                await self._check_budget(spec.full_name, arguments)
            value = await dispatch_call(self.flora, method, arguments, self.warnings, spec)
            if spec is not None and spec.full_name in PAID_METHODS:
                cost = charged(value)
                self.spent_usd += cost
                record["cost_usd"] = round(cost, 6)
        except ArgumentError as exc:
            record.update(status="error", error_code="invalid_arguments")
            raise HostCallError(
                {
                    "class": "ArgumentError",
                    "message": self._scrub(exc.message),
                    "hint": exc.hint,
                }  # fmt: skip
            ) from None
        except HostCallError as exc:
            body = exc.payload
            record.update(status="error", http_status=body.get("status"),
                          error_code=body.get("code"))  # fmt: skip
            raise
        except APIError as exc:
            body = exc.to_json()
            record.update(status="error", http_status=exc.status, error_code=exc.code)
            body["message"] = self._scrub(str(body.get("message") or ""))
            run_id = duplicate_run_id(exc.message) if exc.code == "idempotency_duplicate" else None
            if run_id:  # the run the key already started, as a field a script can read
                body["fields"] = [*body["fields"], {"field": "run_id", "message": run_id}]
                body["hint"] = f"poll the run it started: client.generations.retrieve({run_id!r})"
                record["run_id"] = run_id
            raise HostCallError(body) from None
        finally:
            record["ms"] = round((time.perf_counter() - started) * 1000, 3)
        record["status"], record["http_status"], record["error_code"] = "ok", None, None
        return value
