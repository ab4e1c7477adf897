"""A problem found in a script before it runs (syntax, policy, pre-flight), in agent terms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Problem:
    line: int | None
    message: str
    col: int | None = None
    source: str | None = None
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "col": self.col,
            "message": self.message,
            "source": self.source,
            "hint": self.hint,
        }


def source_line(source_lines: list[str], line: int | None) -> str | None:
    if line is None or line < 1 or line > len(source_lines):
        return None
    return source_lines[line - 1].strip()[:300]
