"""Run-time hints name the fix."""

from __future__ import annotations

import pytest

from sandbox.diagnostics import _hint


@pytest.mark.parametrize("name", ["asyncio", "json", "math"])
def test_allowed_module_used_without_import_says_add_the_import(name: str) -> None:
    with pytest.raises(NameError) as info:
        exec(f"{name}.x", {})
    assert _hint(info.value, {}) == f"add `import {name}` at the top"


def test_unknown_name_with_nothing_close_still_says_what_to_do() -> None:
    with pytest.raises(NameError) as info:
        exec("qqqzzz_value", {})
    assert _hint(info.value, {}) == "define or import it before this line"
