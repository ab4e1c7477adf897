"""The host side of the sandbox: a warm pool of pre-forked children and one execution's life.

`WarmPool` starts the zygote (sandbox/zygote.py), keeps `warm` children forked ahead of demand,
and runs each execution on a fresh child: wait for its `ready` frame (it is confined and warm),
send the script and its limits as one frame, serve the child's host calls, read its `done`
frame, send it SIGALRM at the wall-clock deadline (its handler reports the line) and SIGKILL it
(through its pidfd) shortly after, or when it is done. Admission is bounded: at most `size_max`
executions run, at most `queue_max` wait, and beyond that `PoolBusy` is raised (the API answers
503 with retry-after).

The host treats every child as fully compromised, as if it ran arbitrary native code, and keeps
every promise on its own: each frame's size is capped when its header arrives (call frames at
protocol.CALL_FRAME_BYTES, the `done` frame at the execution's result and stdout limits plus
headroom), every frame is parsed strictly against its declared type (sandbox/frames.py, large
ones off the event loop), host calls are counted here against `max_calls`, stdout and the result
are measured on the bytes received, and the child's `cpu_ms` is checked against the wall time
the host measured. Anything malformed ends the execution with an error and kills the child,
never an exception in the server, and the pool slot is given back in a `finally`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from sandbox import frames, protocol
from sandbox.limits import Limits
from sandbox.result import ExecutionResult, host_error

log = logging.getLogger("terrarium.pool")

HostFunction = Callable[[Any], Awaitable[Any]]
KILL_GRACE_S = 0.1  # SIGALRM at the deadline lets the child report; SIGKILL follows this late
EXIT_REPORT_WAIT_S = 2.0
READY_WAIT_S = 30.0  # a child still confining itself and warming up when it is taken
# Children tried in a row before giving up: in _take_child for ones dead before their ready
# frame, in execute for ones that died after it, before reading the script.
READY_ATTEMPTS = 3
# Room in a `done` frame beyond its result and stdout: the error (a deep traceback), warnings.
DONE_HEADROOM_BYTES = 1024 * 1024
# A JSON string can take 6 bytes per character of stdout (a control character as \u0001).
STDOUT_ESCAPE_FACTOR = 6
# Frames larger than this are parsed on a worker thread, so the event loop keeps serving.
INLINE_PARSE_BYTES = 64 * 1024
MAX_WARNING_CHARS = 500
NULL_RESULT = msgspec.Raw(b"null")


class PoolBusy(Exception):
    """Every slot is running and the queue is full."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the sandbox pool is at capacity")
        self.retry_after = retry_after


class PoolUnavailable(Exception):
    """The zygote is not running (it failed to start or died and is restarting)."""


class _ChildGone(Exception):
    """The child could not be sent its script (it died after its ready frame)."""


class HostCallError(Exception):
    """A host function refused a call; `payload` is the JSON error sent back to the script."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("message", "host call failed"))
        self.payload = payload


@dataclass
class WarmChild:
    pid: int
    sock: socket.socket
    pidfd: int | None

    def signal(self, signum: int) -> None:
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signum)
            else:
                os.kill(self.pid, signum)
        except (ProcessLookupError, OSError):
            pass

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def close(self) -> None:
        self.sock.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class WarmPool:
    def __init__(
        self,
        spec: dict[str, Any] | None = None,
        *,
        size_max: int = 64,
        warm: int = 8,
        queue_max: int = 256,
        allow_raw: bool = False,
    ) -> None:
        self.spec = spec or {}
        self.size_max = size_max
        self.warm = warm
        self.queue_max = queue_max
        self.allow_raw = allow_raw
        self.layers: dict[str, Any] = {}
        self._idle: collections.deque[WarmChild] = collections.deque()
        self._child_waiters: collections.deque[asyncio.Future[WarmChild]] = collections.deque()
        self._exit_waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._exits: dict[int, dict[str, Any]] = {}
        self._pending_spawns = 0
        self._running = 0
        self._waiting = 0
        self._slot_free = asyncio.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctrl: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._restart_task: asyncio.Task[None] | None = None
        self.started_children = 0
        self.completed = 0
        self.kills = 0

    # --- zygote lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sys.executable, "-m", "sandbox.zygote", str(zygote_end.fileno())]
        if self.allow_raw:
            argv.append("--allow-raw")
        # A clean environment: nothing of the host's (keys, tokens) reaches the zygote.
        env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
        self._proc = subprocess.Popen(
            argv,
            pass_fds=[zygote_end.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,
        )
        zygote_end.close()
        host_end.send(json.dumps({"op": "init", "spec": self.spec}).encode())
        host_end.setblocking(False)
        ready = await asyncio.wait_for(self._loop.sock_recv(host_end, 1 << 20), 30)
        if not ready:
            raise PoolUnavailable("the sandbox zygote exited during start")
        info = json.loads(ready)
        self.layers = info.get("layers", {})
        self._ctrl = host_end
        self._loop.add_reader(host_end.fileno(), self._on_control)
        self._replenish()

    async def stop(self) -> None:
        self._stopping = True
        if self._ctrl is not None and self._loop is not None:
            self._loop.remove_reader(self._ctrl.fileno())
            self._ctrl.close()
            self._ctrl = None
        while self._idle:
            child = self._idle.popleft()
            child.kill()
            child.close()
        if self._proc is not None:
            self._proc.terminate()
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._proc.wait, 5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        for waiter in self._child_waiters:
            if not waiter.done():
                waiter.set_exception(PoolUnavailable("the pool stopped"))

    def _replenish(self) -> None:
        want = self.warm + len(self._child_waiters) - len(self._idle) - self._pending_spawns
        if want > 0 and self._ctrl is not None:
            try:
                self._ctrl.send(json.dumps({"op": "spawn", "n": want}).encode())
                self._pending_spawns += want
            except OSError as exc:
                log.error("cannot ask the zygote for children: %s", exc)

    def _on_control(self) -> None:
        assert self._ctrl is not None
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self._ctrl, 1 << 16, 2)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self._zygote_died()
                return
            message = json.loads(data)
            if message.get("op") == "child" and fds:
                self._pending_spawns = max(0, self._pending_spawns - 1)
                sock = socket.socket(fileno=fds[0])
                sock.setblocking(False)
                child = WarmChild(int(message["pid"]), sock, fds[1] if len(fds) > 1 else None)
                self.started_children += 1
                while self._child_waiters:
                    waiter = self._child_waiters.popleft()
                    if not waiter.done():
                        waiter.set_result(child)
                        break
                else:
                    self._idle.append(child)
            elif message.get("op") == "exit":
                pid = int(message.get("pid", -1))
                waiter = self._exit_waiters.pop(pid, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
                elif len(self._exits) < 4096:
                    self._exits[pid] = message
            else:
                for fd in fds:
                    os.close(fd)

    def _zygote_died(self) -> None:
        if self._loop is not None and self._ctrl is not None:
            self._loop.remove_reader(self._ctrl.fileno())
            self._ctrl.close()
            self._ctrl = None
        if self._stopping:
            return
        log.error("the sandbox zygote died; restarting it")
        for waiter in self._child_waiters:
            if not waiter.done():
                waiter.set_exception(PoolUnavailable("the sandbox zygote died"))
        self._child_waiters.clear()
        self._pending_spawns = 0
        # Its warm children died with it (PDEATHSIG): none may be handed a script.
        while self._idle:
            child = self._idle.popleft()
            child.kill()
            child.close()
        if self._loop is not None:
            self._restart_task = self._loop.create_task(self._restart())

    async def _restart(self) -> None:
        try:
            if self._proc is not None:
                self._proc.kill()
                self._proc.wait()
            await self.start()
        except Exception:  # noqa: BLE001
            log.exception("the sandbox zygote could not be restarted")

    # --- admission -------------------------------------------------------------------------
    async def _admit(self) -> None:
        if self._running < self.size_max and self._waiting == 0:
            self._running += 1
            return
        if self._waiting >= self.queue_max:
            raise PoolBusy(retry_after=1.0)
        self._waiting += 1
        try:
            while self._running >= self.size_max:
                self._slot_free.clear()
                await self._slot_free.wait()
        finally:
            self._waiting -= 1
        self._running += 1

    def _release(self) -> None:
        self._running -= 1
        self._slot_free.set()

    async def _take_child(self) -> WarmChild:
        """The oldest warm child, once it has said it is ready; children that die first are
        replaced. Replacements are asked for when the execution ends (see execute): forking now
        would compete for the CPU with the execution it is about to serve."""
        why = ""
        for _attempt in range(READY_ATTEMPTS):
            if self._ctrl is None:
                raise PoolUnavailable("the sandbox is not running")
            child = self._idle.popleft() if self._idle else None
            if child is None:
                assert self._loop is not None
                waiter: asyncio.Future[WarmChild] = self._loop.create_future()
                self._child_waiters.append(waiter)
                self._replenish()
                child = await asyncio.wait_for(waiter, 30)
            try:
                why = await self._await_ready(child)
            except BaseException:  # cancelled while it waited: the child is nobody's now
                child.kill()
                child.close()
                raise
            if not why:
                return child
            log.error("a sandbox child was not ready: %s", why)
            child.kill()
            child.close()
        raise PoolUnavailable(f"sandbox children fail before they are ready ({why})")

    async def _await_ready(self, child: WarmChild) -> str:
        """Read the child's ready frame (usually already buffered); '' if ready, else why not."""
        loop = self._loop or asyncio.get_running_loop()
        buffer = protocol.FrameBuffer(max_frame=protocol.CALL_FRAME_BYTES)
        end = loop.time() + READY_WAIT_S
        while True:
            try:
                data = child.sock.recv(4096)
            except BlockingIOError:
                try:
                    left = end - loop.time()
                    data = await asyncio.wait_for(loop.sock_recv(child.sock, 4096), left)
                except TimeoutError:
                    return f"no ready frame within {READY_WAIT_S:.0f} s"
            except OSError as exc:
                return f"its channel failed: {exc}"
            if not data:
                return "it exited while confining itself or warming up"
            try:
                bodies = buffer.feed(data)
                if not bodies:
                    continue
                frame = frames.decode_child(bodies[0])
            except (protocol.ProtocolError, frames.FrameError) as exc:
                return f"it broke protocol: {exc}"
            if type(frame) is not frames.Ready:
                error = frame.error if type(frame) is frames.Done else None
                return (error.message if error else "its first frame was not 'ready'")[:500]
            if len(bodies) > 1 or buffer.partial:
                return "it sent frames after 'ready' unasked"
            try:  # a child killed while it waited left its ready frame behind: is it alive?
                if child.sock.recv(1, socket.MSG_PEEK) == b"":
                    return "it exited after it was ready"
                return "it sent bytes after 'ready' unasked"
            except BlockingIOError:
                return ""
            except OSError as exc:
                return f"its channel failed: {exc}"

    def health(self) -> dict[str, Any]:
        return {
            "running": self._running,
            "waiting": self._waiting,
            "warm": len(self._idle),
            "size_max": self.size_max,
            "queue_max": self.queue_max,
            "zygote_alive": self._ctrl is not None,
            "children_started": self.started_children,
            "executions_completed": self.completed,
            "limit_kills": self.kills,
        }

    # --- one execution -------------------------------------------------------------------------
    async def execute(
        self,
        code: str,
        *,
        inputs: dict[str, Any] | None = None,
        limits: Limits | None = None,
        host_functions: dict[str, HostFunction] | None = None,
        raw: bool = False,
    ) -> ExecutionResult:
        limits = limits or Limits()
        if len(code.encode()) > limits.code_bytes:
            return host_error(
                "rejected", "CodeTooLarge", f"the code is over the {limits.code_bytes}-byte limit"
            )
        await self._admit()
        started = time.perf_counter()
        result: ExecutionResult | None = None
        try:
            for _attempt in range(READY_ATTEMPTS):
                child = await self._take_child()
                try:
                    result = await self._run_on(
                        child, code, inputs, limits, host_functions or {}, raw
                    )
                    break
                except _ChildGone as exc:
                    log.error("a sandbox child died before it got its script: %s", exc)
                    result = host_error(
                        "error", "SandboxError", f"the sandbox child was not reachable: {exc}"
                    )
                except Exception:  # noqa: BLE001 - a host bug must not become a server error
                    log.exception("an execution failed in the host")
                    result = host_error("error", "SandboxError", "the execution failed in the host")
                    break
                finally:
                    child.kill()
                    child.close()
        finally:
            self._release()
            self._replenish()
        assert result is not None
        result.duration_ms = (time.perf_counter() - started) * 1000
        self.completed += 1
        return result

    async def _run_on(
        self,
        child: WarmChild,
        code: str,
        inputs: dict[str, Any] | None,
        limits: Limits,
        host_functions: dict[str, HostFunction],
        raw: bool,
    ) -> ExecutionResult:
        loop = self._loop or asyncio.get_running_loop()
        request = frames.Run(
            op="raw" if raw else "run",
            code=code,
            inputs=inputs or {},
            limits=limits.to_json(),
            host_functions=sorted(n for n in host_functions if n != "client"),
        )
        bodies: collections.deque[bytes] = collections.deque()
        buffer = protocol.FrameBuffer(
            max_frame=done_frame_cap(limits), max_small=protocol.CALL_FRAME_BYTES
        )
        state: dict[str, Any] = {
            "eof": False, "error": None, "reset": False, "frames": 0,
            "calling": False, "expired": False,
        }  # fmt: skip
        wakeup: asyncio.Future[None] | None = None
        fd = child.sock.fileno()

        def on_readable() -> None:
            nonlocal wakeup
            try:
                while True:
                    data = child.sock.recv(1 << 16)
                    if not data:
                        state["eof"] = True
                        loop.remove_reader(fd)
                        break
                    got = buffer.feed(data)
                    bodies.extend(got)
                    if got and not buffer.partial:
                        break  # the child waits for an answer now: spare the empty read
            except BlockingIOError:
                pass
            except ConnectionResetError:  # it died with bytes from us unread
                state["reset"] = True
                loop.remove_reader(fd)
            except (protocol.ProtocolError, OSError) as exc:
                state["error"] = str(exc)
                loop.remove_reader(fd)
            if wakeup is not None and not wakeup.done():
                wakeup.set_result(None)

        try:
            await loop.sock_sendall(child.sock, _with_header(frames.encode(request)))
        except OSError as exc:  # it died after saying it was ready: nothing of the script ran
            raise _ChildGone(str(exc)) from None
        except (TypeError, ValueError, msgspec.EncodeError) as exc:
            return host_error("error", "SandboxError", f"the request could not be encoded: {exc}")

        task = asyncio.current_task()

        def on_deadline() -> None:
            state["expired"] = True
            if state["calling"] and task is not None:
                task.cancel()  # the host call in progress ends; _serve_call tells it apart
            elif wakeup is not None and not wakeup.done():
                wakeup.set_result(None)

        # SIGALRM at the deadline: the child's handler replies with the line it was on. The
        # kill follows KILL_GRACE_S later. One timer each for the whole exchange, not one per
        # frame or call.
        sent = loop.time()
        deadline = sent + limits.timeout_s + KILL_GRACE_S
        alarm_timer = loop.call_at(sent + limits.timeout_s, child.signal, signal.SIGALRM)
        deadline_timer = loop.call_at(deadline, on_deadline)
        loop.add_reader(fd, on_readable)
        calls = 0
        try:
            while True:
                if not bodies:
                    if state["eof"] or state["error"] or state["reset"]:
                        break
                    if loop.time() >= deadline:
                        return self._timed_out(child, limits)
                    wakeup = loop.create_future()
                    await wakeup  # set by on_readable, or by on_deadline
                    continue
                body = bodies.popleft()
                state["frames"] += 1
                try:
                    frame = await _parse(frames.decode_child, body)
                except frames.FrameError as exc:
                    state["error"] = str(exc)
                    break
                if type(frame) is frames.Call:
                    calls += 1
                    if calls > limits.max_calls:  # an honest child stops itself before this
                        child.kill()
                        return self._over_calls(limits)
                    if frame.id != calls:
                        state["error"] = f"call {frame.id} out of turn (expected {calls})"
                        break
                    reply = await self._serve_call(frame, host_functions, deadline, loop, state)
                    if reply is None:
                        return self._timed_out(child, limits)
                    try:
                        await loop.sock_sendall(child.sock, _encode_reply(reply))
                    except OSError:
                        pass  # the child is gone; its EOF ends the loop
                    continue
                if type(frame) is frames.Done:
                    if bodies or buffer.partial:
                        state["error"] = "frames after 'done'"
                        break
                    child.kill()  # nothing it sends from now on is read
                    try:
                        return await self._finish(frame, limits, (loop.time() - sent) * 1000)
                    except frames.FrameError as exc:
                        state["error"] = str(exc)
                        break
                state["error"] = "a second 'ready' frame"
                break
        finally:
            alarm_timer.cancel()
            deadline_timer.cancel()
            try:
                loop.remove_reader(fd)
            except (ValueError, OSError):
                pass
        if state["reset"] and not state["frames"]:
            # It never read the script (a reset means our bytes were left unread): retry.
            raise _ChildGone("it died before it read its script")
        if state["error"]:
            child.kill()
            log.warning("a sandbox child broke protocol: %s", state["error"])
            return host_error(
                "error",
                "SandboxError",
                f"the sandbox child broke protocol ({state['error']}) and was stopped",
                "run the script again; if it keeps failing, report it to the operator",
            )
        return await self._died(child, limits)

    async def _serve_call(
        self,
        frame: frames.Call,
        host_functions: dict[str, HostFunction],
        deadline: float,
        loop: asyncio.AbstractEventLoop,
        state: dict[str, Any],
    ) -> frames.Reply | None:
        call_id = frame.id
        name = frame.fn
        fn = host_functions.get(name)
        if fn is None:
            error = {"class": "RuntimeError", "message": f"no host function {name[:100]!r}"}
            return frames.Reply(id=call_id, ok=False, error=error)
        if state["expired"] or deadline - loop.time() <= 0:
            return None
        # Awaited in this task, not wrapped in a task or a timeout per call: the execution's one
        # deadline timer cancels this task if it fires while a call is in progress.
        task = asyncio.current_task()
        state["calling"] = True
        try:
            value = await fn(frame.args)
        except asyncio.CancelledError:
            if state["expired"] and task is not None and task.uncancel() == 0:
                return None  # our deadline, and nobody else's cancellation
            raise
        except HostCallError as exc:
            return frames.Reply(id=call_id, ok=False, error=exc.payload)
        except Exception:  # noqa: BLE001 - never let a host bug reach the script as detail
            log.exception("host function %s failed", name)
            error = {"class": "APIError", "message": f"{name} failed in the host"}
            return frames.Reply(id=call_id, ok=False, error=error)
        finally:
            state["calling"] = False
        return frames.Reply(id=call_id, ok=True, value=value)

    def _over_calls(self, limits: Limits) -> ExecutionResult:
        self.kills += 1
        return host_error(
            "limit_exceeded",
            "LimitExceeded",
            f"this execution may make at most {limits.max_calls} client calls",
            "batch the work or ask for fewer items per page",
            limit="calls",
        )

    def _timed_out(self, child: WarmChild, limits: Limits) -> ExecutionResult:
        child.kill()
        self.kills += 1
        return host_error(
            "timeout",
            "Timeout",
            f"the script ran past its {limits.timeout_s} s wall-clock limit and was killed",
            "poll less often, raise timeout_s (up to the maximum), or submit it as an "
            "asynchronous execution",
        )

    async def _finish(self, frame: frames.Done, limits: Limits, wall_ms: float) -> ExecutionResult:
        """The execution's result from its `done` frame, every limit checked on what arrived."""
        status = frame.status
        error = frames.error_json(frame.error) if frame.error is not None else None
        result: Any = None
        if status == "ok":
            error = None
            size = len(frame.result)
            if size > limits.result_bytes:
                status = "limit_exceeded"
                error = host_error(
                    status, "LimitExceeded",
                    f"the result is {size} bytes, over the {limits.result_bytes}-byte limit",
                    "return less (a summary, ids or URLs) or print details",
                    limit="result_size",
                ).error  # fmt: skip
            else:
                result = await _parse(frames.decode_result, frame.result)
        else:
            if frame.result != NULL_RESULT:  # only an ok frame carries a result
                raise frames.FrameError(f"a result in a '{status}' frame")
            if error is None:
                error = host_error(status, "SandboxError", f"the script ended {status!r}").error
        if status == "limit_exceeded" and error is not None:
            error.setdefault("limit", None)
        stdout, cut = _bounded_stdout(frame.stdout, limits.stdout_bytes)
        if status in ("timeout", "limit_exceeded"):
            self.kills += 1
        return ExecutionResult(
            status=status,
            result=result,
            stdout=stdout,
            stdout_truncated=frame.stdout_truncated or cut,
            error=error,
            warnings=[w[:MAX_WARNING_CHARS] for w in frame.warnings[: frames.MAX_WARNINGS]],
            # The child's own figure, which cannot exceed the wall time the host measured.
            cpu_ms=min(max(frame.cpu_ms, 0.0), wall_ms),
        )

    async def _died(self, child: WarmChild, limits: Limits) -> ExecutionResult:
        """The child closed its channel without a result: ask the zygote how it ended."""
        report = self._exits.pop(child.pid, None)
        if report is None and self._loop is not None:
            waiter = self._loop.create_future()
            self._exit_waiters[child.pid] = waiter
            try:
                report = await asyncio.wait_for(waiter, EXIT_REPORT_WAIT_S)
            except TimeoutError:
                report = {}
            finally:
                self._exit_waiters.pop(child.pid, None)
        sig = report.get("signal")
        self.kills += 1
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return host_error(
                "limit_exceeded",
                "LimitExceeded",
                f"the script used its {limits.cpu_s} s of CPU time and was killed",
                "do less work per execution, or ask for a larger cpu_s",
                limit="cpu",
            )
        if sig == signal.SIGSEGV or sig == signal.SIGABRT:
            return host_error(
                "limit_exceeded",
                "LimitExceeded",
                "the script ran out of memory or stack and the process crashed",
                "use less memory or less recursion",
                limit="memory",
            )
        what = f"signal {sig}" if sig else f"exit code {report.get('code')}"
        return host_error(
            "error", "SandboxError", f"the sandbox process ended without a result ({what})"
        )


def done_frame_cap(limits: Limits) -> int:
    """The largest `done` frame this execution may send: its result, its stdout, headroom."""
    stdout = limits.stdout_bytes * STDOUT_ESCAPE_FACTOR
    return max(protocol.CALL_FRAME_BYTES, limits.result_bytes + stdout + DONE_HEADROOM_BYTES)


async def _parse(parse: Callable[[Any], Any], body: bytes | msgspec.Raw) -> Any:
    """Parse a frame or a value: inline when small, on a worker thread when large."""
    if len(body) <= INLINE_PARSE_BYTES:
        return parse(body)
    return await asyncio.to_thread(parse, body)


def _bounded_stdout(stdout: str, limit: int) -> tuple[str, bool]:
    """Stdout cut to `limit` bytes of UTF-8 (at a character boundary); True if it was cut."""
    if len(stdout) * 4 <= limit:  # no string this short can be over the limit
        return stdout, False
    data = stdout.encode()
    if len(data) <= limit:
        return stdout, False
    return data[:limit].decode("utf-8", "ignore"), True


def _with_header(body: bytes) -> bytes:
    return protocol.HEADER.pack(len(body)) + body


def _encode_reply(reply: frames.Reply) -> bytes:
    """A reply frame; a host function's value that JSON cannot carry becomes an error reply."""
    try:
        return _with_header(frames.encode(reply))
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        error = {"class": "APIError", "message": "the host's answer could not be encoded"}
        return _with_header(frames.encode(frames.Reply(id=reply.id, ok=False, error=error)))
