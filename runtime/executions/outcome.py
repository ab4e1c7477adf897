"""An execution's outcome, converted once from the pool's `ExecutionResult` for every reader.

`ExecuteResponse` declares the body an agent gets (the OpenAPI and MCP output schema), and
`answer()` is the one conversion: it makes whatever a sandbox child sent fit that shape as
strict JSON (no NaN, no lone surrogates, bounded depth; what cannot be answered becomes a clear
`error` result, never an exception), so the response, the record, the metrics and MCP all read
the same `Outcome` and never fail on a child's value.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from runtime.db import utcnow
from runtime.executions.records import DONE
from sandbox.result import ExecutionResult

log = logging.getLogger("terrarium.outcome")

# What a sandbox child may end with, and what an execution may end with: those, or cancelled
# (DELETE /v1/executions/{id}, or the MCP `cancel` tool, stopped it; the host says so, never a
# child).
SandboxStatus = Literal["ok", "error", "timeout", "rejected", "limit_exceeded"]
Status = Literal[SandboxStatus, "cancelled"]


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    message: str
    line: int | None = None
    source: str | None = None
    traceback: str | None = None
    hint: str | None = None


class CallRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    method: str
    arguments: dict[str, Any] = {}
    status: Literal["ok", "error"]
    http_status: int | None = None
    error_code: str | None = None
    ms: float


class ExecuteResponse(BaseModel):
    execution_id: str
    status: Status
    result: Any = None
    stdout: str = ""
    stdout_truncated: bool = False
    error: ErrorInfo | None = None
    calls: list[CallRecord] = []
    duration_ms: float = 0.0
    cpu_ms: float = 0.0
    warnings: list[str] = []
    cost_usd: float = 0.0


# ---------------------------------------------------------------- what may be answered

# Deeper than the sandbox's own cut (100 levels, sandbox/jsonable.py) means the child did not
# build the result the honest way; well below what JSON encoders and validators recurse through.
MAX_RESULT_DEPTH = 128
MAX_TEXT_CHARS = 64 * 1024  # an error's message, source, traceback or hint, each
MAX_ERROR_EXTRA_BYTES = 64 * 1024  # an error's other fields (problems, limit...), together
STATUSES: tuple[str, ...] = get_args(SandboxStatus)  # a child's, checked in _status_and_error
EXECUTION_STATUSES: tuple[str, ...] = get_args(Status)
_SCALARS = (str, int, float, bool, type(None))
_SURROGATE = re.compile("[\ud800-\udfff]")


class NotAnswerable(ValueError):
    """A value that cannot go into a response or a record, and why, in plain words."""


def clean_text(value: str) -> str:
    """`value` without lone surrogates (each becomes U+FFFD), so it encodes as UTF-8."""
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


def check_result(value: Any) -> int:
    """The size in bytes of `value` as JSON, or `NotAnswerable` saying why it is not JSON:
    NaN or Infinity, a lone surrogate, a type JSON has no word for, or nesting too deep."""
    if type(value) is float and not math.isfinite(value):
        raise NotAnswerable("it is NaN or Infinity, which JSON cannot carry")
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:  # containers only: scalars are checked by the encoder below, in C
        item, depth = stack.pop()  # depth: containers around this one
        if depth >= MAX_RESULT_DEPTH:
            raise NotAnswerable(f"it is nested deeper than {MAX_RESULT_DEPTH} levels")
        if type(item) is dict:
            children: Any = item.values()
        elif type(item) is list:
            children = item
        elif isinstance(item, _SCALARS):
            continue
        else:
            raise NotAnswerable(f"it holds a {type(item).__name__}, which is not JSON")
        stack.extend((child, depth + 1) for child in children if not isinstance(child, _SCALARS))
        for child in children:
            if type(child) is float and not math.isfinite(child):
                raise NotAnswerable("it holds NaN or Infinity, which JSON cannot carry")
    try:
        return len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except UnicodeEncodeError:
        raise NotAnswerable("it holds text with a lone surrogate, which is not UTF-8") from None
    except ValueError as exc:  # NaN at the top, an int too long to print, a cycle
        raise NotAnswerable(f"it is not JSON ({exc})") from None
    except (TypeError, RecursionError) as exc:
        raise NotAnswerable(f"it is not JSON ({type(exc).__name__})") from None


def scrub(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of small host-made data (call records, error details): text without
    lone surrogates, NaN and Infinity as null, keys as text, nesting past the limit as null."""
    if isinstance(value, str):
        return clean_text(str.__str__(value))
    if value is None or type(value) is bool:
        return value
    if isinstance(value, int):
        return int.__int__(value) if abs(value) < 10**18 else str(len(str(value))) + " digits"
    if isinstance(value, float):
        return float.__float__(value) if math.isfinite(value) else None
    if depth >= MAX_RESULT_DEPTH:
        return None
    if isinstance(value, dict):
        return {clean_text(str(k)): scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, depth + 1) for v in value]
    return clean_text(repr(value)[:1000])


def _optional_text(value: Any) -> str | None:
    return clean_text(value[:MAX_TEXT_CHARS]) if isinstance(value, str) else None


def _number(value: Any) -> float:
    """A finite, non-negative float, or 0.0 (a child's figure is a hint, never a crash)."""
    if type(value) in (int, float) and math.isfinite(value) and value >= 0:
        return float(value)
    return 0.0


def _problems(value: Any) -> list[dict[str, Any]]:
    """A rejection's problems as the shape every reader expects: a list of small objects."""
    if not isinstance(value, list):
        return []
    out = []
    for p in value[:100]:
        if isinstance(p, dict):
            line = p.get("line")
            out.append({
                **{k: _optional_text(p.get(k)) for k in ("message", "source", "hint", "kind")},
                "line": line if type(line) is int else None,
                "column": p.get("column") if type(p.get("column")) is int else None,
            })  # fmt: skip
    return out


def safe_error(error: Any) -> dict[str, Any] | None:
    """An `ErrorInfo`-shaped dict from whatever arrived: every named field of the right type
    (a message that is not text says so), other fields kept when they are small JSON."""
    if error is None:
        return None
    if not isinstance(error, dict):
        error = {"type": "SandboxError", "message": "the sandbox sent an error that is no object"}
    message = error.get("message")
    if not isinstance(message, str):
        message = "the sandbox sent an error whose message is not text"
    line = error.get("line")
    out: dict[str, Any] = {
        "type": _optional_text(error.get("type")) or "Error",
        "message": clean_text(message[:MAX_TEXT_CHARS]),
        "line": line if type(line) is int else None,
        "source": _optional_text(error.get("source")),
        "traceback": _optional_text(error.get("traceback")),
        "hint": _optional_text(error.get("hint")),
    }
    extra = {k: v for k, v in error.items() if isinstance(k, str) and k not in out}
    if "problems" in extra:
        extra["problems"] = _problems(extra["problems"])
    budget = MAX_ERROR_EXTRA_BYTES
    for key, value in extra.items():
        value = scrub(value)
        size = len(json.dumps(value))
        if size <= budget:
            out[key], budget = value, budget - size
    return out


def _call_record(call: Any) -> dict[str, Any] | None:
    if not isinstance(call, dict):
        return None
    http_status, arguments = call.get("http_status"), call.get("arguments")
    extra: dict[str, Any] = {}
    if isinstance(call.get("run_id"), str):  # the run a duplicate idempotency key started
        extra["run_id"] = clean_text(call["run_id"][:80])
    if "cost_usd" in call:
        extra["cost_usd"] = _number(call.get("cost_usd"))
    return {
        "method": clean_text(str(call.get("method"))[:200]),
        "arguments": scrub(arguments) if isinstance(arguments, dict) else {},
        "status": "ok" if call.get("status") == "ok" else "error",
        "http_status": http_status if type(http_status) is int else None,
        "error_code": _optional_text(call.get("error_code")),
        "ms": _number(call.get("ms")),
        **extra,
    }


def invalid_result(reason: str) -> dict[str, Any]:
    return {
        "type": "InvalidResult",
        "message": f"the script's result could not be returned: {reason}",
        "line": None,
        "source": None,
        "traceback": None,
        "hint": "return plain JSON data (dicts, lists, text, finite numbers), nested less than "
        f"{MAX_RESULT_DEPTH} levels",
    }


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished execution's body (fits `ExecuteResponse`, strict JSON) and its result's size
    as JSON, measured once while the body was made."""

    body: dict[str, Any]
    result_bytes: int

    def record_values(self, result_cap: int, stdout_cap: int) -> dict[str, Any]:
        """The record's final columns: the body with the result and stdout capped."""
        body = self.body
        result_cut = self.result_bytes > result_cap
        stdout = body["stdout"]
        stdout_cut = len(stdout.encode()) > stdout_cap
        if stdout_cut:
            stdout = stdout.encode()[:stdout_cap].decode(errors="ignore")
        return {
            "state": DONE,
            "status": body["status"],
            "result": None if result_cut else body["result"],
            "result_truncated": result_cut,
            "stdout": stdout,
            "stdout_truncated": body["stdout_truncated"] or stdout_cut,
            "error": body["error"],
            "calls": body["calls"],
            "call_count": len(body["calls"]),
            "warnings": body["warnings"],
            "duration_ms": body["duration_ms"],
            "cpu_ms": body["cpu_ms"],
            "cost_usd": body.get("cost_usd", 0.0),
            "finished_at": utcnow(),
        }


def cancelled(execution_id: str, duration_ms: float) -> Outcome:
    """The outcome of an execution stopped by a cancel request: its child was killed."""
    body: dict[str, Any] = {
        "execution_id": clean_text(execution_id),
        "status": "cancelled", "result": None, "stdout": "", "stdout_truncated": False,
        "error": {
            "type": "Cancelled", "message": "the execution was cancelled; its process was killed",
            "line": None, "source": None, "traceback": None, "hint": None,
        },
        "calls": [], "duration_ms": _number(duration_ms), "cpu_ms": 0.0, "warnings": [],
        "cost_usd": 0.0,
    }  # fmt: skip
    return Outcome(body, 4)


# What a timed-out script may do instead, by the transport that asked: only what exists there.
TIMEOUT_HINTS = {
    "http": "poll less often, raise timeout_s (up to the maximum), or submit it with "
    "POST /v1/executions and poll GET /v1/executions/{id}",
    "mcp": "poll less often, raise timeout_s (up to the maximum), or run it with the `submit` "
    "tool and poll it with `get_execution`",
}
TIMEOUT_HINT_PLAIN = "poll less often, or raise timeout_s (up to the maximum)"


def fix_hints(
    error: dict[str, Any] | None, memory_mb: int | None, transport: str
) -> dict[str, Any] | None:
    """An error's hint naming the fix: a memory kill names the limit and the knob, a timeout
    names only what the caller's transport offers."""
    if not error:
        return error
    if error.get("type") == "Timeout":
        return {**error, "hint": TIMEOUT_HINTS.get(transport, TIMEOUT_HINT_PLAIN)}
    if error.get("limit") == "memory" or error.get("type") == "MemoryError":
        limit = f"its {memory_mb} MB memory limit" if memory_mb else "its memory limit"
        message = str(error.get("message") or "").strip()
        head = f"the script ran out of {limit} (memory_mb)"
        return {
            **error,
            "message": f"{head}: {message}" if message else head,
            "hint": "use less memory (fewer pages or records held at once; return ids, not "
            "whole objects) or ask for more with `memory_mb` (up to the operator's "
            "TERRARIUM_MAX_MEMORY_MB)",
        }
    return error


def answer(
    result: ExecutionResult,
    execution_id: str,
    calls: list[Any],
    call_warnings: list[str] | None = None,
    *,
    memory_mb: int | None = None,
    transport: str = "http",
    cost_usd: float = 0.0,
) -> Outcome:
    """The pool's `result`, the host's call records and the warnings the host has about those
    calls (after the child's own) as one `Outcome`, whatever they hold; `cost_usd` is what the
    execution's paid calls cost."""
    try:
        outcome = _answer(result, clean_text(execution_id), calls, call_warnings or [])
        made = outcome.body
        made["error"] = fix_hints(made["error"], memory_mb, transport)
        made["cost_usd"] = round(_number(cost_usd), 6)
        return outcome
    except Exception:  # never expected; the answer must still be an answer
        log.exception("an execution body could not be made safe")
        body: dict[str, Any] = {
            "execution_id": clean_text(execution_id),
            "status": "error", "result": None, "stdout": "", "stdout_truncated": False,
            "error": invalid_result("the runtime could not read it"), "calls": [],
            "duration_ms": 0.0, "cpu_ms": 0.0, "warnings": [], "cost_usd": _number(cost_usd),
        }  # fmt: skip
        return Outcome(body, 4)


def _answer(
    result: ExecutionResult, execution_id: str, calls: list[Any], call_warnings: list[str]
) -> Outcome:
    status, error = _status_and_error(result.status, result.error)
    value, size = result.result, 4  # len("null")
    try:
        size = check_result(value)
    except NotAnswerable as exc:
        status, value, error = "error", None, invalid_result(str(exc))
    stdout = result.stdout
    warnings = result.warnings if isinstance(result.warnings, list) else []
    warnings = [*warnings, *(w for w in call_warnings if w not in warnings)]
    body = {
        "execution_id": execution_id,
        "status": status,
        "result": value,
        "stdout": clean_text(stdout) if isinstance(stdout, str) else "",
        "stdout_truncated": result.stdout_truncated is True,
        "error": error,
        "calls": [c for c in map(_call_record, calls) if c] if isinstance(calls, list) else [],
        "duration_ms": _number(result.duration_ms),
        "cpu_ms": _number(result.cpu_ms),
        "warnings": [clean_text(w) for w in warnings if isinstance(w, str)],
    }
    return Outcome(body, size)


def _status_and_error(status: Any, error: Any) -> tuple[str, dict[str, Any] | None]:
    if status in STATUSES:
        return status, safe_error(error)
    unknown = invalid_result("the sandbox ended it with an unknown status")
    return "error", {**unknown, "type": "SandboxError", "hint": None}
