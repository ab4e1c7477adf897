"""The zygote: a small pre-imported process that forks sandbox children ahead of demand.

Started by the host as `python -m sandbox.zygote FD [--allow-raw]` with a clean environment and
one SOCK_SEQPACKET control socket. It imports only RestrictedPython and this package (a small
parent makes fork cheap), enters the isolation that applies to all children (a network
namespace), then serves these messages:
  host -> zygote  {"op": "init", "spec": ...}        once, the surface spec for the proxy
  host -> zygote  {"op": "spawn", "n": k}            fork k more children
  host -> zygote  {"op": "exits", "pid": p}          report p's end as soon as it is reaped
                  (without "pid": reap now and send what is held, for measurements)
  zygote -> host  {"op": "children", "pids": [p, ...], "pidfds": true, "exits": [report, ...]}
                  + fds [channel end, pidfd] per child (only channel ends when "pidfds" is
                  false) via SCM_RIGHTS: a group of children, one message
  zygote -> host  {"op": "exits", "exits": [report, ...]}   the reports held, when asked
  zygote -> host  {"op": "failed", "n": k, "errno": "EAGAIN"}   k children asked for that
                  could not be forked (the process limit, memory, descriptors): the zygote
                  goes on; the host asks again later
  report          {"pid", "code", "signal", "cpu_ms"}   how a reaped child ended
Children that end are not reported one by one: the zygote is not woken by their exits (SIGCHLD
is left at its default) and reaps them when the next request for children comes, their reports
riding with the next group. When the host asks for a report (`exits`), it sends what it holds
at once and, while that child still runs, is woken by each exit until it is reaped, then sends
what it holds again (its report among it); it also sends them on its own once HELD_EXITS_MAX
are held. So per execution the host and the zygote each wake about once per group instead of
once per child and once per exit. A zygote that has had no message for IDLE_REAP_S reaps too
(holding the reports), so the children of a burst do not stay zombies while the pool is idle.
It holds no credential and never reads anything a child sends.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # CPython ships it without a stub
import errno
import gc
import json
import os
import select
import signal
import socket
import sys
from typing import Any, NoReturn

from sandbox import child, errors, isolation, protocol, runner
from sandbox.messages import Done
from sandbox.surface import SurfaceSpec

MAX_CONTROL_MESSAGE = 1 << 20
# Children forked one after the other before any is handed to the host (see _spawn).
SPAWN_TOGETHER = 8
# The host's spawn request as json.dumps writes it: {"op": "spawn", "n": k}.
_SPAWN_HEAD = b'{"op": "spawn", "n": '
_SPAWN_N = len(_SPAWN_HEAD)
# Exit reports held at most before they are sent on their own (a message stays a few KiB).
HELD_EXITS_MAX = 64
# Seconds without a message after which the zygote reaps the children that ended: a pool left
# idle after a burst asks for no children, and would otherwise keep all of them as zombies.
IDLE_REAP_S = 1.0


class _Exits:
    """Reports of reaped children not yet sent, and the pids the host waits for."""

    def __init__(self) -> None:
        self.held: list[bytes] = []
        self.wanted: set[int] = set()
        self.woken = False  # SIGCHLD handled (wakes the loop): only while some are wanted

    def wake_on_exits(self, on: bool) -> None:
        if on != self.woken:
            _signal.signal(_signal.SIGCHLD, _on_sigchld if on else _signal.SIG_DFL)
            self.woken = on

    def take(self) -> bytes:
        """The held reports as a JSON array, emptied."""
        data = b"[" + b", ".join(self.held) + b"]"
        self.held.clear()
        return data


def _send(ctrl: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(ctrl, [data], fds)
    else:
        ctrl.send(data)


def _control_message(data: bytes) -> Any:
    """One message from the host. A spawn request in the form the host writes is read without
    the json module: its decoder and regular expressions write pages that, after each fork,
    the zygote copies again (about 15 per request); anything else goes through json, which
    refuses what is not JSON (a count with a leading zero, `007`, among it)."""
    if data.startswith(_SPAWN_HEAD) and data.endswith(b"}"):
        digits = data[_SPAWN_N:-1]  # JSON's integer: ASCII digits, no leading zero
        if digits.isdigit() and (digits[0] != 0x30 or len(digits) == 1):
            return {"op": "spawn", "n": int(digits)}
    return json.loads(data)


def _spawn_groups(
    ctrl: socket.socket,
    spec: SurfaceSpec,
    statuses: dict[str, Any],
    allow_raw: bool,
    n: int,
    exits: _Exits,
) -> None:
    """The `n` children a request asks for (at most 256), in groups of SPAWN_TOGETHER; the
    exit reports held go with the first group. When a fork fails (the process limit, memory,
    descriptors), the children forked so far are handed over, the rest are reported as not
    forked (`failed`), and the zygote goes on serving: its running children are not lost."""
    left = max(0, min(n, 256))
    while left > 0:
        group = min(left, SPAWN_TOGETHER)
        failure = _spawn(ctrl, spec, statuses, allow_raw, group, exits.take())
        if failure is not None:
            not_forked, error = failure
            name = errno.errorcode.get(error.errno or 0, "OSError").encode()
            ctrl.send(
                b'{"op": "failed", "n": %d, "errno": "%s"}' % (not_forked + left - group, name)
            )
            return
        left -= group


def _spawn(
    ctrl: socket.socket,
    spec: SurfaceSpec,
    statuses: dict[str, Any],
    allow_raw: bool,
    n: int,
    reports: bytes = b"[]",
) -> tuple[int, OSError] | None:
    """Fork `n` children, then hand them to the host in one message: each one's channel host
    end and pidfd, and `reports` (a JSON array of exit reports held until now). When a
    socketpair or a fork fails, those forked are handed over (the reports go all the same)
    and this returns how many were not, and why.

    Every page the zygote writes after a fork is copied, because the child shares it; the
    channels are made before the forks and the children handed over after the last one, so
    those pages are copied once for the whole group instead of once per child. A child holds
    the other channels of its group only until it closes every descriptor but its own
    (isolation.enter_child, before anything of the script's arrives).
    """
    channels: list[tuple[socket.socket, socket.socket]] = []
    pids: list[int] = []
    failure: OSError | None = None
    try:
        for _ in range(n):
            channels.append(socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM))
        for host_end, child_end in channels:
            pid = os.fork()
            if pid == 0:
                _child(ctrl, host_end, child_end, spec, statuses, allow_raw)
            pids.append(pid)
    except OSError as exc:
        failure = exc
    pidfds: list[int] = []
    try:
        if not pids:
            if reports != b"[]":
                ctrl.send(b'{"op": "exits", "exits": %s}' % reports)
            return n, failure or OSError(errno.EAGAIN, "no child forked")
        for (_host_end, child_end), pid in zip(channels, pids, strict=False):
            child_end.close()
            try:
                pidfds.append(os.pidfd_open(pid))
            except OSError:  # no pidfds (a kernel before 5.3): the host signals by pid
                break
        with_pidfds = len(pidfds) == len(pids)
        fds = [host_end.fileno() for host_end, _ in channels[: len(pids)]]
        if with_pidfds:
            fds = [fd for pair in zip(fds, pidfds, strict=True) for fd in pair]
        # Formatted, not json.dumps: after each fork every page the zygote writes is copied.
        message = b'{"op": "children", "pids": [%s], "pidfds": %s, "exits": %s}' % (
            b", ".join(b"%d" % pid for pid in pids),
            b"true" if with_pidfds else b"false",
            reports,
        )
        socket.send_fds(ctrl, [message], fds)
    finally:
        for host_end, child_end in channels:
            host_end.close()
            child_end.close()
        for pidfd in pidfds:
            os.close(pidfd)
    return None if failure is None else (n - len(pids), failure)


def _child(
    ctrl: socket.socket,
    host_end: socket.socket,
    child_end: socket.socket,
    spec: SurfaceSpec,
    statuses: dict[str, Any],
    allow_raw: bool,
) -> NoReturn:
    """A new child's life, from the fork to its exit; it never returns to the zygote's loop."""
    code = 70
    try:
        # Through _signal: signal.signal converts to and from enums, which writes (and so
        # copies) the enum machinery's pages in every child.
        _signal.set_wakeup_fd(-1)
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
        host_end.close()
        ctrl.close()
        child.serve_one(child_end, spec, statuses, allow_raw)
        code = 0
    except BaseException as exc:  # noqa: BLE001 - the child must exit, never return to the loop
        code = 71
        try:  # tell the host what broke rather than leave it guessing
            why = f"the sandbox child failed: {type(exc).__name__}: {str(exc)[:500]}"
            done = Done("error", error=errors.sandbox_error(why))
            child_end.sendall(protocol.frame(done.encode()))
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def _reap(ctrl: socket.socket, exits: _Exits) -> None:
    """Reap every child that has ended and hold its report; send what is held when one the
    host waits for is among them, or when HELD_EXITS_MAX are held."""
    answered = False
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        code = b"%d" % os.WEXITSTATUS(status) if os.WIFEXITED(status) else b"null"
        sig = b"%d" % os.WTERMSIG(status) if os.WIFSIGNALED(status) else b"null"
        cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000
        exits.held.append(b'{"pid": %d, "code": %s, "signal": %s, "cpu_ms": %.3f}'
                          % (pid, code, sig, cpu_ms))  # fmt: skip
        if pid in exits.wanted:
            exits.wanted.discard(pid)
            answered = True
        if len(exits.held) >= HELD_EXITS_MAX:
            _send_exits(ctrl, exits)
    if answered:
        _send_exits(ctrl, exits)
    if not exits.wanted:
        exits.wake_on_exits(False)


def _send_exits(ctrl: socket.socket, exits: _Exits) -> None:
    if exits.held:
        ctrl.send(b'{"op": "exits", "exits": %s}' % exits.take())


def _asked(ctrl: socket.socket, exits: _Exits, pid: Any) -> None:
    """The host waits for `pid`'s report: send what is held now, and if `pid` is still running,
    be woken by exits until it is reaped (its report is then sent at once)."""
    if type(pid) is int and 0 < pid < 1 << 31:
        exits.wanted.add(pid)
        exits.wake_on_exits(True)  # before the reap: no exit goes unseen
    _reap(ctrl, exits)
    for waited in list(exits.wanted):
        try:
            os.waitid(os.P_PID, waited, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # not a child of ours (any more): its report went already
            exits.wanted.discard(waited)
    _send_exits(ctrl, exits)
    if not exits.wanted:
        exits.wake_on_exits(False)


def _on_sigchld(signum: int, frame: Any) -> None:
    """Nothing: the wake-up descriptor's byte is what the loop waits for."""


def main(argv: list[str]) -> None:
    ctrl = socket.socket(fileno=int(argv[0]))
    allow_raw = "--allow-raw" in argv
    init = json.loads(ctrl.recv(MAX_CONTROL_MESSAGE * 4))
    spec = SurfaceSpec.from_json(init.get("spec") or {})
    runner.prepare(spec)
    runner.warm_up(spec)  # first-use work (lazy imports, caches) done once, shared by every fork
    statuses = isolation.enter_zygote()
    # Everything a child needs is imported and built; freeze it so forks share the pages.
    gc.collect()
    gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    # SIGCHLD stays at its default (no wake-up per exit) until the host waits for a report.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    exits = _Exits()
    _send(ctrl, {"op": "ready", "layers": isolation.describe(statuses), "pid": os.getpid()})
    while True:
        try:
            readable, _, _ = select.select([ctrl.fileno(), wake_r], [], [], IDLE_REAP_S)
        except InterruptedError:
            continue
        if not readable:
            _reap(ctrl, exits)
            continue
        if wake_r in readable:
            os.read(wake_r, 4096)
            _reap(ctrl, exits)
        if ctrl.fileno() in readable:
            data = ctrl.recv(MAX_CONTROL_MESSAGE)
            if not data:
                return  # the host is gone; children die with us (PDEATHSIG)
            message = _control_message(data)
            op = message.get("op")
            if op == "spawn":
                _reap(ctrl, exits)  # before the forks: these pages are then copied by nobody
                _spawn_groups(ctrl, spec, statuses, allow_raw, int(message.get("n", 1)), exits)
            elif op == "exits":
                _asked(ctrl, exits, message.get("pid"))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the host closed the control socket (pool stopped mid-spawn): exit quietly
    finally:
        # Leaving already (the host closed the socket): a SIGTERM now must not interrupt the
        # removal of the empty working directory.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
