"""CPython's answers for a list of snippets read as JSON on stdin (see bench/corpus)."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import sys
from typing import Any


def client() -> Any:
    """The Python SDK against the backend the runtimes use (FLORA_API_KEY, FLORA_BASE_URL)."""
    if not os.environ.get("FLORA_API_KEY"):
        return None
    from client_surface import AsyncFlora

    return AsyncFlora()


def answer(code: str) -> dict[str, Any]:
    out = io.StringIO()
    namespace: dict[str, Any] = {"__name__": "__main__", "inputs": {}}
    if "client." in code:
        namespace["client"] = client()
    value, error = None, None
    try:
        tree = ast.parse(code)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        with contextlib.redirect_stdout(out):
            exec(compile(tree, "<script>", "exec"), namespace)
            if last is not None:
                value = eval(compile(last, "<script>", "eval"), namespace)
    except BaseException as exc:  # noqa: BLE001 - the script's own error is its answer
        error = type(exc).__name__
    try:
        value = json.loads(json.dumps(value, default=repr))
    except (TypeError, ValueError):
        value = repr(value)
    return {"stdout": out.getvalue(), "value": value, "error": error}


def main() -> None:
    codes = json.loads(sys.stdin.read())
    json.dump([answer(code) for code in codes], sys.stdout)


if __name__ == "__main__":
    main()
