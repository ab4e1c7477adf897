"""The errors the sandbox reports itself (limits, deadlines, a broken child), worded once.

The child reports a deadline or a limit with the line the script was on; the host reports the
same event when the child could not (it was killed, or lied): both build the error here, so an
agent reads one wording and one hint for each, whichever side saw it first.
"""

from __future__ import annotations

from sandbox.limits import Limits
from sandbox.messages import ErrorInfo, Problem

TIMEOUT_HINT = (
    "poll less often, raise timeout_s (up to the maximum), or submit it as an asynchronous "
    "execution"
)
CPU_HINT = "do less work per execution, or ask for a larger cpu_s"
CALLS_HINT = "batch the work or ask for fewer items per page"
RESULT_HINT = "return less (a summary, ids or URLs) or print details"
RETRY_HINT = "run the script again; if it keeps failing, report it to the operator"


def _at(line: int | None) -> str:
    return f" (it was at line {line})" if line else ""


def timed_out(
    limits: Limits, *, killed: bool = False, line: int | None = None, source: str | None = None
) -> ErrorInfo:
    """The script ran past its wall-clock limit (status `timeout`)."""
    killed_text = " and was killed" if killed else ""
    message = f"the script ran past its {limits.timeout_s} s wall-clock limit{killed_text}"
    return ErrorInfo("Timeout", message + _at(line), line, source, hint=TIMEOUT_HINT)


def cpu_exceeded(
    limits: Limits, *, killed: bool = False, line: int | None = None, source: str | None = None
) -> ErrorInfo:
    killed_text = " and was killed" if killed else ""
    message = f"the script used its {limits.cpu_s} s of CPU time{killed_text}"
    return ErrorInfo("LimitExceeded", message + _at(line), line, source, hint=CPU_HINT,
                     limit="cpu")  # fmt: skip


def calls_exceeded(limits: Limits) -> ErrorInfo:
    """More `call` frames than max_calls arrived (the host counts them itself)."""
    message = f"this execution may make at most {limits.max_calls} client calls"
    return ErrorInfo("LimitExceeded", message, hint=CALLS_HINT, limit="calls")


def calls_kept_coming(
    limits: Limits, refused: int, *, line: int | None = None, source: str | None = None
) -> ErrorInfo:
    """The script kept calling past max_calls, catching every refusal, and was stopped."""
    message = (
        f"the script kept calling after its {limits.max_calls} client calls were used "
        f"({refused} refused) and was stopped"
    )
    hint = f"{CALLS_HINT}; stop calling once the limit is reached (CallLimitExceeded)"
    return ErrorInfo("LimitExceeded", message + _at(line), line, source, hint=hint,
                     limit="calls")  # fmt: skip


def result_too_large(size: int, limit: int) -> ErrorInfo:
    message = f"the result is {size} bytes, over the {limit}-byte limit"
    return ErrorInfo("LimitExceeded", message, hint=RESULT_HINT, limit="result_size")


def out_of_memory_or_stack() -> ErrorInfo:
    """The child crashed (SIGSEGV, SIGABRT): its memory or stack ran out in native code."""
    return ErrorInfo("LimitExceeded", "the script ran out of memory or stack and the process "
                     "crashed", hint="use less memory or less recursion",
                     limit="memory")  # fmt: skip


def rejected(problems: list[Problem], kind: str) -> ErrorInfo:
    """The problems found before the script ran, the first one's line and hint on top."""
    first, count = problems[0], len(problems)
    summary = "; ".join((f"line {p.line}: " if p.line else "") + p.message for p in problems[:20])
    return ErrorInfo(
        "SyntaxError" if kind == "syntax" else "PolicyError",
        (f"{count} problems: " if count > 1 else "") + summary,
        first.line,
        first.source,
        hint=first.hint,
        problems=problems,
    )


def unencodable() -> ErrorInfo:
    """What the child could not encode as strict JSON (a lone surrogate in its output)."""
    return ErrorInfo("InternalError", "the result could not be encoded")


def code_too_large(limits: Limits) -> ErrorInfo:
    return ErrorInfo("CodeTooLarge", f"the code is over the {limits.code_bytes}-byte limit")


def sandbox_error(message: str, hint: str | None = None) -> ErrorInfo:
    """The sandbox failed, not the script: a child that died, broke protocol or could not
    start, or a bug in the host."""
    return ErrorInfo("SandboxError", message, hint=hint)


def broke_protocol(why: str) -> ErrorInfo:
    return sandbox_error(f"the sandbox child broke protocol ({why}) and was stopped", RETRY_HINT)
