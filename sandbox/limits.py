"""The limits one execution runs under, and how a request's overrides are checked against maxima."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


class LimitError(ValueError):
    """A requested limit that is unknown, not positive, or above the maximum; names its field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 30.0  # wall clock; the host SIGKILLs the child at this deadline
    cpu_s: float = 30.0  # CPU seconds (RLIMIT_CPU in the child)
    memory_mb: int = 256  # address space the script may add (RLIMIT_AS)
    stdout_bytes: int = 64 * 1024  # printed output kept; the rest is cut and said so
    result_bytes: int = 1024 * 1024  # serialized result size
    max_calls: int = 1000  # host calls (client.*) per execution
    code_bytes: int = 100 * 1024  # source size

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def override(self, maxima: Limits, **requested: Any) -> Limits:
        """Apply per-request values, refusing any above the operator's maximum."""
        changes = {}
        for name, value in requested.items():
            if value is None:
                continue
            if name not in {f.name for f in fields(self)}:
                raise LimitError(name, f"unknown limit {name!r}")
            if value <= 0:
                raise LimitError(name, f"{name} must be positive, got {value}")
            ceiling = getattr(maxima, name)
            if value > ceiling:
                raise LimitError(name, f"{name}={value} is above the maximum of {ceiling}")
            changes[name] = value
        return replace(self, **changes)
