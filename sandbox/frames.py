"""Every frame that crosses between a sandbox child and the host, declared once and typed.

Child -> host: `ready`, `call`, `done` (with its `error`). Host -> child: `run`, `reply`. The host
parses what a child sends in exactly one place, `decode_child`, and treats the child as fully
compromised: a frame that is not exactly one of the declared shapes is refused as a whole
(`FrameError`), and the caller ends the execution and kills the child.

Why msgspec (typed Structs, a tagged union on "t"), and what this module adds to it:
- it parses and type-checks in one C pass (about 0.5 us for a call frame, 6x faster than
  `json.loads` plus hand-written checks), refuses unknown fields (`forbid_unknown_fields`),
  bools where ints are declared, and a tag it does not know;
- it refuses NaN, Infinity and numbers out of the float range, escaped lone surrogates
  (`"\\ud800"`, `"\\udc00"`, an unpaired high surrogate followed by anything) and raw
  UTF-8-encoded surrogates (invalid UTF-8), and trailing bytes after the object;
- gaps closed here: it accepts integers of any size and nesting up to the interpreter's
  recursion limit, so the free-form values (`call.args`, `done.result`) are walked once
  (`check_value`): at most `MAX_DEPTH` levels (the child's own converter cuts at 100) and only
  signed 64-bit integers (the child turns larger ones into strings); declared int fields carry
  the same bound;
- duplicate keys: msgspec keeps the last one, like most parsers, and has no hook to refuse them.
  That is safe here because no second parser ever reads these bytes: the host forwards only the
  values it parsed, re-encoded by itself, so no reader downstream can see a different value;
- strings are bounded after parsing (`ErrorInfo` fields cut to their limits, `warnings` to a
  count); stdout and the result are measured against the execution's limits by the pool, on the
  bytes received (the result is kept as `msgspec.Raw` so its size is the size of its bytes).

The child stays stdlib-only (it encodes with `json`, `allow_nan=False`, and parses the host's
frames with `json`): the zygote every child forks from need not import msgspec.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from sandbox.result import STATUSES

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 110  # levels of nesting in args/result; the child's converter cuts at 100
MAX_WARNINGS = 100
MAX_PROBLEMS = 100
# Bounds on the strings of an error, in characters: generous for what the child writes itself.
STRING_BOUNDS = {"type": 200, "message": 4000, "source": 400, "traceback": 20_000, "hint": 2000,
                 "code": 200}  # fmt: skip
LIMIT_KINDS = ("calls", "output", "result_size", "memory", "cpu")

Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
CallId = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
Status = Literal["ok", "error", "timeout", "rejected", "limit_exceeded"]
assert set(Status.__args__) == set(STATUSES)  # type: ignore[attr-defined]


class FrameError(Exception):
    """A child sent a frame that is not one of the declared shapes: it broke protocol."""


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


# --- child -> host ---------------------------------------------------------------------------
class Problem(_Strict):
    """One problem found before the script ran (syntax, policy, pre-flight)."""

    message: str
    line: Int64 | None = None
    col: Int64 | None = None
    source: str | None = None
    hint: str | None = None


class ErrorInfo(_Strict):
    """What went wrong, in the agent's terms; the known fields only, each of its type."""

    type: str
    message: str
    line: Int64 | None = None
    source: str | None = None
    traceback: str | None = None
    hint: str | None = None
    limit: Literal["calls", "output", "result_size", "memory", "cpu"] | None = None
    problems: list[Problem] | None = None
    # Of a FLORA error raised in the script; a script can build one with odd values, so these
    # are reduced (not refused): status an int or None, code a str or None, fields str pairs.
    status: Any = None
    code: Any = None
    fields: Any = None


class Ready(_Strict, tag_field="t", tag="ready"):
    """The child is confined and warm, waiting for its script."""


class Call(_Strict, tag_field="t", tag="call"):
    """The script calls a host function (`client` for `client.*`)."""

    id: CallId
    fn: str
    args: Any = None


class Done(_Strict, tag_field="t", tag="done"):
    """The script's outcome; the child's last frame."""

    status: Status
    result: msgspec.Raw = msgspec.Raw(b"null")
    stdout: str = ""
    stdout_truncated: bool = False
    error: ErrorInfo | None = None
    warnings: list[str] = []
    cpu_ms: float = 0.0


ChildFrame = Ready | Call | Done

# --- host -> child ---------------------------------------------------------------------------


class Run(_Strict, tag_field="t", tag="run"):
    """The one script a child runs, with its inputs and limits."""

    op: Literal["run", "raw"]
    code: str
    inputs: dict[str, Any]
    limits: dict[str, Any]
    host_functions: list[str]


class Reply(_Strict, tag_field="t", tag="reply"):
    """The answer to one `call`: a value, or an error the script sees as an exception."""

    id: int
    ok: bool
    value: Any = None
    error: dict[str, Any] | None = None


# --- parsing ---------------------------------------------------------------------------------
_child_decoder = msgspec.json.Decoder(ChildFrame)
_value_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def decode_child(body: bytes) -> Ready | Call | Done:
    """Parse one frame from a child, or raise FrameError saying what was wrong with it."""
    try:
        frame = _child_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise FrameError(f"a frame of the wrong shape: {_short(exc)}") from None
    except msgspec.DecodeError as exc:
        raise FrameError(f"a frame that is not strict JSON: {_short(exc)}") from None
    except RecursionError:
        raise FrameError(f"a frame nested more than {MAX_DEPTH} levels deep") from None
    if type(frame) is Call:
        check_value(frame.args, "call arguments")
    elif type(frame) is Done and frame.error is not None:
        check_value([frame.error.status, frame.error.code, frame.error.fields], "the error")
        _bound_error(frame.error)
    return frame


def decode_result(raw: msgspec.Raw) -> Any:
    """The value of a `done` frame's result, parsed and checked like everything else."""
    try:
        value = _value_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise FrameError(f"a result that is not strict JSON: {_short(exc)}") from None
    check_value(value, "the result")
    return value


def check_value(value: Any, what: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and integers outside the signed 64-bit range."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is dict or kind is list:
            if depth >= MAX_DEPTH:
                raise FrameError(f"{what} nested more than {MAX_DEPTH} levels deep")
            children = item.values() if kind is dict else item
            for child in children:
                ckind = type(child)
                if ckind is dict or ckind is list:
                    stack.append((child, depth + 1))
                elif ckind is int and not INT64_MIN <= child <= INT64_MAX:
                    raise FrameError(f"{what} hold an integer outside the signed 64-bit range")
        elif kind is int and not INT64_MIN <= item <= INT64_MAX:
            raise FrameError(f"{what} hold an integer outside the signed 64-bit range")


def _bound_error(error: ErrorInfo) -> None:
    if error.problems is not None and len(error.problems) > MAX_PROBLEMS:
        error.problems = error.problems[:MAX_PROBLEMS]
    for problem in error.problems or ():
        problem.message = problem.message[: STRING_BOUNDS["message"]]
        for name in ("source", "hint"):
            text = getattr(problem, name)
            if text is not None:
                setattr(problem, name, text[: STRING_BOUNDS[name]])
    status, code, fields = error.status, error.code, error.fields
    error.status = status if type(status) is int and INT64_MIN <= status <= INT64_MAX else None
    error.code = code[: STRING_BOUNDS["code"]] if type(code) is str else None
    error.fields = (
        [
            {str(k)[:200]: str(v)[: STRING_BOUNDS["message"]] for k, v in list(f.items())[:10]}
            for f in fields[:MAX_PROBLEMS]
            if type(f) is dict
        ]
        if type(fields) is list
        else None
    )
    for name, bound in STRING_BOUNDS.items():
        text = getattr(error, name)
        if text is not None and len(text) > bound:
            setattr(error, name, text[:bound])


def _short(exc: Exception) -> str:
    return str(exc)[:200]


def encode(frame: Run | Reply) -> bytes:
    """A host frame as JSON bytes (the length header is added by the protocol)."""
    return _encoder.encode(frame)


def error_json(error: ErrorInfo) -> dict[str, Any]:
    """An error as the plain dict the result carries, every known field present."""
    out: dict[str, Any] = {"type": error.type, "message": error.message, "line": error.line,
                           "source": error.source, "traceback": error.traceback,
                           "hint": error.hint}  # fmt: skip
    if error.limit is not None:
        out["limit"] = error.limit
    if error.problems is not None:
        out["problems"] = [msgspec.structs.asdict(p) for p in error.problems]
    if error.status is not None or error.code is not None or error.fields is not None:
        out.update(status=error.status, code=error.code, fields=error.fields or [])
    return out
