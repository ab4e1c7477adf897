"""A class statement keeps its own line: RestrictedPython rebuilds it from a template parsed on
its own (line 1), so without the policy putting the class back where the script wrote it, an
error raised while the class is made (a base that is not a class) named the script's first line.
"""

from __future__ import annotations

import ast
import dis

from client_surface.table import sandbox_spec
from sandbox import policy
from sandbox.pool import WarmPool

SOURCE = "x = 1\n\n\n@staticmethod\nclass A(x, total=False):\n    y = 2\n"


def test_the_rebuilt_class_and_its_metaclass_keyword_sit_on_the_class_line() -> None:
    compiled = policy.compile_script(SOURCE)
    assert compiled.code is not None and compiled.tree is not None
    (cls,) = [n for n in compiled.tree.body if isinstance(n, ast.ClassDef)]
    assert (cls.lineno, cls.col_offset, cls.end_lineno) == (5, 0, 6)
    for keyword in cls.keywords:
        assert keyword.lineno == keyword.value.lineno == 5
    build = [i for i in dis.get_instructions(compiled.code) if i.opname == "LOAD_BUILD_CLASS"]
    assert [i.positions.lineno for i in build if i.positions] == [5]


async def test_an_error_raised_while_a_class_is_made_names_the_class_line() -> None:
    pool = WarmPool(sandbox_spec(), warm=1)
    await pool.start()
    try:
        result = await pool.execute("x = 1\n\n\nclass A(x):\n    pass\n")
        assert result.status == "error"
        assert result.error is not None
        assert result.error["type"] == "TypeError"
        assert result.error["line"] == 4
        assert result.error["source"] == "class A(x):"
    finally:
        await pool.stop()
