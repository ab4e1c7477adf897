"""Run one script inside the child: compile, pre-flight, execute, and build the reply frame.

The reply is the `done` frame: status, result (already JSON, serialized here in the child),
stdout, error, warnings. Nothing here trusts the script: its objects are converted to JSON by
jsonable's rules before anything leaves, and its exceptions are described by diagnostics.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sandbox import proxy
from sandbox.diagnostics import describe_exception
from sandbox.guards import OutputFlood, PrintSink, guard_globals
from sandbox.jsonable import to_json
from sandbox.policy import RESULT_NAME, compile_script
from sandbox.proxy import ERROR_CLASSES, CallLimitExceeded, SurfaceSpec

HostCall = Callable[[str, Any], dict[str, Any]]
# Calls a script may still attempt once its limit is reached (each raises CallLimitExceeded, so
# a script can catch it and finish its work) before the execution is ended as over the limit.
REFUSED_CALLS_BEFORE_STOP = 100


class RunState:
    """What one execution has done so far; read by the signal handlers on the way out."""

    def __init__(self, source: str, limits: dict[str, Any]) -> None:
        self.source = source
        self.limits = limits
        self.sink = PrintSink(int(limits.get("stdout_bytes", 65536)))
        self.limit_hit: str | None = None
        self.calls = 0
        self.refused_calls = 0
        # Ends the execution at once, from inside the script (set by the child): the same path
        # as its deadline handlers, so even `except BaseException` cannot keep the script going.
        self.stop: Callable[[], None] | None = None


def rejected(problems: list[Any], kind: str) -> dict[str, Any]:
    first = problems[0]
    count = len(problems)
    summary = "; ".join((f"line {p.line}: " if p.line else "") + p.message for p in problems[:20])
    return {
        "t": "done",
        "status": "rejected",
        "result": None,
        "error": {
            "type": "SyntaxError" if kind == "syntax" else "PolicyError",
            "message": (f"{count} problems: " if count > 1 else "") + summary,
            "line": first.line,
            "source": first.source,
            "traceback": None,
            "hint": first.hint,
            "problems": [p.to_json() for p in problems],
        },
    }


def _host_function_stub(name: str, host_call: HostCall) -> Callable[..., Any]:
    def stub(*args: Any, **kwargs: Any) -> Any:
        payload, _ = to_json({"args": list(args), "kwargs": kwargs}, strict=True, path=name)
        reply = host_call(name, payload)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise RuntimeError(str(error.get("message", f"{name} failed")))
        return proxy.wrap(reply.get("value"))

    stub.__name__ = name
    return stub


def execute(
    request: dict[str, Any], spec: SurfaceSpec, host_call: HostCall, state: RunState
) -> dict[str, Any]:
    source = state.source
    compiled = compile_script(source, spec)
    if compiled.problems or compiled.code is None:
        return rejected(compiled.problems, compiled.kind)

    max_calls = int(state.limits.get("max_calls", 1000))

    def counted_call(name: str, payload: Any) -> dict[str, Any]:
        if state.calls >= max_calls:
            state.limit_hit = "calls"
            state.refused_calls += 1
            if state.refused_calls > REFUSED_CALLS_BEFORE_STOP and state.stop is not None:
                state.stop()  # a script that keeps calling past its limit would only spin
            raise CallLimitExceeded(
                f"this execution may make at most {max_calls} client calls", code="call_limit"
            )
        state.calls += 1
        return host_call(name, payload)

    proxy.bind_host(counted_call)
    client = spec_client(spec)
    script_globals: dict[str, Any] = guard_globals(state.sink)
    script_globals.update(ERROR_CLASSES)
    script_globals["client"] = client
    inputs = request.get("inputs")
    script_globals["inputs"] = inputs if isinstance(inputs, dict) else {}
    for name in request.get("host_functions") or []:
        if isinstance(name, str) and name.isidentifier() and not name.startswith("_"):
            script_globals[name] = _host_function_stub(name, counted_call)

    status = "ok"
    error = None
    result: Any = None
    try:
        exec(compiled.code, script_globals)
        run = script_globals.get("run")
        if (
            compiled.defines_run
            and not compiled.calls_run_itself
            and callable(run)
            and getattr(run, "__code__", None) is not None
            and run.__code__.co_filename == "<script>"
        ):
            result = run(client) if run.__code__.co_argcount >= 1 else run()
        else:
            result = script_globals.get(RESULT_NAME)
    except MemoryError as exc:
        status, state.limit_hit = "limit_exceeded", "memory"
        error = describe_exception(exc, source, script_globals)
    except OutputFlood as exc:
        status, state.limit_hit = "limit_exceeded", "output"
        error = describe_exception(exc, source, script_globals)
    except BaseException as exc:  # noqa: BLE001 - a script may raise anything, SystemExit too
        status = "error"
        error = describe_exception(exc, source, script_globals)

    stdout = state.sink.text()
    warnings: list[str] = []
    if status == "ok":
        try:
            result, warnings = to_json(result, strict=False)
            encoded = json.dumps(result, separators=(",", ":"), ensure_ascii=False)
            limit = int(state.limits.get("result_bytes", 1 << 20))
            if len(encoded.encode()) > limit:
                status, state.limit_hit = "limit_exceeded", "result_size"
                error = {
                    "type": "LimitExceeded",
                    "message": f"the result is {len(encoded)} bytes, over the {limit}-byte limit",
                    "line": None,
                    "source": None,
                    "traceback": None,
                    "hint": "return less (a summary, ids or URLs) or print details",
                }
                result = None
        except MemoryError:
            status, state.limit_hit, result = "limit_exceeded", "memory", None
            error = {"type": "MemoryError", "message": "out of memory serializing the result",
                     "line": None, "source": None, "traceback": None, "hint": None}  # fmt: skip
    else:
        result = None

    if state.limit_hit and status in ("ok", "error"):
        # A limit reached and caught by the script still ends the execution as over the limit,
        # and only an execution that ends ok carries a result.
        status, result = "limit_exceeded", None
    if status == "limit_exceeded":
        error = error or {"type": "LimitExceeded", "message": "", "line": None, "source": None,
                          "traceback": None, "hint": None}  # fmt: skip
        error["limit"] = state.limit_hit
        error.setdefault("hint", None)
        if state.limit_hit == "calls" and not error.get("hint"):
            error["hint"] = "batch the work or ask for fewer items per page"
    return {
        "t": "done",
        "status": status,
        "result": result,
        "stdout": stdout,
        "stdout_truncated": state.sink.truncated,
        "error": error,
        "warnings": warnings,
    }


_client_class: type | None = None

_WARM_UP_SCRIPT = """
import json
async def run(client):
    items = [i * 2 for i in range(3)]
    data = {"a": items, "b": f"{items[0]}"}
    print(json.dumps(data), client.models)
    return data
"""


def warm_up(spec: SurfaceSpec) -> None:
    """Run a representative script once, off the critical path.

    Called in each child before it waits for its script: the first compile and execution touch
    (and so copy) hundreds of pages shared with the zygote; paying that here, while the child
    sits in the warm pool, takes it off the time an agent waits for.
    """
    state = RunState(_WARM_UP_SCRIPT, {})
    execute({"code": _WARM_UP_SCRIPT}, spec, lambda name, payload: {"ok": True}, state)


def prepare(spec: SurfaceSpec) -> None:
    """Build the client class once, in the zygote, so children pay nothing for it."""
    global _client_class
    _client_class = proxy.build_client_class(spec)
    proxy.build_error_classes(spec.error_tree)


def spec_client(spec: SurfaceSpec) -> Any:
    if _client_class is None:
        prepare(spec)
    assert _client_class is not None
    return _client_class()
