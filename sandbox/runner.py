"""Run one script inside the child: compile, pre-flight, execute, and build the `done` frame.

`execute` is a sequence of steps: compile (a rejected script ends there), build the script's
globals, run it, serialize its result (encoded once, measured against its limit), and end it as
over a limit if it reached one. The `done` frame carries the status, the result (JSON text made
here in the child), stdout, error and warnings. Nothing here trusts the script: its objects are
converted to JSON by jsonable's rules before anything leaves, and its exceptions are described
by diagnostics.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from types import FrameType, FunctionType
from typing import Any

from sandbox import errors, facades, proxy
from sandbox.diagnostics import describe_exception
from sandbox.guards import OutputFlood, PrintSink, guard_globals
from sandbox.jsonable import json_scalars, to_json
from sandbox.limits import Limits
from sandbox.messages import Done, ErrorInfo, LimitKind, Reply, Run, Status
from sandbox.policy import RESULT_NAME, Compiled, compile_script
from sandbox.proxy import ERROR_CLASSES, CallLimitExceeded, HostCall
from sandbox.surface import SurfaceSpec

# The recursion limit a script sees, counted from its module's top level as in CPython.
SCRIPT_RECURSION_LIMIT = 1000

# Calls a script may still attempt once its limit is reached (each raises CallLimitExceeded, so
# a script can catch it and finish its work) before the execution is ended as over the limit.
REFUSED_CALLS_BEFORE_STOP = 100


class RunState:
    """What one execution has done so far; read by the signal handlers on the way out."""

    def __init__(self, source: str, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.sink = PrintSink(limits.stdout_bytes)
        self.limit_hit: LimitKind | None = None
        self.calls = 0
        self.refused_calls = 0
        self.warnings: list[str] = []  # from the script's calls (an argument filled in)
        # Ends the execution at once, from inside the script (set by the child): the same path
        # as its deadline handlers, so even `except BaseException` cannot keep the script going.
        self.stop: Callable[[], None] | None = None


@dataclass
class _Outcome:
    """How the script ended, before it becomes the `done` frame."""

    status: Status = "ok"
    value: Any = None  # what the script returned (a script's object until serialized)
    error: ErrorInfo | None = None
    result_json: str = "null"
    warnings: list[str] = field(default_factory=list)


def execute(request: Run, spec: SurfaceSpec, host_call: HostCall, state: RunState) -> Done:
    """Compile the script, run it, and describe how it ended as the `done` frame."""
    compiled = compile_script(state.source, spec)
    if compiled.problems or compiled.code is None:
        return Done("rejected", error=errors.rejected(compiled.problems, compiled.kind))
    script_globals = _script_globals(request, spec, _counted(host_call, state), state)
    outcome = _run(compiled, script_globals, state)
    stdout = state.sink.text()  # before serializing: a script's __repr__ may still print
    if outcome.status == "ok":
        _serialize(outcome, state)
    _end_over_limit(outcome, state)
    return Done(outcome.status, result=outcome.result_json, stdout=stdout,
                stdout_truncated=state.sink.truncated, error=outcome.error,
                warnings=compiled.warnings + state.warnings + outcome.warnings)  # fmt: skip


def _counted(host_call: HostCall, state: RunState) -> HostCall:
    """Host calls counted against max_calls; past it each raises CallLimitExceeded."""
    max_calls = state.limits.max_calls

    def counted_call(name: str, payload: Any) -> Reply:
        if state.calls >= max_calls:
            state.limit_hit = "calls"
            state.refused_calls += 1
            if state.refused_calls > REFUSED_CALLS_BEFORE_STOP and state.stop is not None:
                state.stop()  # a script that keeps calling past its limit would only spin
            raise CallLimitExceeded(errors.calls_exceeded(state.limits).message, code="call_limit")
        state.calls += 1
        return host_call(name, payload)

    return counted_call


def _script_globals(
    request: Run, spec: SurfaceSpec, host_call: HostCall, state: RunState
) -> dict[str, Any]:
    """Guards and builtins, FLORA's error classes, `client`, `inputs`, the host functions."""
    proxy.bind_host(host_call, state.warnings)
    script_globals: dict[str, Any] = guard_globals(state.sink)
    script_globals.update(ERROR_CLASSES)
    script_globals["client"] = spec_client(spec)
    script_globals["inputs"] = request.inputs if isinstance(request.inputs, dict) else {}
    for name in request.host_functions:
        if isinstance(name, str) and name.isidentifier() and not name.startswith("_"):
            script_globals[name] = _host_function_stub(name, host_call)
    return script_globals


def _run(compiled: Compiled, script_globals: dict[str, Any], state: RunState) -> _Outcome:
    """Execute the module, then `run(client)` if it defines one; what it returned or raised."""
    assert compiled.code is not None
    outcome = _Outcome()
    limit = sys.getrecursionlimit()
    depth = recursion_depth() - 1  # without recursion_depth()'s own frame: this one's
    facades.SCRIPT_BASE_DEPTH[0] = depth
    try:
        sys.setrecursionlimit(SCRIPT_RECURSION_LIMIT + depth)
        exec(compiled.code, script_globals)
        run = script_globals.get("run")
        if (
            compiled.defines_run
            and not compiled.calls_run_itself
            and type(run) is FunctionType  # the script's own top-level function, not a method
            and run.__qualname__ == "run"
            and run.__code__.co_filename == "<script>"
        ):
            outcome.value = run(script_globals["client"]) if run.__code__.co_argcount else run()
        else:
            outcome.value = script_globals.get(RESULT_NAME)
    except MemoryError as exc:
        outcome.status, state.limit_hit = "limit_exceeded", "memory"
        outcome.error = describe_exception(exc, state.source, script_globals)
    except OutputFlood as exc:
        outcome.status, state.limit_hit = "limit_exceeded", "output"
        outcome.error = describe_exception(exc, state.source, script_globals)
    except BaseException as exc:  # noqa: BLE001 - a script may raise anything, SystemExit too
        outcome.status = "error"
        outcome.error = describe_exception(exc, state.source, script_globals)
    finally:
        sys.setrecursionlimit(limit)  # what the script set ends with it
    return outcome


def recursion_depth() -> int:
    """The interpreter's recursion depth here (what its limit is compared with: Python frames
    and C-level recursion), read from the error CPython gives for a limit below it."""
    try:
        sys.setrecursionlimit(1)
    except RecursionError as exc:
        words = str(exc).split("at the recursion depth ", 1)[-1].split(":", 1)[0]
        if words.isdigit():
            return int(words)
    depth = 0  # a fallback: Python frames only
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


def _serialize(outcome: _Outcome, state: RunState) -> None:
    """The result as JSON text, encoded once and measured here against result_bytes."""
    try:
        value, outcome.warnings = to_json(outcome.value, strict=False)
        text = encode_result(value)
        size = len(text.encode())
        if size > state.limits.result_bytes:
            outcome.status, state.limit_hit = "limit_exceeded", "result_size"
            outcome.error = errors.result_too_large(size, state.limits.result_bytes)
        else:
            outcome.result_json = text
    except MemoryError:
        outcome.status, state.limit_hit = "limit_exceeded", "memory"
        outcome.error = ErrorInfo("MemoryError", "out of memory serializing the result")


def _end_over_limit(outcome: _Outcome, state: RunState) -> None:
    """A limit reached, even one the script caught, ends the execution as over the limit; only
    an execution that ends ok carries a result."""
    if state.limit_hit and outcome.status in ("ok", "error"):
        outcome.status = "limit_exceeded"
    if outcome.status != "ok":
        outcome.result_json = "null"
    if outcome.status == "limit_exceeded":
        error = outcome.error = outcome.error or ErrorInfo("LimitExceeded", "")
        error.limit = state.limit_hit
        if state.limit_hit == "calls" and not error.hint:
            error.hint = errors.CALLS_HINT


# Made once in the zygote: json.dumps with these options builds a new encoder per call.
_RESULT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# What that encoder's encode() hands CPython's C encoder (markers, default, string encoder,
# indent, separators, sort_keys, skipkeys, allow_nan), less the markers made for each call.
_C_ENCODER_ARGS = (_RESULT_ENCODER.default, encode_basestring, None, ":", ",", False, False, False)


def encode_result(value: Any) -> str:
    """A result made of exact JSON types as the JSON text the `done` frame carries: the C
    encoder JSONEncoder.encode would use, called directly (in a fresh child, its Python layer
    alone wrote about 13 pages)."""
    if c_make_encoder is None:  # CPython without its _json accelerator
        return _RESULT_ENCODER.encode(value)
    return "".join(c_make_encoder({}, *_C_ENCODER_ARGS)(value, 0))


def _host_function_stub(name: str, host_call: HostCall) -> Callable[..., Any]:
    def stub(*args: Any, **kwargs: Any) -> Any:
        if json_scalars(args) and json_scalars(kwargs.values()) and json_scalars(kwargs):
            payload: Any = {"args": list(args), "kwargs": kwargs}  # what to_json would make
        else:
            payload, _ = to_json({"args": list(args), "kwargs": kwargs}, strict=True, path=name)
        reply = host_call(name, payload)
        if not reply.ok:
            error = reply.error or {}
            raise RuntimeError(str(error.get("message", f"{name} failed")))
        return proxy.wrap(reply.value)

    stub.__name__ = name
    return stub


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
    request = Run(op="run", code=_WARM_UP_SCRIPT, inputs={}, limits=Limits(), host_functions=[])
    state = RunState(request.code, request.limits)
    execute(request, spec, lambda name, payload: Reply(id=0, ok=True), state)


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
