"""The host side of the sandbox: a warm pool of pre-forked children and one execution's life.

`WarmPool` starts the zygote (sandbox/zygote.py), keeps `warm` children forked ahead of demand,
and runs each execution on a fresh child: wait for its `ready` frame (it is confined and warm),
send the script and its limits as one frame, serve the child's host calls, read its `done`
frame, send it SIGALRM at the wall-clock deadline (its handler reports the line) and SIGKILL it
(through its pidfd) shortly after, or when it is done. Admission is bounded: at most `size_max`
executions run, at most `queue_max` wait, and beyond that `PoolBusy` is raised (the API answers
503 with retry-after).

The host never trusts a child: frames are size-capped JSON, every field read is type-checked,
and anything malformed ends the execution with an error, never an exception in the server.
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

from sandbox import protocol
from sandbox.limits import Limits
from sandbox.result import STATUSES, ExecutionResult, host_error

log = logging.getLogger("terrarium.pool")

HostFunction = Callable[[Any], Awaitable[Any]]
KILL_GRACE_S = 0.1  # SIGALRM at the deadline lets the child report; SIGKILL follows this late
EXIT_REPORT_WAIT_S = 2.0
READY_WAIT_S = 30.0  # a child still confining itself and warming up when it is taken
# Children tried in a row before giving up: in _take_child for ones dead before their ready
# frame, in execute for ones that died after it, before reading the script.
READY_ATTEMPTS = 3


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
            why = await self._await_ready(child)
            if not why:
                return child
            log.error("a sandbox child was not ready: %s", why)
            child.kill()
            child.close()
        raise PoolUnavailable(f"sandbox children fail before they are ready ({why})")

    async def _await_ready(self, child: WarmChild) -> str:
        """Read the child's ready frame (usually already buffered); '' if ready, else why not."""
        loop = self._loop or asyncio.get_running_loop()
        buffer = protocol.FrameBuffer()
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
                frames = buffer.feed(data)
            except protocol.ProtocolError as exc:
                return str(exc)
            if not frames:
                continue
            frame = frames[0]
            if not isinstance(frame, dict) or frame.get("t") != "ready":
                error = frame.get("error") if isinstance(frame, dict) else None
                message = error.get("message") if isinstance(error, dict) else None
                return str(message or "its first frame was not 'ready'")[:500]
            if len(frames) > 1:
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
                finally:
                    child.kill()
                    child.close()
        finally:
            self._release()
            self._replenish()
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
        request = {
            "t": "run",
            "op": "raw" if raw else "run",
            "code": code,
            "inputs": inputs or {},
            "limits": limits.to_json(),
            "host_functions": sorted(n for n in host_functions if n != "client"),
        }
        frames: collections.deque[Any] = collections.deque()
        buffer = protocol.FrameBuffer()
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
                    frames.extend(got)
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
            await loop.sock_sendall(child.sock, protocol.encode(request))
        except OSError as exc:  # it died after saying it was ready: nothing of the script ran
            raise _ChildGone(str(exc)) from None
        except ValueError as exc:
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
        try:
            while True:
                if not frames:
                    if state["eof"] or state["error"] or state["reset"]:
                        break
                    if loop.time() >= deadline:
                        return self._timed_out(child, limits)
                    wakeup = loop.create_future()
                    await wakeup  # set by on_readable, or by on_deadline
                    continue
                frame = frames.popleft()
                state["frames"] += 1
                if not isinstance(frame, dict):
                    state["error"] = "a frame that is not an object"
                    break
                kind = frame.get("t")
                if kind == "done":
                    return self._finish(frame)
                if kind == "call":
                    reply = await self._serve_call(frame, host_functions, deadline, loop, state)
                    if reply is None:
                        return self._timed_out(child, limits)
                    try:
                        await loop.sock_sendall(child.sock, protocol.encode(reply))
                    except (OSError, ValueError):
                        pass  # the child is gone; its EOF ends the loop
                    continue
                state["error"] = f"an unknown frame type {kind!r}"
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
            return host_error(
                "error", "SandboxError", f"the sandbox child broke protocol ({state['error']})"
            )
        return await self._died(child, limits)

    async def _serve_call(
        self,
        frame: dict[str, Any],
        host_functions: dict[str, HostFunction],
        deadline: float,
        loop: asyncio.AbstractEventLoop,
        state: dict[str, Any],
    ) -> dict[str, Any] | None:
        call_id = frame.get("id")
        name = frame.get("fn")
        fn = host_functions.get(name) if isinstance(name, str) else None
        if fn is None:
            return {
                "t": "reply",
                "id": call_id,
                "ok": False,
                "error": {"class": "RuntimeError", "message": f"no host function {name!r}"},
            }
        if state["expired"] or deadline - loop.time() <= 0:
            return None
        # Awaited in this task, not wrapped in a task or a timeout per call: the execution's one
        # deadline timer cancels this task if it fires while a call is in progress.
        task = asyncio.current_task()
        state["calling"] = True
        try:
            value = await fn(frame.get("args"))
        except asyncio.CancelledError:
            if state["expired"] and task is not None and task.uncancel() == 0:
                return None  # our deadline, and nobody else's cancellation
            raise
        except HostCallError as exc:
            return {"t": "reply", "id": call_id, "ok": False, "error": exc.payload}
        except Exception:  # noqa: BLE001 - never let a host bug reach the script as detail
            log.exception("host function %s failed", name)
            return {
                "t": "reply",
                "id": call_id,
                "ok": False,
                "error": {"class": "APIError", "message": f"{name} failed in the host"},
            }
        finally:
            state["calling"] = False
        return {"t": "reply", "id": call_id, "ok": True, "value": value}

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

    def _finish(self, frame: dict[str, Any]) -> ExecutionResult:
        status = frame.get("status")
        if status not in STATUSES:
            return host_error("error", "SandboxError", "the sandbox child sent an unknown status")
        error = frame.get("error")
        stdout = frame.get("stdout")
        warnings = frame.get("warnings")
        cpu_ms = frame.get("cpu_ms")
        if status in ("timeout", "limit_exceeded"):
            self.kills += 1
        return ExecutionResult(
            status=status,
            result=frame.get("result"),
            stdout=stdout if isinstance(stdout, str) else "",
            stdout_truncated=frame.get("stdout_truncated") is True,
            error=error if isinstance(error, dict) else None,
            warnings=[w for w in warnings if isinstance(w, str)]
            if isinstance(warnings, list)
            else [],
            cpu_ms=float(cpu_ms) if isinstance(cpu_ms, (int, float)) else 0.0,
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
