"""The host side of the sandbox: a warm pool of pre-forked children and one execution's life.

`WarmPool` starts the zygote (sandbox/zygote.py), keeps `warm` children forked ahead of demand
(asked for SPAWN_BATCH_MIN at a time, so up to SPAWN_BATCH_MIN - 1 more for a while), and runs
each execution on a fresh child: wait for its `ready` frame (it is confined and warm),
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
import contextvars
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any

import msgspec

from sandbox import errors, frames, protocol
from sandbox.limits import Limits
from sandbox.messages import CALLS_IN_FLIGHT_MAX
from sandbox.result import ExecutionResult

log = logging.getLogger("terrarium.pool")

HostFunction = Callable[[Any], Awaitable[Any]]
KILL_GRACE_S = 0.1  # SIGALRM at the deadline lets the child report; SIGKILL follows this late
EXIT_REPORT_WAIT_S = 2.0
# Children asked of the zygote in one request (it forks at most this many per message).
SPAWN_BATCH_MAX = 256
# Back to back, each execution leaves one child to replace: the pool asks for them four at a
# time (no more than it keeps warm; up to three warm children more for a while), so the
# zygote's wake-up, read of the request, handing over and reaping serve four forks (it forks
# a request's children before it hands any over: sandbox/zygote.py), and the host writes one
# request per four executions.
SPAWN_BATCH_MIN = 4
CHILD_WAIT_S = 30.0  # for a child to be handed over when none is warm
# After the zygote could not fork children (the process limit, memory): seconds before the pool
# asks again. Executions waiting meanwhile keep waiting (up to CHILD_WAIT_S).
SPAWN_RETRY_S = 0.5
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
# The zygote's messages (sandbox/zygote.py: `children` and `exits`), read as JSON objects.
_CONTROL = msgspec.json.Decoder(dict[str, Any])
# Children in one `children` message at most (the zygote sends groups of 8), and so the
# descriptors one message may carry (a channel end and a pidfd each).
GROUP_MAX = 16
CONTROL_FDS_MAX = 2 * GROUP_MAX


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
    killed: bool = False  # SIGKILL was sent: a second one would change nothing
    zygote: int = 0  # which of the pool's zygotes forked it (WarmPool._zygotes when it came)

    def signal(self, signum: int) -> None:
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signum)
            else:
                os.kill(self.pid, signum)
        except (ProcessLookupError, OSError):
            pass

    def kill(self) -> None:
        if not self.killed:
            self.killed = True
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
        python: str | None = None,
    ) -> None:
        self.spec = spec or {}
        # The zygote's interpreter: this one by default; another needs RestrictedPython,
        # greenlet and pyseccomp importable, and this package on its path.
        self.python = python or sys.executable
        self.size_max = size_max
        self.warm = warm
        self.queue_max = queue_max
        self.allow_raw = allow_raw
        self.layers: dict[str, Any] = {}
        self._idle: collections.deque[WarmChild] = collections.deque()
        self._child_waiters: collections.deque[asyncio.Future[WarmChild]] = collections.deque()
        self._exit_waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        # Reports of children that ended while their execution runs, come before it asks
        # (_died); those of any other child (every one is reported) are not kept.
        self._exits: dict[int, dict[str, Any]] = {}
        self._running_pids: set[int] = set()  # the children executions run on
        # The CPU milliseconds of the last children reaped, as the zygote reported them (their
        # whole lives: confinement, warm-up, run, exit), for measuring; bounded. The reports
        # come with the next group of children, or when asked (ask_for_exit_reports).
        self.child_cpu_ms: collections.deque[float] = collections.deque(maxlen=4096)
        self._pending_spawns = 0
        self._running = 0
        self._waiting = 0
        self._slot_free = asyncio.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctrl: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._restart_task: asyncio.Task[None] | None = None
        self._asking = False  # a request for children is scheduled for this turn of the loop
        self._ctrl_full = False  # the control socket was full: waiting for room to ask
        self._exits_to_ask: set[int] = set()  # reports to ask for when it has room again
        # The last `children` message was refused: another refused in a row does not ask again
        # by itself (a host out of descriptors gets every group cut short; see _on_children).
        self._refused = False
        self._zygotes = 0  # zygotes started so far: a child's report comes only from its own
        # The zygote could not fork what it was asked for: no request until this timer fires.
        self._retry: asyncio.TimerHandle | None = None
        # Its last word on forking was that it could not (until a group of children comes).
        self._fork_failing = False
        self._failed_forks = 0  # `failed` messages in this spell, for the line when it ends
        self.started_children = 0
        self.completed = 0
        self.kills = 0

    # --- zygote lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        _raise_open_files(self.size_max)
        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [self.python, "-m", "sandbox.zygote", str(zygote_end.fileno())]
        if self.allow_raw:
            argv.append("--allow-raw")
        # A clean environment: nothing of the host's (keys, tokens) reaches the zygote.
        env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
        if self.python != sys.executable:  # its own site-packages lacks this package
            env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
        try:
            try:
                host_end.send(json.dumps({"op": "init", "spec": self.spec}).encode())
                host_end.setblocking(False)
                ready = await asyncio.wait_for(self._loop.sock_recv(host_end, 1 << 20), 30)
            except OSError as exc:  # it closed its end with our message unread
                raise PoolUnavailable(f"the sandbox zygote exited during start ({exc})") from None
            if not ready:
                raise PoolUnavailable("the sandbox zygote exited during start")
            info = json.loads(ready)
        except BaseException:
            host_end.close()  # the zygote never got going: its socket is nobody's
            raise
        self.layers = info.get("layers", {})
        self._zygotes += 1
        self._ctrl = host_end
        self._loop.add_reader(host_end.fileno(), self._on_control)
        self._replenish()

    async def stop(self) -> None:
        self._stopping = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._ctrl is not None and self._loop is not None:
            self._loop.remove_reader(self._ctrl.fileno())
            self._loop.remove_writer(self._ctrl.fileno())
            self._ctrl.close()
            self._ctrl = None
        self._no_more_reports()  # the zygote ends now, and its running children with it
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

    def _missing(self) -> int:
        """Children wanted beyond those warm and those already asked for."""
        return self.warm + len(self._child_waiters) - len(self._idle) - self._pending_spawns

    def _replenish(self) -> None:
        """Ask the zygote for the children missing, once per turn of the event loop: a burst
        of executions arriving together makes one request, not one each. When none is missing
        (three executions in four, asked for four at a time) no turn is spent on it: the end of
        the execution that takes the next child, or a wait for one, calls this again."""
        if (
            self._asking
            or self._retry is not None
            or self._ctrl is None
            or self._loop is None
            or self._missing() <= 0
        ):
            return
        self._asking = True
        self._loop.call_soon(self._ask_for_children)

    def _ask_for_children(self) -> None:
        self._asking = False
        if self._ctrl is None or self._ctrl_full or self._retry is not None:
            # Gone; full (asked again when the zygote has read what it was sent); or pausing
            # after a fork failed (asked again when the pause is over: _retry_spawn).
            return
        want = self._missing()
        if want <= 0:
            return
        want = max(want, min(SPAWN_BATCH_MIN, self.warm))
        want = min(want, SPAWN_BATCH_MAX)
        try:
            self._ctrl.send(json.dumps({"op": "spawn", "n": want}).encode())
            self._pending_spawns += want
        except BlockingIOError:
            # The zygote is still forking what it was asked for (hundreds of executions came at
            # once): ask for the rest when its end of the socket has room again.
            self._wait_for_room()
        except OSError as exc:
            log.error("cannot ask the zygote for children: %s", exc)

    def _wait_for_room(self) -> None:
        """The control socket is full: what could not be sent goes when it has room."""
        if not self._ctrl_full and self._ctrl is not None and self._loop is not None:
            self._ctrl_full = True
            self._loop.add_writer(self._ctrl.fileno(), self._on_control_writable)

    def _ask_for_exit(self, pid: int) -> None:
        """Ask the zygote to report `pid`'s end as soon as it reaps it (it otherwise holds
        reports until the next request for children, which may not come). If the control
        socket is full, the request goes when it has room again."""
        if self._ctrl is None:
            return
        try:
            self._ctrl.send(b'{"op": "exits", "pid": %d}' % pid)
        except BlockingIOError:
            self._exits_to_ask.add(pid)
            self._wait_for_room()
        except OSError as exc:
            log.warning("cannot ask the zygote how child %d ended: %s", pid, exc)

    def ask_for_exit_reports(self) -> None:
        """Ask the zygote to reap the children that ended and send the reports it holds (it
        otherwise sends them with the next group of children). For measurements: `child_cpu_ms`
        has every reaped child's figure a moment later (a few milliseconds), once they reach
        the event loop."""
        if self._ctrl is None:
            return
        try:
            self._ctrl.send(b'{"op": "exits"}')
        except OSError as exc:
            log.warning("cannot ask the zygote for its exit reports: %s", exc)

    def _on_control_writable(self) -> None:
        self._ctrl_full = False
        if self._ctrl is not None and self._loop is not None:
            self._loop.remove_writer(self._ctrl.fileno())
        while self._exits_to_ask:
            pid = self._exits_to_ask.pop()
            if pid in self._exit_waiters:  # its execution still waits for the report
                self._ask_for_exit(pid)
                if self._ctrl_full:
                    return
        self._ask_for_children()

    def _on_control(self) -> None:
        assert self._ctrl is not None
        while True:
            try:
                data, fds, flags, _addr = socket.recv_fds(self._ctrl, 1 << 16, CONTROL_FDS_MAX)
            except BlockingIOError:
                return
            except OSError:
                data, fds, flags = b"", [], 0
            if not data:
                self._zygote_died()
                return
            try:
                message = _CONTROL.decode(data)
            except msgspec.DecodeError:  # not a JSON object: refused, with what it carried
                self._refuse(data, fds)
                continue
            op = message.get("op")
            if op == "children":
                self._on_children(message, fds, flags, data)
            elif op == "failed":
                self._on_failed(message, fds, data)
            else:
                for fd in fds:  # only a `children` message carries descriptors
                    os.close(fd)
            if op in ("children", "exits"):
                reports = message.get("exits")
                if type(reports) is list:
                    for report in reports:
                        self._on_exit(report)

    def _on_children(
        self, message: dict[str, Any], fds: list[int], flags: int, data: bytes
    ) -> None:
        """Take a group of children: each one's channel end and pidfd, in the order of `pids`."""
        pids = message.get("pids")
        with_pidfds = message.get("pidfds")
        per_child = 2 if with_pidfds is True else 1
        if (
            type(pids) is not list
            or not 0 < len(pids) <= GROUP_MAX
            or type(with_pidfds) is not bool
            or flags & socket.MSG_CTRUNC
            or len(fds) != per_child * len(pids)
            or any(type(pid) is not int or not 0 < pid < 1 << 31 for pid in pids)
            or len(set(pids)) != len(pids)
        ):
            # Not one process's pid each (a signal by pid would reach a group or every
            # process, or raise), or descriptors that do not match them.
            self._refuse(data, fds)
            return
        self._refused = False
        self._fork_failing = False
        self._pending_spawns = max(0, self._pending_spawns - len(pids))
        # A spell of failed forks ends with a group that leaves none of those asked for to
        # come: a group cut short by the limit is followed by its `failed`, in the same spell.
        if self._failed_forks and self._pending_spawns == 0:
            log.warning(
                "the sandbox zygote forks again, after %d requests it could not serve",
                self._failed_forks,
            )
            self._failed_forks = 0
        for i, pid in enumerate(pids):
            # Its kind given, not asked of the kernel (two system calls per child): the
            # zygote makes every channel with socketpair(AF_UNIX, SOCK_STREAM).
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=fds[i * per_child])
            sock.setblocking(False)
            child = WarmChild(
                pid, sock, fds[i * 2 + 1] if with_pidfds else None, zygote=self._zygotes
            )
            self.started_children += 1
            while self._child_waiters:
                waiter = self._child_waiters.popleft()
                if not waiter.done():
                    waiter.set_result(child)
                    break
            else:
                self._idle.append(child)
        if self._child_waiters:  # more wait than were asked for in one request
            self._replenish()

    def _on_failed(self, message: dict[str, Any], fds: list[int], data: bytes) -> None:
        """The zygote could not fork `n` of the children asked for (it goes on serving, its
        running children untouched): they are no longer on their way, and are asked for again
        after SPAWN_RETRY_S, not at once (the limit that stopped them may take a while)."""
        n = message.get("n")
        if fds or type(n) is not int or not 0 < n <= SPAWN_BATCH_MAX:
            self._refuse(data, fds)
            return
        if not self._failed_forks:  # once a spell: it asks again every SPAWN_RETRY_S
            log.warning(
                "the sandbox zygote could not fork %d children (%.40s); asking again every "
                "%.1f s until it can (a process or memory limit: see docs/deploy.md)",
                n, str(message.get("errno")), SPAWN_RETRY_S,
            )  # fmt: skip
        self._failed_forks += 1
        self._pending_spawns = max(0, self._pending_spawns - n)
        self._fork_failing = True
        if self._retry is None and self._loop is not None:
            self._retry = self._loop.call_later(SPAWN_RETRY_S, self._retry_spawn)

    def _retry_spawn(self) -> None:
        self._retry = None
        self._replenish()

    def _refuse(self, data: bytes, fds: list[int]) -> None:
        """A zygote message refused, with every descriptor it carried. It may have stood for a
        group of children of any size, so the count of those asked for starts again from
        nothing (a group still on its way then leaves a few children more than kept warm, never
        fewer for good), and the children are asked for again, once: when the next group is
        refused too (this host is out of descriptors, and the kernel cuts every group short),
        only an execution that ends or waits asks again, so the zygote is not kept forking
        groups that are closed as they come."""
        log.error("the sandbox zygote sent a malformed message: %.200r", data)
        for fd in fds:
            os.close(fd)
        self._pending_spawns = 0
        if not self._refused:
            self._refused = True
            self._replenish()

    def _on_exit(self, report: Any) -> None:
        """One child's end as the zygote reaped it: kept for its execution if it runs."""
        if type(report) is not dict:
            return
        pid = report.get("pid")
        if type(pid) is not int:
            return
        cpu_ms = report.get("cpu_ms")
        if isinstance(cpu_ms, int | float) and type(cpu_ms) is not bool and 0 <= cpu_ms:
            self.child_cpu_ms.append(float(cpu_ms))
        exit_waiter = self._exit_waiters.pop(pid, None)
        if exit_waiter is not None and not exit_waiter.done():
            exit_waiter.set_result(report)
        elif pid in self._running_pids:
            self._exits[pid] = report

    def _zygote_died(self) -> None:
        if self._loop is not None and self._ctrl is not None:
            self._loop.remove_reader(self._ctrl.fileno())
            self._loop.remove_writer(self._ctrl.fileno())
            self._ctrl.close()
            self._ctrl = None
        self._ctrl_full = False
        self._exits_to_ask.clear()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._no_more_reports()
        if self._stopping:
            return
        log.error("the sandbox zygote died; restarting it")
        for waiter in self._child_waiters:
            if not waiter.done():
                waiter.set_exception(PoolUnavailable("the sandbox zygote died"))
        self._child_waiters.clear()
        self._pending_spawns = 0
        self._refused = False
        self._fork_failing = False
        self._failed_forks = 0
        # Its warm children died with it (PDEATHSIG): none may be handed a script.
        while self._idle:
            child = self._idle.popleft()
            child.kill()
            child.close()
        if self._loop is not None:
            self._restart_task = self._loop.create_task(self._restart())

    def _no_more_reports(self) -> None:
        """No report can come now (the control socket is closed): an execution waiting for one
        answers at once, not after EXIT_REPORT_WAIT_S (its child died with the zygote, by its
        parent-death signal)."""
        for exit_waiter in self._exit_waiters.values():
            if not exit_waiter.done():
                exit_waiter.set_result(_ZYGOTE_GONE)
        self._exit_waiters.clear()

    async def _restart(self) -> None:
        try:
            if self._proc is not None:
                self._proc.kill()
                self._proc.wait()
            if self._stopping:  # stopped meanwhile: a zygote started now would be nobody's
                return
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
                try:
                    child = await self._handed(waiter)
                except TimeoutError:  # the zygote could not fork one (its process limit)
                    why = f"no sandbox child could be made within {CHILD_WAIT_S:.0f} s"
                    raise PoolUnavailable(why) from None
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

    async def _handed(self, waiter: asyncio.Future[WarmChild]) -> WarmChild:
        """The child handed to `waiter` (TimeoutError after CHILD_WAIT_S). Not wait_for: a
        cancellation in the turn the child is handed over must still end the wait (3.11's
        wait_for returns the child instead), and that child, nobody's then, is killed."""
        try:
            await asyncio.wait((waiter,), timeout=CHILD_WAIT_S)
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                lost = waiter.result()
                lost.kill()
                lost.close()
            waiter.cancel()
            self._forget(waiter)
            raise
        if not waiter.done():
            waiter.cancel()
            self._forget(waiter)
            raise TimeoutError
        return waiter.result()

    def _forget(self, waiter: asyncio.Future[WarmChild]) -> None:
        """A waiter that gave up no longer counts as a child missing (see _missing): else the
        pool would ask for one child too many for each, until the next child arrived."""
        try:
            self._child_waiters.remove(waiter)
        except ValueError:
            pass  # handed a child (taken off the queue) in the same turn

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
            # False while the zygote's last forks failed (the process limit, memory) and no
            # child has come since: with none warm either, no new execution can start.
            "forking": not self._fork_failing,
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
            return ExecutionResult.failed("rejected", errors.code_too_large(limits))
        await self._admit()
        started = time.perf_counter()
        try:
            request = _encode_request(code, inputs, limits, host_functions or {}, raw)
            if isinstance(request, ExecutionResult):
                result = request
            else:
                result = await self._run_on_a_child(request, limits, host_functions or {})
        finally:
            self._release()
            self._replenish()
        result.duration_ms = (time.perf_counter() - started) * 1000
        self.completed += 1
        if result.status in ("timeout", "limit_exceeded"):
            self.kills += 1
        return result

    async def _run_on_a_child(
        self, request: bytes, limits: Limits, host_functions: dict[str, HostFunction]
    ) -> ExecutionResult:
        """Run on the oldest ready child; on another if it dies before it reads the script."""
        result = ExecutionResult.failed("error", errors.sandbox_error("no sandbox child"))
        for _attempt in range(READY_ATTEMPTS):
            child = await self._take_child()
            self._running_pids.add(child.pid)
            try:
                return await self._run_on(child, request, limits, host_functions)
            except _ChildGone as exc:
                log.error("a sandbox child died before it got its script: %s", exc)
                why = f"the sandbox child was not reachable: {exc}"
                result = ExecutionResult.failed("error", errors.sandbox_error(why))
            except Exception:  # noqa: BLE001 - a host bug must not become a server error
                log.exception("an execution failed in the host")
                why = "the execution failed in the host"
                return ExecutionResult.failed("error", errors.sandbox_error(why))
            finally:
                self._running_pids.discard(child.pid)
                self._exits.pop(child.pid, None)  # its report if it came and nobody asked
                child.kill()
                child.close()
        return result

    async def _run_on(
        self,
        child: WarmChild,
        request: bytes,
        limits: Limits,
        host_functions: dict[str, HostFunction],
    ) -> ExecutionResult:
        loop = self._loop or asyncio.get_running_loop()
        exchange = _Exchange(child, limits, host_functions, loop)
        try:
            result = await exchange.run(request)
        except _Broken as exc:
            child.kill()
            log.warning("a sandbox child broke protocol: %s", exc)
            return ExecutionResult.failed("error", errors.broke_protocol(str(exc)))
        if result is None:
            return await self._died(child, limits, exchange.deadline)
        return result

    async def _died(self, child: WarmChild, limits: Limits, deadline: float) -> ExecutionResult:
        """The child closed its channel without a result: ask the zygote how it ended. One
        still alive at `deadline` (it closed its channel and went on) is killed then, as one
        that kept it open, and has timed out."""
        report = self._exits.pop(child.pid, None)
        killed = False  # at its deadline, still alive
        if report is None and (self._ctrl is None or child.zygote != self._zygotes):
            report = _ZYGOTE_GONE  # its zygote is gone (and maybe started again): none comes
        if report is None and self._loop is not None:
            waiter: asyncio.Future[dict[str, Any]] = self._loop.create_future()
            self._exit_waiters[child.pid] = waiter
            self._ask_for_exit(child.pid)
            end = self._loop.time() + EXIT_REPORT_WAIT_S
            try:
                if deadline < end:
                    await asyncio.wait([waiter], timeout=max(0.0, deadline - self._loop.time()))
                    if not waiter.done():
                        killed = True
                        child.kill()
                report = await asyncio.wait_for(waiter, max(0.0, end - self._loop.time()))
            except TimeoutError:
                pass
            finally:
                self._exit_waiters.pop(child.pid, None)
        report = {} if report is None else report
        sig = report.get("signal")
        if killed and (not report or sig == signal.SIGKILL):
            return ExecutionResult.failed("timeout", errors.timed_out(limits, killed=True))
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            error = errors.cpu_exceeded(limits, killed=True)
            return ExecutionResult.failed("limit_exceeded", error)
        if sig == signal.SIGSEGV or sig == signal.SIGABRT:
            return ExecutionResult.failed("limit_exceeded", errors.out_of_memory_or_stack())
        self.kills += 1
        if report is _ZYGOTE_GONE:
            what = "the sandbox's zygote ended with it"
        else:
            what = f"signal {sig}" if sig else f"exit code {report.get('code')}"
        why = f"the sandbox process ended without a result ({what})"
        return ExecutionResult.failed("error", errors.sandbox_error(why))


# What an execution waiting for its child's exit report is given when the zygote is gone (no
# report can come); told apart by identity, never by what a message says.
_ZYGOTE_GONE: dict[str, Any] = {}

# Descriptors the host holds per running execution: the child's socket and its pidfd, and
# (over HTTP) the client's connection.
FDS_PER_EXECUTION = 3
FDS_BASELINE = 256


def _raise_open_files(size_max: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit: the common soft default of
    1,024 runs out at about 340 executions at once. Warns when the hard limit itself is short
    of what `size_max` executions need (the operator raises it: docs/deploy.md)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            pass
    need = size_max * FDS_PER_EXECUTION + FDS_BASELINE
    if soft < need:
        log.warning("RLIMIT_NOFILE is %d: %d executions at once need about %d open files",
                    soft, size_max, need)  # fmt: skip


class _Broken(Exception):
    """The child broke protocol: the execution ends with an error and the child is killed."""


class _Exchange:
    """One execution's conversation with its child, under one deadline.

    The script goes out as one frame; frames come in through a reader callback (`_on_readable`)
    that cuts them, capped, into `bodies`; each is parsed strictly and answered: a `call` is
    counted and served, `done` ends it. A call the child marks `concurrent` (a task of
    asyncio.gather made it) runs as an asyncio task of its own while the frames after it are
    read, so several are in flight; the host holds them to CALLS_IN_FLIGHT_MAX itself: a call is
    in flight from its frame until its reply is written whole on the socket (only then can an
    honest child have read it and sent the next), and a child that sends one more is ended.
    Replies go out through one writer (`_send`), in the order they are ready, never interleaved;
    those of concurrent calls that are ready in the same turn of the loop go out in one write.
    Two timers cover the whole exchange, one after the other: SIGALRM to the child at the
    deadline (its handler reports the line), and, KILL_GRACE_S later, the end of waiting
    (cancelling a host call in progress), set when the first fires. `run` returns the result,
    or None when the channel closed with no `done` frame (the caller asks the zygote how the
    child ended).
    """

    def __init__(
        self,
        child: WarmChild,
        limits: Limits,
        host_functions: dict[str, HostFunction],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.child = child
        self.limits = limits
        self.host_functions = host_functions
        self.loop = loop
        self.bodies: collections.deque[bytes] = collections.deque()
        self.buffer = protocol.FrameBuffer(
            max_frame=done_frame_cap(limits), max_small=protocol.CALL_FRAME_BYTES
        )
        self.closed = False  # the child closed its end
        self.reset = False  # it died with bytes from us unread
        self.broken: str | None = None  # why its byte stream is unusable
        self.frames_read = 0
        self.calls = 0
        self.calling = False  # a host call is in progress (the deadline cancels it)
        self.in_flight = 0  # calls read whose reply is not yet written whole
        self.call_tasks: set[asyncio.Task[None]] = set()  # the concurrent calls being served
        self.outbox: collections.deque[list[Any]] = collections.deque()  # see _queued
        self.held: list[bytes] = []  # replies of concurrent calls written at the turn's end
        self.held_flush: asyncio.Handle | None = None
        self.writing = False  # a writer callback waits for room on the socket
        self.expired = False  # the deadline (plus its grace) has passed
        self.wakeup: asyncio.Future[None] | None = None
        self.task: asyncio.Task[Any] | None = None
        # The task's cancellations before it ran (it may be a request's own task, not a fresh
        # one): the deadline's is told apart from any other by this count.
        self.cancelling_before = 0
        self.context = contextvars.copy_context()  # host functions run in it, as in the task
        self.pending: tuple[frames.Call, Awaitable[Any]] | None = None  # begun in the callback
        self.timer: asyncio.TimerHandle | None = None  # the alarm, then the end of waiting
        self.sent = self.deadline = 0.0

    async def run(self, request: bytes) -> ExecutionResult | None:
        fd = self.child.sock.fileno()
        try:
            await self.loop.sock_sendall(self.child.sock, request)
        except OSError as exc:  # it died after saying it was ready: nothing of the script ran
            raise _ChildGone(str(exc)) from None
        self.task = asyncio.current_task()
        self.cancelling_before = self.task.cancelling() if self.task is not None else 0
        self.context = contextvars.copy_context()
        self.sent = self.loop.time()
        self.deadline = self.sent + self.limits.timeout_s + KILL_GRACE_S
        # One timer at a time: the alarm's callback sets the end of waiting, KILL_GRACE_S on.
        self.timer = self.loop.call_at(self.sent + self.limits.timeout_s, self._on_alarm)
        self.loop.add_reader(fd, self._on_readable)
        try:
            return await self._serve()
        finally:
            if self.timer is not None:
                self.timer.cancel()
            for task in self.call_tasks:
                task.cancel()  # calls of branches the script left behind: nobody reads them
            if self.held_flush is not None:
                self.held_flush.cancel()
            self.held.clear()
            self.outbox.clear()
            for remove in (self.loop.remove_reader, self.loop.remove_writer):
                try:
                    remove(fd)
                except (ValueError, OSError):
                    pass

    async def _serve(self) -> ExecutionResult | None:
        """Answer frames until `done`, the deadline, or the end of the channel."""
        while True:
            if self.pending is not None:  # a call begun in the reader callback that must wait
                call, rest = self.pending
                self.pending = None
                reply = await self._answer(call, rest)
                if reply is None:
                    return self._timed_out()
                self._send(_encode_reply(reply))
                continue
            if not self.bodies:
                if self.closed or self.broken or self.reset:
                    self._raise_if_not_ended_cleanly()
                    return None
                if self.loop.time() >= self.deadline:
                    return self._timed_out()
                self.wakeup = self.loop.create_future()
                await self.wakeup  # set by _on_readable, or by _on_deadline
                continue
            self.frames_read += 1
            frame = await self._parse(self.bodies.popleft())
            if type(frame) is frames.Call:
                outcome = await self._on_call(frame)
                if outcome is not None:
                    return outcome
            elif type(frame) is frames.Done:
                return await self._on_done(frame)
            else:
                raise _Broken("a second 'ready' frame")

    def _raise_if_not_ended_cleanly(self) -> None:
        """The channel ended: if the child never read its script or broke protocol, say so."""
        if self.reset and not self.frames_read:
            # It never read the script (a reset means our bytes were left unread): retry.
            raise _ChildGone("it died before it read its script")
        if self.broken:
            raise _Broken(self.broken)

    async def _parse(self, body: bytes) -> frames.ChildFrame:
        try:
            frame: frames.ChildFrame = await _parse(frames.decode_child, body)
        except frames.FrameError as exc:
            raise _Broken(str(exc)) from None
        return frame

    async def _on_call(self, frame: frames.Call) -> ExecutionResult | None:
        """Count and serve one host call; a result if it ended the execution."""
        self.calls += 1
        if self.calls > self.limits.max_calls:  # an honest child stops itself before this
            self.child.kill()
            return ExecutionResult.failed("limit_exceeded", errors.calls_exceeded(self.limits))
        if frame.id != self.calls:
            raise _Broken(f"call {frame.id} out of turn (expected {self.calls})")
        if self.in_flight >= CALLS_IN_FLIGHT_MAX:  # an honest child queues its calls first
            raise _Broken(f"more than {CALLS_IN_FLIGHT_MAX} calls in flight")
        self.in_flight += 1
        if frame.concurrent:
            task = self.loop.create_task(self._serve_concurrent(frame))
            self.call_tasks.add(task)
            task.add_done_callback(self.call_tasks.discard)
            return None
        reply = await self._answer(frame)
        if reply is None:
            return self._timed_out()
        self._send(_encode_reply(reply))
        return None

    async def _serve_concurrent(self, frame: frames.Call) -> None:
        """One concurrent call, answered when it is done (the deadline cancels it)."""
        fn = self.host_functions.get(frame.fn)
        if fn is None or self.expired:
            reply = await self._answer(frame)
            if reply is not None:
                self._send_soon(_encode_reply(reply))
            return
        try:
            value = await fn(frame.args)
        except Exception as exc:  # noqa: BLE001 - answered as _failed says
            reply = _failed(frame, exc)
        else:
            reply = frames.Reply(id=frame.id, ok=True, value=value)
        self._send_soon(_encode_reply(reply))

    # --- replies: one writer, each call in flight until its reply is written whole ---------
    def _send_soon(self, data: bytes) -> None:
        """A concurrent call's reply, written together with the others that are ready in the
        same turn of the event loop (a gather's calls that end together: one write, one
        wake-up of the child). Each stays in flight until its own bytes are written whole."""
        self.held.append(data)
        if self.held_flush is None:
            self.held_flush = self.loop.call_soon(self._send_held)

    def _send_held(self) -> None:
        self.held_flush = None
        held, self.held = self.held, []
        if len(held) == 1:
            self._send(held[0])
        elif held:
            self._send(b"".join(held), held)

    def _send(self, data: bytes, parts: list[bytes] | None = None) -> None:
        """Write `data` (one reply frame, or the frames `parts` joined) after whatever is queued
        before it."""
        if not self.outbox:  # nothing queued before it: straight onto the socket
            try:
                sent = self.child.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:  # the child is gone; its EOF ends the exchange
                return
            if sent == len(data):
                self.in_flight -= 1 if parts is None else len(parts)
                return
            self.outbox.append(self._queued(data, parts, sent))
            self._flush()
            return
        self.outbox.append(self._queued(data, parts, 0))
        if not self.writing:
            self._flush()

    def _queued(self, data: bytes, parts: list[bytes] | None, sent: int) -> list[Any]:
        """An outbox entry: the bytes left to write, and for each reply among them, how many
        bytes follow its end (it is whole on the socket once no more than that is left)."""
        tails: collections.deque[int] = collections.deque()
        after = len(data)
        for part in parts or (data,):
            after -= len(part)
            tails.append(after)
        item = [memoryview(data)[sent:], tails]
        self._written(item)
        return item

    def _written(self, item: list[Any]) -> None:
        """Take the replies of `item` written whole out of flight: a child may have read them
        and sent its next calls while the rest of a batch waits for room."""
        left, tails = len(item[0]), item[1]
        while tails and tails[0] >= left:
            tails.popleft()
            self.in_flight -= 1

    def _flush(self) -> None:
        sock = self.child.sock
        while self.outbox:
            item = self.outbox[0]
            try:
                sent = sock.send(item[0])
            except BlockingIOError:
                sent = 0
            except OSError:  # the child is gone; its EOF ends the exchange
                self.outbox.clear()
                break
            item[0] = item[0][sent:]
            self._written(item)
            if item[0]:
                if not self.writing:
                    self.writing = True
                    self.loop.add_writer(sock.fileno(), self._flush)
                return
            self.outbox.popleft()
        if self.writing:
            self.writing = False
            try:
                self.loop.remove_writer(sock.fileno())
            except (ValueError, OSError):
                pass

    async def _answer(
        self, frame: frames.Call, begun: Awaitable[Any] | None = None
    ) -> frames.Reply | None:
        """The host function's answer to one call; None if the deadline passed first.

        `begun` is the rest of a call the reader callback began and could not finish at once.
        """
        call_id, name = frame.id, frame.fn
        fn = self.host_functions.get(name)
        if fn is None:
            error = {"class": "RuntimeError", "message": f"no host function {name[:100]!r}"}
            return frames.Reply(id=call_id, ok=False, error=error)
        if self.expired or self.deadline - self.loop.time() <= 0:
            if isinstance(begun, Generator):
                begun.close()
            return None
        # Awaited in this task, not wrapped in a task or a timeout per call: the exchange's one
        # deadline timer cancels this task if it fires while a call is in progress.
        self.calling = True
        try:
            value = await (fn(frame.args) if begun is None else begun)
        except asyncio.CancelledError:
            if (
                self.expired
                and self.task is not None
                and self.task.uncancel() <= self.cancelling_before
            ):
                return None  # our deadline, and nobody else's cancellation
            raise
        except Exception as exc:  # noqa: BLE001 - answered as _failed says
            return _failed(frame, exc)
        finally:
            self.calling = False
        return frames.Reply(id=call_id, ok=True, value=value)

    async def _on_done(self, frame: frames.Done) -> ExecutionResult:
        if self.bodies or self.buffer.partial:
            raise _Broken("frames after 'done'")
        self.child.kill()  # nothing it sends from now on is read
        try:
            return await _finish(frame, self.limits, (self.loop.time() - self.sent) * 1000)
        except frames.FrameError as exc:
            raise _Broken(str(exc)) from None

    def _timed_out(self) -> ExecutionResult:
        self.child.kill()
        return ExecutionResult.failed("timeout", errors.timed_out(self.limits, killed=True))

    # --- event-loop callbacks --------------------------------------------------------------
    def _on_readable(self) -> None:
        fd = self.child.sock.fileno()
        try:
            while True:
                data = self.child.sock.recv(1 << 16)
                if not data:
                    self.closed = True
                    self.loop.remove_reader(fd)
                    break
                got = self.buffer.feed(data)
                self.bodies.extend(got)
                if got and not self.buffer.partial:
                    break  # the child waits for an answer now: spare the empty read
        except BlockingIOError:
            pass
        except ConnectionResetError:
            self.reset = True
            self.loop.remove_reader(fd)
        except (protocol.ProtocolError, OSError) as exc:
            self.broken = str(exc)
            self.loop.remove_reader(fd)
        if self.bodies and self.wakeup is not None and not self.wakeup.done():
            self._serve_here()
            if not (self.bodies or self.pending or self.closed or self.broken or self.reset):
                return  # all served here: the task goes on waiting
        self._wake()

    def _serve_here(self) -> None:
        """Serve the waiting one-at-a-time calls in this callback, the exchange task idle.

        The same checks as `_on_call`, on a frame parsed the same way; anything else (another
        frame, a concurrent call, a broken rule) is left in `bodies` for the task, which says
        why. A host function that finishes without waiting is answered here, with no task
        step in between; one that waits goes on in the exchange task (`pending`), where the
        deadline cancels it as any call in progress.
        """
        while self.bodies and self.pending is None and not self.expired:
            body = self.bodies[0]
            if len(body) > INLINE_PARSE_BYTES:
                return
            try:
                frame = frames.decode_child(body)
            except frames.FrameError:
                return
            if type(frame) is not frames.Call or frame.concurrent:
                return
            fn = self.host_functions.get(frame.fn)
            if (
                fn is None
                or self.calls >= self.limits.max_calls
                or frame.id != self.calls + 1
                or self.in_flight >= CALLS_IN_FLIGHT_MAX
                or self.deadline - self.loop.time() <= 0
            ):
                return
            self.bodies.popleft()
            self.frames_read += 1
            self.calls += 1
            self.in_flight += 1
            coro = fn(frame.args)
            reply = self._begin(frame, coro)
            if reply is None:
                return
            self._send(_encode_reply(reply))

    def _begin(self, frame: frames.Call, call: Awaitable[Any]) -> frames.Reply | None:
        """Run a call up to its first wait; its reply if it finished, else None (pending)."""
        if not isinstance(call, Coroutine):
            self.pending = (frame, call)
            return None
        task = self.task
        if task is not None:
            asyncio.tasks._enter_task(self.loop, task)  # as in the task: current_task() is it
        try:
            waiting = self.context.run(call.send, None)
        except StopIteration as stop:
            return frames.Reply(id=frame.id, ok=True, value=stop.value)
        except Exception as exc:  # noqa: BLE001 - answered as _failed says
            return _failed(frame, exc)
        except BaseException as exc:  # raised in the task, as if it had run there
            self.pending = (frame, _raising(exc))
            return None
        finally:
            if task is not None:
                asyncio.tasks._leave_task(self.loop, task)
        self.pending = (frame, _resume(call, waiting, self.context))
        return None

    def _on_alarm(self) -> None:
        # The end of waiting first: it holds even if sending the alarm raises.
        self.timer = self.loop.call_at(self.deadline, self._on_deadline)
        self.child.signal(signal.SIGALRM)

    def _on_deadline(self) -> None:
        self.expired = True
        for task in self.call_tasks:
            task.cancel()
        if self.calling and self.task is not None:
            self.task.cancel()  # the host call in progress ends; _answer tells it apart
        else:
            self._wake()

    def _wake(self) -> None:
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)


async def _finish(frame: frames.Done, limits: Limits, wall_ms: float) -> ExecutionResult:
    """The execution's result from its `done` frame, every limit checked on what arrived."""
    status = frame.status
    error = frames.error_info(frame.error) if frame.error is not None else None
    result: Any = None
    if status == "ok":
        error = None
        size = len(frames.raw_result(frame))
        if size > limits.result_bytes:
            status, error = "limit_exceeded", errors.result_too_large(size, limits.result_bytes)
        else:
            result = await _parse(frames.decode_result, frames.raw_result(frame))
    elif frames.raw_result(frame) != NULL_RESULT:  # only an ok frame carries a result
        raise frames.FrameError(f"a result in a '{status}' frame")
    elif error is None:
        error = errors.sandbox_error(f"the script ended {status!r}")
    error_json = None if error is None else error.to_json()
    if status == "limit_exceeded" and error_json is not None:
        error_json.setdefault("limit", None)  # named even when the child did not say which
    stdout, cut = _bounded_stdout(frame.stdout, limits.stdout_bytes)
    return ExecutionResult(
        status=status,
        result=result,
        stdout=stdout,
        stdout_truncated=frame.stdout_truncated or cut,
        error=error_json,
        warnings=[w[:MAX_WARNING_CHARS] for w in frame.warnings[: frames.MAX_WARNINGS]],
        # The child's own figure, which cannot exceed the wall time the host measured.
        cpu_ms=min(max(frame.cpu_ms, 0.0), wall_ms),
    )


def _encode_request(
    code: str,
    inputs: dict[str, Any] | None,
    limits: Limits,
    host_functions: dict[str, HostFunction],
    raw: bool,
) -> bytes | ExecutionResult:
    """The run frame with its header, or the result saying why it could not be encoded."""
    request = frames.Run(
        op="raw" if raw else "run",
        code=code,
        inputs=inputs or {},
        limits=limits,
        host_functions=sorted(n for n in host_functions if n != "client"),
    )
    try:
        return protocol.frame(frames.encode(request))
    except (TypeError, ValueError, msgspec.EncodeError) as exc:
        why = f"the request could not be encoded: {exc}"
        return ExecutionResult.failed("error", errors.sandbox_error(why))


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


@types.coroutine
def _resume(
    call: Coroutine[Any, Any, Any], waiting: Any, context: contextvars.Context
) -> Generator[Any, Any, Any]:
    """The rest of a coroutine begun elsewhere, awaited in a task (as `yield from` would)."""
    while True:
        try:
            sent = yield waiting
        except BaseException as exc:  # noqa: BLE001 - handed on to the coroutine
            try:
                waiting = context.run(call.throw, exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                waiting = context.run(call.send, sent)
            except StopIteration as stop:
                return stop.value


@types.coroutine
def _raising(exc: BaseException) -> Generator[Any, Any, Any]:
    """An awaitable that raises `exc` where it is awaited."""
    raise exc
    yield  # a generator


def _failed(frame: frames.Call, exc: Exception) -> frames.Reply:
    """The reply to a call whose host function raised: a HostCallError's own payload; any
    other exception is a host bug, logged here and never shown to the script in detail."""
    if isinstance(exc, HostCallError):
        return frames.Reply(id=frame.id, ok=False, error=exc.payload)
    log.error("host function %s failed", frame.fn, exc_info=exc)
    error = {"class": "APIError", "message": f"{frame.fn} failed in the host"}
    return frames.Reply(id=frame.id, ok=False, error=error)


def _encode_reply(reply: frames.Reply) -> bytes:
    """A reply frame; a host function's value that JSON cannot carry becomes an error reply."""
    try:
        return protocol.frame(frames.encode(reply))
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        error = {"class": "APIError", "message": "the host's answer could not be encoded"}
        return protocol.frame(frames.encode(frames.Reply(id=reply.id, ok=False, error=error)))
