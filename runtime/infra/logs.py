"""Structured logs: one JSON object per line, with the execution id and tenant where known.

Records carry only what callers put in `extra` (ids, tenant names, statuses, timings); code,
inputs, results, secrets and keys are never passed to a logger. Lines written while an HTTP
request is served carry its `request_id` (set by runtime/adapters/http/door.py), the executions
it started included.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

# The id of the HTTP request being served, for every log line it causes.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


_PLAIN = frozenset({str, int, float, bool, type(None)})
_LEVELS = {level: name.lower() for name, level in logging.getLevelNamesMapping().items()}
_encode = json.JSONEncoder().encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, str | int | float | bool | None] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": _LEVELS.get(record.levelno) or record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():  # what the caller passed in `extra`
            if key not in _STANDARD and key[0] != "_":
                out[key] = value if type(value) in _PLAIN else _plain(value)
        rid = request_id.get()
        if rid is not None and "request_id" not in out:
            out["request_id"] = rid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return _encode(out)


def _plain(value: object) -> str | int | float | bool | None:
    if isinstance(value, (str, int, float, bool)):  # a subclass (an enum member, a bool flag)
        return value
    return str(value)


def configure(fmt: str = "json", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("terrarium")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
