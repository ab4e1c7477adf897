"""The pre-flight's word scan never hides a finding: every script below gives the same problems
and warnings with the scan as with the checks always run; and a name a `match` pattern binds is
bound (a module's name captured there is not "used but not imported")."""

from __future__ import annotations

import ast
import textwrap

import pytest

from client_surface.table import sandbox_spec
from sandbox import preflight
from sandbox.desugar import desugar
from sandbox.facades import ALLOWED_MODULES
from sandbox.policy import compile_script
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json(sandbox_spec({"t2i-x": ["aspect_ratio", "seed"]}))

SCRIPTS = [
    "def run(c):\n    return c.workspacez.list()\n",  # the root is run's parameter
    "async def run(c):\n    return await c.generations.creat()\n",
    "c = client\nd = c\nd.generationz.list()\n",  # aliases of aliases
    "x = (client\n     .bogus)\n",
    "x = client.\\\n    bogus\n",  # a line continuation inside the chain
    "myclient = 1\nmyclient.bogus()\nclient_x = 2\n",  # `client` only as part of a name
    "getattr(globals()['cli' + 'ent'], 'bogus')()\n",  # not seen through, with or without
    "from json import *\nx = dumps(1)\n",
    "ｃｌｉｅｎｔ.ｆｏｏ()\n",  # folded by the parser: not ASCII, never skipped
    "x = 1\n# client.bogus() in a comment only\n",
    "client.generations.create(type='image', prompt='p', workspace_id='w', project_id='p',"
    " model='t2i-x', params={'aspectRatio': 1})\n",
    *(f"x = {name}\n" for name in sorted(ALLOWED_MODULES) if "." not in name),
]


def outcome(code: str) -> tuple[list[tuple[int | None, str]], list[str]]:
    compiled = compile_script(textwrap.dedent(code), SPEC)
    tree = desugar(ast.parse(code), code)
    preflight.check(tree, SPEC, code)
    return [(p.line, p.message) for p in compiled.problems], preflight.param_warnings(tree, SPEC)


@pytest.mark.parametrize("code", SCRIPTS)
def test_the_word_scan_gives_what_the_checks_give(
    code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned = outcome(code)
    monkeypatch.setattr(preflight, "_cannot_name_client_or_modules", lambda source: False)
    assert scanned == outcome(code)


def test_a_script_without_the_words_is_skipped_and_an_unimported_module_is_not() -> None:
    assert preflight._cannot_name_client_or_modules("x = [1 + 1]\nx")
    for name in ALLOWED_MODULES:
        if "." not in name:
            [problem] = compile_script(f"y = {name}.x\n", SPEC).problems
            assert problem.message == f"'{name}' is used but not imported"


@pytest.mark.parametrize(
    "pattern", ["math", "[*math]", "{**math}", "{'k': math}", "[1, math]", "int() as math"]
)
def test_a_module_name_a_match_pattern_binds_is_bound(pattern: str) -> None:
    code = f"match 1:\n    case {pattern}:\n        pass\nmath\n"
    assert compile_script(code, SPEC).problems == []
