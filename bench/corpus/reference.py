"""CPython's answers for a list of snippets read as JSON on stdin (see bench/corpus).

Each snippet runs in its own forked copy of this process, so one snippet's changes to the
interpreter (`sys.setrecursionlimit`, a patched builtin, a crash, an endless loop) never reach
another's. A snippet CPython cannot answer (it runs past its time, kills its process, or ends
with a value that cannot be written down) is answered `{"comparable": false, "why": ...}` and
left out of every runtime's score.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import json
import os
import select
import signal
import sys
import time
from typing import Any

from bench.corpus import canonical

TIMEOUT_S = 20.0


def client() -> Any:
    """The Python SDK against the backend the runtimes use (FLORA_API_KEY, FLORA_BASE_URL)."""
    if not os.environ.get("FLORA_API_KEY"):
        return None
    from client_surface import AsyncFlora

    return AsyncFlora()


def _count_recursion_from_here() -> None:
    """Count the snippet's frames from its top level, as CPython does running a file: the limit
    it sees (and sets) excludes this harness's frames beneath it."""
    try:  # CPython names its recursion depth (frames and C-level recursion) in this error
        sys.setrecursionlimit(1)
    except RecursionError as exc:
        depth = int(str(exc).split("at the recursion depth ", 1)[1].split(":", 1)[0])
    # That depth counts this function's frame; answer()'s run() takes its place beneath the
    # snippet, whose top level is then counted as 1, as when CPython runs a file.
    set_limit = sys.setrecursionlimit
    get_limit = sys.getrecursionlimit
    set_limit(get_limit() + depth)
    sys.setrecursionlimit = lambda limit: set_limit(limit + depth)  # type: ignore[assignment]
    sys.getrecursionlimit = lambda: get_limit() - depth  # type: ignore[assignment]


def answer(code: str) -> dict[str, Any]:
    _count_recursion_from_here()  # a forked child's own interpreter: nothing outlives it
    out = io.StringIO()
    namespace: dict[str, Any] = {"__name__": "__main__", "__doc__": None, "inputs": {}}
    if "client." in code:
        namespace["client"] = client()
    value, error = None, None
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT  # agents' scripts may `await` at the top level

    def run(source: ast.Module | ast.Expression, mode: str) -> Any:
        result = eval(compile(source, "<script>", mode, flags=flags), namespace)
        return asyncio.run(result) if inspect.iscoroutine(result) else result

    try:
        tree = ast.parse(code)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        with contextlib.redirect_stdout(out):
            run(tree, "exec")
            if last is not None:
                value = run(last, "eval")
    except BaseException as exc:  # noqa: BLE001 - the script's own error is its answer
        error = type(exc).__name__
        value = None
    try:
        value = canonical(value)
    except (ValueError, RecursionError) as exc:
        return {"comparable": False, "why": f"its last value cannot be compared ({exc})"}
    return {"stdout": out.getvalue(), "value": value, "error": error}


def isolated(code: str, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """`answer(code)` in a forked child, so nothing the snippet does outlives it."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, write, leave without running anything else
        os.close(read_fd)
        try:
            data = json.dumps(answer(code)).encode()
        except BaseException as exc:  # noqa: BLE001 - reported, never raised
            data = json.dumps({"comparable": False, "why": type(exc).__name__}).encode()
        with contextlib.suppress(OSError):
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
        os._exit(0)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    why = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            why = f"CPython did not finish within {timeout_s:.0f} s"
            break
        ready, _, _ = select.select([read_fd], [], [], left)
        if ready:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(read_fd)
    if why is not None:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if why is None and not chunks:
        why = f"CPython's process ended without an answer (status {status})"
    if why is not None:
        return {"comparable": False, "why": why}
    result: dict[str, Any] = json.loads(b"".join(chunks))
    return result


def main() -> None:
    codes = json.loads(sys.stdin.read())
    answers = [isolated(code) for code in codes]
    sys.stdout.write(json.dumps(answers))


if __name__ == "__main__":
    main()
