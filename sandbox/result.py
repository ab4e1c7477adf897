"""The outcome of one execution, as the host hands it to the API, the CLI and the MCP tool."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.messages import ErrorInfo, Status


@dataclass
class ExecutionResult:
    status: Status
    result: Any = None
    stdout: str = ""
    stdout_truncated: bool = False
    error: dict[str, Any] | None = None  # an ErrorInfo as JSON (ErrorInfo.to_json)
    calls: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0
    cpu_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def failed(cls, status: Status, error: ErrorInfo) -> ExecutionResult:
        """An execution that ended without a result, for the reason `error` gives."""
        return cls(status=status, error=error.to_json())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
