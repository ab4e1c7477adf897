"""Pre-flight without running: the console's "check" while a person types.

The host never compiles a script (compiling hostile source is an attack surface: SECURITY.md),
so the check runs where every execution is compiled, in a sandbox child from the pool, under
the same policy and pre-flight. The script is sent with one line in front of it that ends the
run before the script's first statement: the child parses, desugars, checks every `client.*`
call against the surface and compiles the whole script, then stops at that line. Nothing of
the script runs and no call is made (the `client` host function refuses every call anyway).
Line numbers are given back in the script's own terms.
"""

from __future__ import annotations

import re
from typing import Any

from runtime.executions.request import LimitRequest
from runtime.executions.runner import check_code
from runtime.executions.service import Executions
from runtime.tenancy.tenants import Tenant

STOP_MESSAGE = "terrarium console: checked, not run"
STOP_LINE = f'raise SystemExit("{STOP_MESSAGE}")\n'
CHECK_TIMEOUT_S = 5.0
_LINE = re.compile(r"\bline (\d+)")


def _shift(text: str | None) -> str | None:
    if text is None:
        return None
    return _LINE.sub(lambda m: f"line {max(int(m.group(1)) - 1, 1)}", text)


def _line(value: Any) -> int | None:
    return max(int(value) - 1, 1) if isinstance(value, int) else None


def _refuse_call(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("a checked script makes no calls")


async def check(service: Executions, tenant: Tenant, code: str) -> dict[str, Any]:
    """`{"ok", "problems": [{line, col, message, source, hint}], "warnings"}` for `code`."""
    limits = service.limits.resolve(tenant, LimitRequest(timeout_s=CHECK_TIMEOUT_S))
    check_code(code, limits)
    result = await service.runner.pool.execute(
        STOP_LINE + code, limits=limits, host_functions={"client": _refuse_call}
    )
    warnings = [w for w in (_shift(w) for w in result.warnings) if w]
    error = result.error
    problems: list[dict[str, Any]] = []
    if result.status == "rejected" and error is not None:
        for p in error.get("problems") or [error]:
            problems.append(
                {
                    "line": _line(p.get("line")),
                    "col": p.get("col"),
                    "message": _shift(p.get("message")) or "",
                    "source": p.get("source"),
                    "hint": p.get("hint"),
                }
            )
    elif error is None or error.get("message") != STOP_MESSAGE:
        # Not the stop line: the check itself could not finish (a busy or broken sandbox).
        message = error.get("message") if error else "the check ended early"
        return {"ok": False, "checked": False, "problems": [], "warnings": [], "note": message}
    return {"ok": not problems, "checked": True, "problems": problems, "warnings": warnings}
