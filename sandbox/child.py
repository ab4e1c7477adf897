"""One sandbox child: enter isolation, wait for one script, run it under its limits, reply, exit.

The child is forked from the zygote ahead of demand, so everything up to the first `recv` is off
the critical path: confinement, a warm-up run, its signal handlers, and a `ready` frame that
tells the host it is warm. When the script arrives the child caps its own memory and CPU time
(rlimits it can only lower), compiles, runs and replies. Its deadlines are enforced twice: by
SIGALRM (sent by the host at the wall-clock deadline) and SIGXCPU (the CPU rlimit), whose
handlers report the line the script was on, so an agent sees where it hung; and by the host,
which SIGKILLs the child shortly after the deadline whatever the child does.
"""

from __future__ import annotations

import builtins
import os
import resource
import signal
import socket
import sys
from typing import Any

from sandbox import isolation, protocol, runner
from sandbox.diagnostics import current_script_line
from sandbox.proxy import SurfaceSpec


class Channel:
    """The child's end of its socketpair, safe to use from a signal handler."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = protocol.Reader(sock)
        self.sending = False
        self.pending_signal: int | None = None
        self.finished = False
        self.seq = 0
        self.on_pending: Any = None

    def send(self, message: dict[str, Any]) -> None:
        self.send_encoded(protocol.encode(message))

    def send_encoded(self, data: bytes) -> None:
        self.sending = True
        try:
            self.sock.sendall(data)
        finally:
            self.sending = False
        if self.pending_signal is not None and self.on_pending is not None:
            self.on_pending(self.pending_signal, None)

    def call(self, name: str, payload: Any) -> dict[str, Any]:
        message = {"t": "call", "id": self.seq + 1, "fn": name, "args": payload}
        data = protocol.encode(message)
        size = len(data) - protocol.HEADER.size
        if size > protocol.CALL_FRAME_BYTES:  # the host would stop the execution: say why here
            method = payload.get("method") if isinstance(payload, dict) else None
            raise ValueError(
                f"the arguments of {method or name} are {size} bytes of JSON, over the "
                f"{protocol.CALL_FRAME_BYTES}-byte limit for one call; send less per call"
            )
        self.seq += 1
        self.send_encoded(data)
        reply = self.reader.recv()
        if not isinstance(reply, dict) or reply.get("t") != "reply" or reply.get("id") != self.seq:
            raise RuntimeError("the host answered out of turn")
        return reply


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve_one(
    sock: socket.socket, spec: SurfaceSpec, statuses: dict[str, Any], allow_raw: bool
) -> None:
    isolation.enter_child(sock.fileno(), statuses)
    runner.warm_up(spec)
    channel = Channel(sock)
    run: dict[str, Any] = {}  # filled in when the script arrives; read by the handlers

    def finish_early(signum: int, frame: Any) -> None:
        if channel.finished or not run:
            return
        if channel.sending:
            channel.pending_signal = signum
            return
        channel.finished = True
        limits, source, state = run["limits"], run["source"], run["state"]
        line = current_script_line(frame)
        lines = source.splitlines()
        src = lines[line - 1].strip()[:300] if line and 0 < line <= len(lines) else None
        if signum == signal.SIGXCPU:
            status, kind = "limit_exceeded", "cpu"
            message = f"the script used its {limits.get('cpu_s')} s of CPU time"
            hint = "do less work per execution, or ask for a larger cpu_s"
        elif state.refused_calls > runner.REFUSED_CALLS_BEFORE_STOP:  # see runner.counted_call
            status, kind = "limit_exceeded", "calls"
            message = (
                f"the script kept calling after its {limits.get('max_calls')} client calls "
                f"were used ({state.refused_calls} refused) and was stopped"
            )
            hint = "batch the work or ask for fewer items per page; stop calling once the limit "
            hint += "is reached (CallLimitExceeded)"
        else:
            status, kind = "timeout", None
            message = f"the script ran past its {limits.get('timeout_s')} s wall-clock limit"
            hint = (
                "poll less often, raise timeout_s (up to the maximum), or submit it as an "
                "asynchronous execution"
            )
        if line:
            message += f" (it was at line {line})"
        error = {"type": "Timeout" if kind is None else "LimitExceeded", "message": message,
                 "line": line, "source": src, "traceback": None, "hint": hint}  # fmt: skip
        if kind:
            error["limit"] = kind
        try:
            channel.send({
                "t": "done", "status": status, "result": None, "stdout": state.sink.text(),
                "stdout_truncated": state.sink.truncated, "error": error, "warnings": [],
                "cpu_ms": (_cpu_seconds() - run["cpu_start"]) * 1000,
            })  # fmt: skip
        finally:
            os._exit(0)

    channel.on_pending = finish_early
    signal.signal(signal.SIGALRM, finish_early)
    signal.signal(signal.SIGXCPU, finish_early)
    protocol.send(sock, {"t": "ready"})

    request = channel.reader.recv()  # blocks until the host hands this child a script
    cpu_start = _cpu_seconds()
    limits = request.get("limits") or {}
    isolation.apply_limits(int(limits.get("memory_mb", 256)), float(limits.get("cpu_s", 30)))
    source = request.get("code") if isinstance(request.get("code"), str) else ""
    state = runner.RunState(source, limits)
    run.update(limits=limits, source=source, state=state, cpu_start=cpu_start)
    state.stop = lambda: finish_early(signal.SIGALRM, sys._getframe(1))

    if request.get("op") == "raw" and allow_raw:
        done = _run_raw(source, state)
    else:
        done = runner.execute(request, spec, channel.call, state)
    done["cpu_ms"] = (_cpu_seconds() - cpu_start) * 1000
    channel.finished = True
    try:
        channel.send(done)
    except (ValueError, TypeError):  # a result json could not encode: say so, never crash
        channel.send({"t": "done", "status": "error", "result": None, "stdout": "",
                      "stdout_truncated": False, "warnings": [], "cpu_ms": done["cpu_ms"],
                      "error": {"type": "InternalError", "message": "the result could not be "
                                "encoded", "line": None, "source": None, "traceback": None,
                                "hint": None}})  # fmt: skip


def _run_raw(source: str, state: runner.RunState) -> dict[str, Any]:
    """Unrestricted CPython for the isolation self-test: every OS layer on, no policy."""

    def raw_print(*args: Any, **kwargs: Any) -> None:
        kwargs.pop("file", None)
        builtins.print(*args, file=state.sink, **kwargs)  # type: ignore[arg-type]

    namespace: dict[str, Any] = {"__builtins__": {**vars(builtins), "print": raw_print}}
    status, error, result = "ok", None, None
    try:
        exec(compile(source, "<selftest>", "exec"), namespace)
        result = namespace.get("result")
        if not isinstance(result, (str, int, float, bool, list, dict, type(None))):
            result = repr(result)
    except MemoryError as exc:
        status = "limit_exceeded"
        error = {"type": "MemoryError", "message": str(exc), "limit": "memory"}
    except BaseException as exc:  # noqa: BLE001
        status = "error"
        error = {"type": type(exc).__name__, "message": str(exc)[:2000]}
    if error:
        error.update({"line": None, "source": None, "traceback": None, "hint": None})
    return {"t": "done", "status": status, "result": result, "stdout": state.sink.text(),
            "stdout_truncated": state.sink.truncated, "error": error, "warnings": []}  # fmt: skip
