"""Errors for agents: an exception raised by a script, told in the script's own terms.

The traceback keeps only the script's frames (`<script>`), with its line numbers and source
lines; the error names the line it happened on and, where there is a likely fix, says it:
did-you-mean for names and attributes, the reason a builtin is absent, what a FLORA status means.
"""

from __future__ import annotations

import difflib
from types import FrameType, TracebackType
from typing import Any

from sandbox.facades import ALLOWED_MODULES
from sandbox.guards import SAFE_BUILTINS, UNAVAILABLE_BUILTINS
from sandbox.messages import ErrorInfo
from sandbox.policy import FILENAME
from sandbox.problems import source_line
from sandbox.proxy import FloraError

_STATUS_HINTS = {
    400: "the request was invalid: read the message and `fields`, fix the arguments",
    401: "the API key was refused; this is a deployment problem, not the script's",
    402: "the workspace is out of credits",
    403: "this key may not do that",
    404: "check the id; list what exists with the matching client.<resource>.list()",
    409: "a duplicate request (idempotency key already used)",
    429: "rate limited: wait (e.g. time.sleep) and retry",
}


def _script_frames(tb: TracebackType | None) -> list[tuple[int, str]]:
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == FILENAME:
            frames.append((tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return frames


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    if not isinstance(text, str):
        text = ""
    return str.__str__(text)[:2000]


# What the sandbox refuses at run time, by the words of its refusal, and how to rewrite it.
_REFUSAL_HINTS: tuple[tuple[type[BaseException], str, str], ...] = (
    (
        ImportError,
        "is not allowed in the sandbox",
        "import one of the allowed modules listed; files, processes and the network are not "
        "available: pass data in `inputs` and reach FLORA through `client`",
    ),
    (
        ImportError,
        "relative import",
        "a script is a single module: import the allowed modules by their full name",
    ),
    (
        AttributeError,
        "str.format is not available",
        'use an f-string: f"{x} and {y}" (or the % operator)',
    ),
    (
        AttributeError,
        "AttributeError.obj is not available",
        "keep a reference to the object you looked the attribute up on",
    ),
    (
        AttributeError,
        "only a script's own classes expose their dunder methods",
        "use the operation instead of its method: repr(x), len(x), x == y, str(x), iter(x)",
    ),
    (
        AttributeError,
        "it leads to the interpreter's internals",
        "use type(x).__name__ for a class's name, isinstance(x, C) for its kind, and the object's "
        "public attributes for its data",
    ),
    (
        AttributeError,
        "only the data model's methods and names can be read",
        "use type(x).__name__, __qualname__, __doc__, or the operation (repr(x), len(x)...)",
    ),
    (
        AttributeError,
        "readable only on the script's own classes",
        "use the object's public attributes and methods; '_' names are your own classes' only",
    ),
    (
        AttributeError,
        "cannot be set or deleted in the sandbox",
        "store your data under an ordinary name, or define the method in the class body",
    ),
    (
        AttributeError,
        "is not available in the sandbox",
        "frames, code objects and tracebacks are not reachable; the error's type, message and "
        "line are in the execution's result",
    ),
    (
        TypeError,
        "it is read-only in the sandbox",
        "change a copy of your own: dict(x), list(x), or an instance of your own class",
    ),
    (
        TypeError,
        "builds only the script's own classes",
        "call the class itself, C(...), to make an instance",
    ),
    (
        TypeError,
        "cannot be defined in a class in the sandbox",
        "write a class statement; its body may define the data model's methods (__init__, "
        "__repr__, __eq__...), not the interpreter's hooks",
    ),
    (
        TypeError,
        "cannot be created in a script",
        "use a dict or your own class for data of your own",
    ),
    (TypeError, "cannot subclass", "use a dict or your own class for data of your own"),
    (
        TypeError,
        "cannot be pickled or taken apart",
        "copy the data you need into a dict or your own object",
    ),
    (
        AttributeError,
        "object has no attribute '_",
        "check the name: names starting with '_' are readable only where your own classes and "
        "instances set them; elsewhere use the object's public attributes and methods",
    ),
    (
        ValueError,
        "the sandbox's recursion limit is at most",
        "use a loop with an explicit stack for deeper work",
    ),
)


def _refusal_hint(exc: BaseException) -> str | None:
    text = _safe_str(exc)
    for kind, words, hint in _REFUSAL_HINTS:
        if isinstance(exc, kind) and words in text:
            return hint
    return None


def _hint(exc: BaseException, script_globals: dict[str, Any]) -> str | None:
    refusal = _refusal_hint(exc)
    if refusal is not None:
        return refusal
    if isinstance(exc, FloraError):
        if exc.status in _STATUS_HINTS:
            return _STATUS_HINTS[exc.status]
        return None
    if isinstance(exc, NameError) and not isinstance(exc, UnboundLocalError):
        name = getattr(exc, "name", None)
        if name in UNAVAILABLE_BUILTINS:
            return f"'{name}' is not available: {UNAVAILABLE_BUILTINS[name]}"
        if name in ALLOWED_MODULES:
            return f"add `import {name}` at the top"
        if name:
            known = [k for k in script_globals if not k.startswith("_")] + list(SAFE_BUILTINS)
            close = difflib.get_close_matches(name, known, n=1)
            if close:
                return f"did you mean '{close[0]}'?"
            if name in {"os", "sys", "subprocess", "requests", "httpx"}:
                return "that module is not available in the sandbox"
            return "define or import it before this line"
        return None
    if isinstance(exc, AttributeError):
        name = getattr(exc, "name", None)
        obj = getattr(exc, "obj", None)
        if name and obj is not None and "Did you mean" not in _safe_str(exc):
            try:
                options = [a for a in dir(type(obj)) if not a.startswith("_")]
            except Exception:
                options = []
            close = difflib.get_close_matches(name, options, n=1)
            if close:
                return f"did you mean '.{close[0]}'?"
        return None
    if isinstance(exc, TypeError) and "coroutine" in _safe_str(exc):
        return "async code runs synchronously here; drop the await or call the function directly"
    if isinstance(exc, RecursionError):
        return "the recursion is too deep; use a loop"
    return None


def describe_exception(
    exc: BaseException, source: str, script_globals: dict[str, Any]
) -> ErrorInfo:
    lines = source.splitlines()
    frames = _script_frames(exc.__traceback__)
    line = frames[-1][0] if frames else None
    trace_lines = ["Traceback (script frames only):"]
    for lineno, name in frames:
        where = "<module>" if name == "<module>" else name
        trace_lines.append(f"  line {lineno}, in {where}")
        src = source_line(lines, lineno)
        if src:
            trace_lines.append(f"    {src}")
    type_name = type(exc).__name__
    message = _safe_str(exc)
    trace_lines.append(f"{type_name}: {message}")
    error = ErrorInfo(type_name, message, line, source_line(lines, line),
                      "\n".join(trace_lines), _hint(exc, script_globals))  # fmt: skip
    if isinstance(exc, FloraError):
        error.status, error.code, error.fields = exc.status, exc.code, exc.fields
    return error


def current_script_line(frame: FrameType | None) -> int | None:
    """The script line a running frame (e.g. a signal handler's) is at, if any."""
    while frame is not None:
        if frame.f_code.co_filename == FILENAME:
            return frame.f_lineno
        frame = frame.f_back
    return None
