"""Every message between a sandbox child and the host, declared once: frames and error info.

Child -> host: `Ready`, `Call`, `Done` (with its `ErrorInfo`, and the `Problem`s of a script
rejected before it ran). Host -> child:
`Run` (with its `Limits`), `Reply`. The child builds these and encodes them with `encode()`
(stdlib `json`, no NaN, the frame's "t" first as protocol.DONE_PREFIX expects; a result is
encoded once, when the child measures it, and spliced in); it reads the host's frames with
`from_json`. The host never parses a child's frame with these classes: sandbox/frames.py
derives its strict msgspec types from them, so a field declared here is the field the host
parses, with the bounds the annotations below carry:
- `Range` bounds an int (the host refuses one outside it, and refuses a bool for an int);
- `KEEP_RAW`: the host keeps the value's JSON bytes unparsed (a result is measured on its
  bytes first, then parsed);
- `REDUCED`: a script can put odd values there (the status, code and fields of a FLORA error
  it raises itself), so the host accepts any JSON and reduces it to the declared type.

Why stdlib dataclasses and not msgspec here: every child forks from the zygote, which imports
only the standard library, RestrictedPython and this package. Measured on a 2-core machine
with the zygote's own modules loaded and frozen, msgspec would add 0.85 MB of RSS to it (21.9
to 22.7 MB) and about 0.07 ms to each fork + exit + wait (minimum 0.61 to 0.69 ms), and a
child encodes three small frames per execution, where `json` is fast enough. The host, which
parses every frame of every child, keeps msgspec's one-pass strict parse.
"""

from __future__ import annotations

import json
from _json import make_encoder
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Annotated, Any, ClassVar, Literal, NoReturn

from sandbox.limits import Limits

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Range:
    """An int field's bounds, enforced by the host's parse."""

    ge: int
    le: int


@dataclass(frozen=True)
class HostParse:
    """How the host parses a field beyond its declared type."""

    keep_raw: bool = False
    reduce: bool = False


KEEP_RAW = HostParse(keep_raw=True)
REDUCED = HostParse(reduce=True)

Int64 = Annotated[int, Range(INT64_MIN, INT64_MAX)]
CallId = Annotated[int, Range(1, INT64_MAX)]
Status = Literal["ok", "error", "timeout", "rejected", "limit_exceeded"]
LimitKind = Literal["calls", "output", "result_size", "memory", "cpu"]
# Calls one execution may have in flight at once (asyncio.gather in the script, see
# sandbox/concurrency.py): the child queues the rest itself; the host ends an execution whose
# child sends more (sandbox/pool.py).
CALLS_IN_FLIGHT_MAX = 32


@dataclass
class Problem:
    """One problem found before the script ran (syntax, policy, pre-flight), in agent terms."""

    message: str
    line: Int64 | None = None
    col: Int64 | None = None
    source: str | None = None
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "col": self.col, "message": self.message,
                "source": self.source, "hint": self.hint}  # fmt: skip


@dataclass
class ErrorInfo:
    """What went wrong, in the agent's terms: the line, the source there, a hint to fix it."""

    type: str
    message: str
    line: Int64 | None = None
    source: str | None = None
    traceback: str | None = None
    hint: str | None = None
    limit: LimitKind | None = None  # set when the status is limit_exceeded
    problems: list[Problem] | None = None  # of a rejected script
    # Of a FLORA error raised in the script (see REDUCED).
    status: Annotated[int | None, REDUCED] = None
    code: Annotated[str | None, REDUCED] = None
    fields: Annotated[list[dict[str, str]] | None, REDUCED] = None

    def to_json(self) -> dict[str, Any]:
        """The error as a result carries it: the six common fields always, the others if set."""
        out: dict[str, Any] = {"type": self.type, "message": self.message, "line": self.line,
                               "source": self.source, "traceback": self.traceback,
                               "hint": self.hint}  # fmt: skip
        if self.limit is not None:
            out["limit"] = self.limit
        if self.problems is not None:
            out["problems"] = [p.to_json() for p in self.problems]
        if self.status is not None or self.code is not None or self.fields is not None:
            out.update(status=self.status, code=self.code, fields=self.fields or [])
        return out


# --- child -> host ---------------------------------------------------------------------------
@dataclass
class Ready:
    """The child is confined and warm, waiting for its script."""

    TAG: ClassVar[str] = "ready"

    def encode(self) -> bytes:
        return _dumps({"t": self.TAG})


@dataclass
class Call:
    """The script calls a host function (`client` for `client.*`).

    `concurrent`: the child may send more calls before it reads this one's reply (a task of
    asyncio.gather made it), so the host runs it as a task of its own and keeps reading; without
    it the host serves the call before it reads on. Only a hint for speed: whatever a child says
    here, the host holds it to CALLS_IN_FLIGHT_MAX and max_calls.
    """

    TAG: ClassVar[str] = "call"
    id: CallId
    fn: str
    args: Any = None
    concurrent: bool = False

    def encode(self) -> bytes:
        return encode_call(self.id, self.fn, self.args, self.concurrent)


@dataclass
class Done:
    """The script's outcome; the child's last frame. Only an ok outcome carries a result."""

    TAG: ClassVar[str] = "done"
    status: Status
    result: Annotated[str, KEEP_RAW] = "null"  # its JSON text, as the child measured it
    stdout: str = ""
    stdout_truncated: bool = False
    error: ErrorInfo | None = None
    warnings: list[str] = field(default_factory=list)
    cpu_ms: float = 0.0

    def encode(self) -> bytes:
        rest = _dumps({"status": self.status, "stdout": self.stdout,
                       "stdout_truncated": self.stdout_truncated,
                       "error": None if self.error is None else self.error.to_json(),
                       "warnings": self.warnings, "cpu_ms": self.cpu_ms})  # fmt: skip
        return b'{"t":"%s","result":%s,%s' % (self.TAG.encode(), self.result.encode(), rest[1:])


# --- host -> child ---------------------------------------------------------------------------
@dataclass
class Run:
    """The one script a child runs, with its inputs and limits."""

    TAG: ClassVar[str] = "run"
    op: Literal["run", "raw"]
    code: str
    inputs: dict[str, Any]
    limits: Limits
    host_functions: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        """The host's run frame as the child parsed it (the host encodes it from this type)."""
        return cls(op=data["op"], code=data["code"], inputs=data["inputs"],
                   limits=Limits(**data["limits"]),
                   host_functions=data["host_functions"])  # fmt: skip


@dataclass
class Reply:
    """The answer to one `call`: a value, or an error the script sees as an exception."""

    TAG: ClassVar[str] = "reply"
    id: int
    ok: bool
    value: Any = None
    error: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        return cls(data["id"], data["ok"], data.get("value"), data.get("error"))


# json.dumps with these options builds a new encoder per call; a frame per host call adds up.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _dumps(message: dict[str, Any]) -> bytes:
    """Strict JSON text (no NaN or Infinity) as UTF-8; a lone surrogate raises ValueError."""
    return _ENCODER.encode(message).encode()


# The C encoder that JSONEncoder.encode builds anew for every message, built once for call
# frames (one per host call): the same output as _ENCODER (compact, no NaN or Infinity, UTF-8
# text), without the check for circular references, which a call's arguments cannot hold (the
# child's converter, sandbox/jsonable.py, makes them of exact JSON types, at most 100 deep).
_encode_value = make_encoder(
    None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False
)


class EncodedArgs(dict[str, Any]):
    """A call's arguments that never change, with their JSON text made once (the client proxy's
    call with no arguments): `encode_call` writes the text. Never mutated after it is made."""

    __slots__ = ("text",)

    def __init__(self, value: dict[str, Any]) -> None:
        super().__init__(value)
        self.text = "".join(_encode_value(value, 0))

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a call's encoded arguments cannot change: its JSON text is made once")

    __setitem__ = __delitem__ = __ior__ = _refuse

    def __reduce__(self) -> tuple[type[EncodedArgs], tuple[dict[str, Any]]]:
        return EncodedArgs, (dict(self),)  # copied and pickled whole, not item by item

    clear = pop = popitem = setdefault = update = _refuse


def encode_call(call_id: int, fn: str, args: Any, concurrent: bool = False) -> bytes:
    """A `call` frame's body, as Call(...).encode() makes it, without building the Call."""
    value = args.text if type(args) is EncodedArgs else "".join(_encode_value(args, 0))
    more = ',"concurrent":true' if concurrent else ""
    name = encode_basestring(fn)
    return f'{{"t":"call","id":{call_id:d},"fn":{name},"args":{value}{more}}}'.encode()
