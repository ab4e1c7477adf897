"""The outcome of one execution, as the host hands it to the API, the CLI and the MCP tool."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("ok", "error", "timeout", "rejected", "limit_exceeded")


@dataclass
class ExecutionResult:
    status: str
    result: Any = None
    stdout: str = ""
    stdout_truncated: bool = False
    error: dict[str, Any] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0
    cpu_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def host_error(status: str, type_: str, message: str, hint: str | None = None,
               **extra: Any) -> ExecutionResult:  # fmt: skip
    """A result the host makes itself (a killed child, a protocol violation)."""
    error = {"type": type_, "message": message, "line": None, "source": None,
             "traceback": None, "hint": hint, **extra}  # fmt: skip
    return ExecutionResult(status=status, error=error)
