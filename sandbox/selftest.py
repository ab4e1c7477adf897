"""The isolation self-test: unrestricted CPython in a real sandbox child, probing each OS layer.

`run_raw(code)` runs `code` as plain CPython (no RestrictedPython, no guards, no facades) in a
normal child with every OS layer on, through a private `WarmPool(allow_raw=True)`. It exists so
a reviewer can check the layers *below* the policy as if the policy had been bypassed. The
runtime's own pool never sets `allow_raw`, and nothing in the API, the MCP tool or the settings
reaches this module; only `terrarium selftest` and the test-suite call it.

`probes()` runs one live attack per layer and checks its effect from the host side (the
listener got no connection, the file does not exist, the canary is not in the response), and
host-side probes in which the child writes its own frames (calls past `max_calls`, stdout and a
result past their limits, a 60 MB frame, NaN and a lone surrogate) to check that the host keeps
each limit whatever the child says, then
`format_table(rows)` prints the outcome: held / not held / not available.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from sandbox.limits import Limits
from sandbox.pool import HostFunction, WarmPool
from sandbox.result import ExecutionResult

_T = TypeVar("_T")

HELD, NOT_HELD, NOT_AVAILABLE = "held", "not held", "not available"
CANARY_VARIABLE = "TERRARIUM_SELFTEST_CANARY"
DEFAULT_LIMITS = Limits(timeout_s=10, cpu_s=5, memory_mb=128)


class RawSandbox:
    """A private raw-capable pool on its own event loop thread, usable from sync code.

    Set the environment canary (if any) before creating it: the zygote starts in `start()`.
    """

    def __init__(self, warm: int = 1) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.pool = WarmPool({}, warm=warm, size_max=8, allow_raw=True)
        self._call(self.pool.start())

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float = 120) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def layers(self) -> dict[str, Any]:
        return self.pool.layers

    def run(
        self,
        code: str,
        limits: Limits | None = None,
        host_functions: dict[str, HostFunction] | None = None,
    ) -> ExecutionResult:
        execution = self.pool.execute(
            code, limits=limits or DEFAULT_LIMITS, host_functions=host_functions, raw=True
        )
        return self._call(execution)

    def health(self) -> dict[str, Any]:
        """The pool's counters, read on its own loop."""

        async def read() -> dict[str, Any]:
            return self.pool.health()

        return self._call(read())

    def close(self) -> None:
        try:
            self._call(self.pool.stop(), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> RawSandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


async def run_raw_async(code: str, limits: Limits | None = None) -> ExecutionResult:
    """Run `code` as unrestricted CPython in a fresh child of a private raw pool."""
    pool = WarmPool({}, warm=1, size_max=1, allow_raw=True)
    await pool.start()
    try:
        return await pool.execute(code, limits=limits or DEFAULT_LIMITS, raw=True)
    finally:
        await pool.stop()


def run_raw(code: str, limits: Limits | None = None) -> ExecutionResult:
    """Synchronous `run_raw_async` (runs its own event loop)."""
    return asyncio.run(run_raw_async(code, limits))


# --- probes ------------------------------------------------------------------------------------
@dataclass
class ProbeRow:
    probe: str
    layers: str  # the layers expected to stop it
    outcome: str  # held / not held / not available
    detail: str


def _text(result: ExecutionResult) -> str:
    """Everything the child said, for canary and content checks."""
    return " ".join(
        str(part) for part in (result.status, result.result, result.stdout, result.error)
    )


def _refused(result: ExecutionResult) -> tuple[bool, str]:
    """The probe script sets result = 'refused: ...' when its attempt failed with an OSError."""
    value = result.result
    if result.status == "ok" and isinstance(value, str) and value.startswith("refused"):
        return True, value
    if result.status == "ok":
        return False, f"the attempt succeeded: {str(value)[:200]}"
    error = result.error or {}
    return False, f"no verdict: {result.status} {error.get('type')}: {error.get('message')}"


def _outcome(refused: bool, detail: str) -> str:
    if refused:
        return HELD
    # The attempt failed before reaching the kernel (e.g. a codec it could not load): no verdict.
    return NOT_AVAILABLE if detail.startswith("the attempt succeeded: inconclusive") else NOT_HELD


def _attempt(body: str) -> str:
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return (
        "try:\n"
        f"{indented}\n"
        "except OSError as exc:\n"
        "    result = 'refused: ' + type(exc).__name__ + ': ' + str(exc)[:200]\n"
        "except BaseException as exc:\n"
        "    result = 'inconclusive: ' + type(exc).__name__ + ': ' + str(exc)[:200]\n"
    )


def _probe_connect(sandbox: RawSandbox) -> ProbeRow:
    layers = "netns, seccomp, landlock"
    try:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
    except OSError as exc:
        return ProbeRow("TCP connect to a host listener", layers, NOT_AVAILABLE, str(exc))
    port = listener.getsockname()[1]
    try:
        result = sandbox.run(
            _attempt(
                "import socket\n"
                "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
                "s.settimeout(2)\n"
                f"s.connect((b'127.0.0.1', {port}))\n"
                "result = 'connected'"
            )
        )
        time.sleep(0.05)
        try:
            conn, _ = listener.accept()
            conn.close()
            accepted = True
        except BlockingIOError:
            accepted = False
    finally:
        listener.close()
    refused, detail = _refused(result)
    if accepted:
        return ProbeRow("TCP connect to a host listener", layers, NOT_HELD, "the listener got one")
    return ProbeRow("TCP connect to a host listener", layers, _outcome(refused, detail), detail)


def _simple(name: str, layers: str, body: str) -> Callable[[RawSandbox], ProbeRow]:
    def probe(sandbox: RawSandbox) -> ProbeRow:
        refused, detail = _refused(sandbox.run(_attempt(body)))
        return ProbeRow(name, layers, _outcome(refused, detail), detail)

    return probe


_probe_resolve = _simple(
    "resolve a host name",
    "netns, seccomp, landlock",
    "import socket\nresult = 'resolved ' + repr(socket.getaddrinfo(b'example.com', 443))",
)
_probe_fork = _simple(
    "fork a process",
    "seccomp, rlimits (NPROC)",
    "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nresult = 'forked ' + str(pid)",
)


def _probe_exec(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "exec /bin/true", "seccomp, landlock"
    if not os.path.exists("/bin/true"):
        return ProbeRow(name, layers, NOT_AVAILABLE, "/bin/true does not exist on this host")
    result = sandbox.run(_attempt("import os\nos.execv('/bin/true', ['/bin/true'])"))
    refused, detail = _refused(result)
    if not refused and result.status == "error" and "exit code 0" in str(result.error):
        detail = "the child became /bin/true (it exited 0 without a result)"
    return ProbeRow(name, layers, _outcome(refused, detail), detail)


def _probe_write(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "write a file in /tmp", "landlock, seccomp, rlimits (FSIZE)"
    path = os.path.join(tempfile.gettempdir(), f"terrarium-selftest-{secrets.token_hex(8)}")
    result = sandbox.run(
        _attempt(f"with open({path!r}, 'w') as fh:\n    fh.write('x')\nresult = 'written'")
    )
    refused, detail = _refused(result)
    if os.path.exists(path):
        os.unlink(path)
        return ProbeRow(name, layers, NOT_HELD, f"{path} exists on the host")
    return ProbeRow(name, layers, _outcome(refused, detail), detail)


def _probe_read(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "read a file the host wrote", "landlock"
    secret = secrets.token_hex(16)
    fd, path = tempfile.mkstemp(prefix="terrarium-selftest-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secret)
        os.chmod(path, 0o644)  # readable by anyone: only the sandbox may stop the read
        result = sandbox.run(_attempt(f"result = open({path!r}).read()"))
    finally:
        os.unlink(path)
    if secret in _text(result):
        return ProbeRow(name, layers, NOT_HELD, "the file's content came back")
    refused, detail = _refused(result)
    return ProbeRow(name, layers, _outcome(refused, detail), detail)


def _probe_environ(sandbox: RawSandbox, canary: str | None) -> ProbeRow:
    name, layers = "read the host's environment", "clean env, landlock, privdrop"
    if canary is None:
        return ProbeRow(name, layers, NOT_AVAILABLE, f"{CANARY_VARIABLE} was not set in time")
    code = (
        "import os\n"
        "seen = [repr(dict(os.environ))]\n"
        f"for path in ('/proc/{os.getpid()}/environ', '/proc/{os.getppid()}/environ',\n"
        "             '/proc/self/environ', '/proc/1/environ'):\n"
        "    try:\n"
        "        seen.append(open(path, 'rb').read().decode('latin-1'))\n"
        "    except OSError as exc:\n"
        "        seen.append(type(exc).__name__)\n"
        "result = seen\n"
    )
    result = sandbox.run(code)
    if canary in _text(result):
        return ProbeRow(name, layers, NOT_HELD, "the canary secret came back")
    if result.status != "ok":
        return ProbeRow(name, layers, HELD, f"the probe failed ({result.status})")
    opened = [r for r in result.result[1:] if r not in ("PermissionError", "FileNotFoundError")]
    detail = "environment empty of the canary; /proc environ files: " + (
        "unreadable" if not opened else f"{len(opened)} readable, canary absent"
    )
    return ProbeRow(name, layers, HELD, detail)


def _probe_signal(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "signal the host process", "landlock (scope), privdrop"
    result = sandbox.run(_attempt(f"import os\nos.kill({os.getpid()}, 0)\nresult = 'signalled'"))
    refused, detail = _refused(result)
    return ProbeRow(name, layers, _outcome(refused, detail), detail)


def _probe_memory(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "allocate past the memory limit", "rlimits (AS)"
    limits = Limits(timeout_s=15, cpu_s=10, memory_mb=64)
    result = sandbox.run(
        "chunks = []\nfor _ in range(64):\n    chunks.append(bytearray(16 * 1024 * 1024))\n"
        "result = 'allocated ' + str(len(chunks) * 16) + ' MB'",
        limits,
    )
    if result.status == "limit_exceeded":
        return ProbeRow(name, layers, HELD, "MemoryError at the 64 MB limit (1 GB asked)")
    return ProbeRow(name, layers, NOT_HELD, f"{result.status}: {str(result.result)[:200]}")


def _probe_cpu(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "spin past the CPU limit", "rlimits (CPU), host deadline"
    limits = Limits(timeout_s=10, cpu_s=1, memory_mb=64)
    started = time.monotonic()
    result = sandbox.run("while True:\n    pass", limits)
    took = time.monotonic() - started
    limit = (result.error or {}).get("limit")
    if result.status == "limit_exceeded" and limit == "cpu":
        return ProbeRow(name, layers, HELD, f"stopped after {took:.1f} s at the 1 s CPU limit")
    return ProbeRow(name, layers, NOT_HELD, f"{result.status} after {took:.1f} s")


# --- host-side probes: a child that writes its own frames ----------------------------------------
# As an escaped script would: find the channel object and write raw frames on its socket.
_HOSTILE_PRELUDE = """
import gc, json, os, struct, time
channel = next(o for o in gc.get_objects() if type(o).__name__ == "Channel")
def send(body):
    channel.sock.sendall(struct.pack(">I", len(body)) + body)
"""
_HOST_LIMITS = Limits(timeout_s=5, cpu_s=5, memory_mb=128, max_calls=3, stdout_bytes=1024,
                      result_bytes=4096)  # fmt: skip


def _hostile(sandbox: RawSandbox, body: str) -> tuple[ExecutionResult, int]:
    served = 0

    async def count(args: Any) -> Any:
        nonlocal served
        served += 1
        return None

    result = sandbox.run(_HOSTILE_PRELUDE + body, _HOST_LIMITS, host_functions={"client": count})
    return result, served


def _broke_protocol(result: ExecutionResult) -> bool:
    error = result.error or {}
    return error.get("type") == "SandboxError" and "broke protocol" in str(error.get("message"))


def _probe_calls(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "host calls past max_calls", "host (counts calls)"
    result, served = _hostile(
        sandbox,
        "for i in range(1, 31):\n"
        "    send(json.dumps({'t': 'call', 'id': i, 'fn': 'client', 'args': None}).encode())\n"
        "time.sleep(30)\n",
    )
    held = served <= _HOST_LIMITS.max_calls and (result.error or {}).get("limit") == "calls"
    detail = f"{served} of 30 calls served with max_calls={_HOST_LIMITS.max_calls}"
    return ProbeRow(name, layers, HELD if held else NOT_HELD, f"{detail}; {result.status}")


def _probe_stdout(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "stdout past stdout_bytes", "host (measures stdout)"
    result, _ = _hostile(
        sandbox,
        "send(json.dumps({'t': 'done', 'status': 'ok', 'stdout': 'x' * 4000}).encode())\n"
        "os._exit(0)\n",
    )
    size = len(result.stdout.encode())
    held = size <= _HOST_LIMITS.stdout_bytes
    detail = f"{size} bytes kept of 4000 sent, limit {_HOST_LIMITS.stdout_bytes}"
    return ProbeRow(name, layers, HELD if held else NOT_HELD, detail)


def _probe_result(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "a result past result_bytes", "host (measures the result)"
    result, _ = _hostile(
        sandbox,
        "send(json.dumps({'t': 'done', 'status': 'ok', 'result': 'r' * 20000}).encode())\n"
        "os._exit(0)\n",
    )
    held = result.result is None and (result.error or {}).get("limit") == "result_size"
    detail = f"{result.status}, limit {_HOST_LIMITS.result_bytes} bytes, 20002 sent"
    return ProbeRow(name, layers, HELD if held else NOT_HELD, detail)


def _probe_oversized(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "a 60 MB frame", "host (caps frames on read)"
    result, served = _hostile(
        sandbox,
        "channel.sock.sendall(struct.pack('>I', 60 << 20) + b'{\"t\":\"call\"')\ntime.sleep(30)\n",
    )
    held = served == 0 and _broke_protocol(result)
    detail = f"{result.status}: {(result.error or {}).get('message', '')}"[:200]
    return ProbeRow(name, layers, HELD if held else NOT_HELD, detail)


def _probe_malformed(sandbox: RawSandbox) -> ProbeRow:
    name, layers = "a malformed frame (NaN, lone surrogate)", "host (strict frames)"
    bodies = [b'{"t":"done","status":"ok","cpu_ms":NaN}',
              b'{"t":"done","status":"ok","stdout":"\\ud800"}']  # fmt: skip
    outcomes = []
    for body in bodies:
        result, _ = _hostile(sandbox, f"send({body!r})\nos._exit(0)\n")
        outcomes.append(_broke_protocol(result))
    detail = f"{sum(outcomes)} of {len(bodies)} refused as a protocol violation"
    return ProbeRow(name, layers, HELD if all(outcomes) else NOT_HELD, detail)


def probes() -> tuple[list[ProbeRow], dict[str, Any]]:
    """Run every probe in its own child; return the rows and the layer status of the pool."""
    canary = f"canary-{secrets.token_hex(16)}"
    previous = os.environ.get(CANARY_VARIABLE)
    os.environ[CANARY_VARIABLE] = canary  # before the zygote starts: it must not inherit it
    try:
        sandbox = RawSandbox(warm=1)
    except Exception as exc:  # noqa: BLE001 - report, do not crash the command
        row = ProbeRow("start a raw sandbox", "-", NOT_AVAILABLE, f"{type(exc).__name__}: {exc}")
        return [row], {}
    try:
        checks: list[Callable[[], ProbeRow]] = [
            lambda: _probe_connect(sandbox),
            lambda: _probe_resolve(sandbox),
            lambda: _probe_exec(sandbox),
            lambda: _probe_fork(sandbox),
            lambda: _probe_write(sandbox),
            lambda: _probe_read(sandbox),
            lambda: _probe_environ(sandbox, canary),
            lambda: _probe_signal(sandbox),
            lambda: _probe_memory(sandbox),
            lambda: _probe_cpu(sandbox),
            lambda: _probe_calls(sandbox),
            lambda: _probe_stdout(sandbox),
            lambda: _probe_result(sandbox),
            lambda: _probe_oversized(sandbox),
            lambda: _probe_malformed(sandbox),
        ]
        rows = []
        for check in checks:
            try:
                rows.append(check())
            except Exception as exc:  # noqa: BLE001
                rows.append(ProbeRow("?", "-", NOT_AVAILABLE, f"{type(exc).__name__}: {exc}"))
        return rows, dict(sandbox.layers)
    finally:
        sandbox.close()
        if previous is None:
            os.environ.pop(CANARY_VARIABLE, None)
        else:
            os.environ[CANARY_VARIABLE] = previous


def format_table(rows: list[ProbeRow], layers: dict[str, Any] | None = None) -> str:
    lines = []
    if layers:
        lines.append("Isolation layers:")
        for name, info in layers.items():
            state = "active  " if info.get("active") else "INACTIVE"
            lines.append(f"  {name:<9} {state} {info.get('detail', '')}")
        lines.append("")
    headers = ("probe", "stopped by", "outcome", "detail")
    widths = [max(len(headers[0]), *(len(r.probe) for r in rows)),
              max(len(headers[1]), *(len(r.layers) for r in rows)),
              max(len(headers[2]), *(len(r.outcome) for r in rows))]  # fmt: skip
    lines.append(
        f"{headers[0]:<{widths[0]}}  {headers[1]:<{widths[1]}}  {headers[2]:<{widths[2]}}  "
        f"{headers[3]}"
    )
    lines.append("-" * (sum(widths) + 6 + len(headers[3])))
    for r in rows:
        lines.append(
            f"{r.probe:<{widths[0]}}  {r.layers:<{widths[1]}}  {r.outcome:<{widths[2]}}  "
            f"{r.detail[:120]}"
        )
    failed = sum(1 for r in rows if r.outcome == NOT_HELD)
    lines.append("")
    lines.append(
        "all probes held" if not failed else f"{failed} probe(s) NOT HELD: isolation is incomplete"
    )
    return "\n".join(lines)


def main() -> int:
    rows, layers = probes()
    print(format_table(rows, layers))
    return 1 if any(r.outcome == NOT_HELD for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
