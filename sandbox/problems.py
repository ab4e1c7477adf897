"""The source line a problem or an error points at, as an agent is shown it."""

from __future__ import annotations


def source_line(source_lines: list[str], line: int | None) -> str | None:
    if line is None or line < 1 or line > len(source_lines):
        return None
    return source_lines[line - 1].strip()[:300]
