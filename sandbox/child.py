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
import select
import signal
import socket
import sys
from types import FrameType
from typing import Any

from sandbox import concurrency, errors, isolation, prepare, protocol, runner
from sandbox.diagnostics import current_script_line
from sandbox.messages import Call, Done, ErrorInfo, Ready, Reply, Run, Status, encode_call
from sandbox.problems import source_line
from sandbox.surface import SurfaceSpec


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
        # Call frames of tasks held back to go out together (see send_call's `later`).
        self.outgoing: list[bytes] = []

    def send(self, frame: Ready | Call | Done) -> None:
        self.send_encoded(protocol.frame(frame.encode()))

    def send_encoded(self, data: bytes) -> None:
        """Send `data` after the call frames held back, in one write."""
        self.sending = True
        try:
            if self.outgoing:
                self.outgoing.append(data)
                data = b"".join(self.outgoing)
                self.outgoing.clear()
            self.sock.sendall(data)
        finally:
            self.sending = False
        if self.pending_signal is not None and self.on_pending is not None:
            self.on_pending(self.pending_signal, None)

    def call(self, name: str, payload: Any) -> Reply:
        """One host call and its reply. With tasks alive or calls in flight, the scheduler sends
        it and switches to other tasks until its reply comes (sandbox/concurrency.py)."""
        scheduler = concurrency.active()
        if scheduler is not None:
            return scheduler.call(self, name, payload)
        self.send_call(name, payload)
        reply = self.reader.recv()
        if not isinstance(reply, dict) or reply.get("t") != "reply" or reply.get("id") != self.seq:
            raise RuntimeError("the host answered out of turn")
        return Reply.from_json(reply)

    def send_call(
        self, name: str, payload: Any, concurrent: bool = False, later: bool = False
    ) -> int:
        """Send one call frame; its id. `later`: hold it back until `flush` or the next frame
        sent, so the calls tasks make together reach the host in one write (one wake-up)."""
        body = encode_call(self.seq + 1, name, payload, concurrent)
        if len(body) > protocol.CALL_FRAME_BYTES:  # the host would stop the execution: say why
            method = payload.get("method") if isinstance(payload, dict) else None
            raise ValueError(
                f"the arguments of {method or name} are {len(body)} bytes of JSON, over the "
                f"{protocol.CALL_FRAME_BYTES}-byte limit for one call; send less per call"
            )
        self.seq += 1
        if later:
            self.outgoing.append(protocol.frame(body))
        else:
            self.send_encoded(protocol.frame(body))
        return self.seq

    def flush(self) -> None:
        """Send the call frames held back, if any."""
        if self.outgoing:
            self.send_encoded(b"")

    def next_reply(self, timeout: float | None) -> Reply | None:
        """The next reply, whichever call it answers; None if none came within `timeout` s."""
        self.flush()
        if timeout is not None and not self.reader.buffered:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return None
        reply = self.reader.recv()
        if (
            not isinstance(reply, dict)
            or reply.get("t") != "reply"
            or type(reply.get("id")) is not int
        ):
            raise RuntimeError("the host answered out of turn")
        return Reply.from_json(reply)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve_one(
    sock: socket.socket, spec: SurfaceSpec, statuses: dict[str, Any], allow_raw: bool
) -> None:
    prepare.prepare_child(sock.fileno(), spec, statuses)
    channel = Channel(sock)
    state: runner.RunState | None = None  # set when the script arrives; read by the handlers
    cpu_start = 0.0

    def finish_early(signum: int, frame: FrameType | None) -> None:
        if channel.finished or state is None:
            return
        if channel.sending:
            channel.pending_signal = signum
            return
        channel.finished = True
        status, error = _ended_early(signum, state, current_script_line(frame))
        try:
            channel.send(Done(status, stdout=state.sink.text(),
                              stdout_truncated=state.sink.truncated, error=error,
                              warnings=state.warnings,
                              cpu_ms=(_cpu_seconds() - cpu_start) * 1000))  # fmt: skip
        finally:
            os._exit(0)

    channel.on_pending = finish_early
    signal.signal(signal.SIGALRM, finish_early)
    signal.signal(signal.SIGXCPU, finish_early)
    channel.send(Ready())

    request = Run.from_json(channel.reader.recv())  # blocks until the host hands it a script
    cpu_start = _cpu_seconds()
    isolation.apply_limits(request.limits.memory_mb, request.limits.cpu_s)
    state = runner.RunState(request.code, request.limits)
    state.stop = lambda: finish_early(signal.SIGALRM, sys._getframe(1))

    if request.op == "raw" and allow_raw:
        done = _run_raw(request.code, state)
    else:
        done = runner.execute(request, spec, channel.call, state)
    done.cpu_ms = (_cpu_seconds() - cpu_start) * 1000
    channel.finished = True
    try:
        channel.send(done)
    except (ValueError, TypeError):  # json could not encode it (a lone surrogate): say so
        channel.send(Done("error", error=errors.unencodable(), cpu_ms=done.cpu_ms))


def _ended_early(signum: int, state: runner.RunState, line: int | None) -> tuple[Status, ErrorInfo]:
    """Why a signal (or the script's own call past its limit) ends the execution now."""
    source = source_line(state.source.splitlines(), line)
    if signum == signal.SIGXCPU:
        return "limit_exceeded", errors.cpu_exceeded(state.limits, line=line, source=source)
    if state.refused_calls > runner.REFUSED_CALLS_BEFORE_STOP:  # see runner's counted calls
        error = errors.calls_kept_coming(state.limits, state.refused_calls, line=line,
                                         source=source)  # fmt: skip
        return "limit_exceeded", error
    return "timeout", errors.timed_out(state.limits, line=line, source=source)


def _run_raw(source: str, state: runner.RunState) -> Done:
    """Unrestricted CPython for the isolation self-test: every OS layer on, no policy."""

    def raw_print(*args: Any, **kwargs: Any) -> None:
        kwargs.pop("file", None)
        builtins.print(*args, file=state.sink, **kwargs)

    namespace: dict[str, Any] = {"__builtins__": {**vars(builtins), "print": raw_print}}
    done, result = Done("ok"), None
    try:
        exec(compile(source, "<selftest>", "exec"), namespace)
        result = namespace.get("result")
        if not isinstance(result, (str, int, float, bool, list, dict, type(None))):
            result = repr(result)
    except MemoryError as exc:
        done.status = "limit_exceeded"
        done.error = ErrorInfo("MemoryError", str(exc), limit="memory")
    except BaseException as exc:  # noqa: BLE001
        done.status = "error"
        done.error = ErrorInfo(type(exc).__name__, str(exc)[:2000])
    if done.status == "ok":
        try:
            done.result = runner.encode_result(result)
        except (ValueError, TypeError):  # NaN, a lone surrogate
            done.status, done.error = "error", errors.unencodable()
    done.stdout, done.stdout_truncated = state.sink.text(), state.sink.truncated
    return done
