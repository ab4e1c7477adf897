"""The pre-flight reads a tree in one pass: the same nodes in `ast.walk`'s order, a script that
cannot name the client or a module skipped without reading its tree (never one whose words the
parser folds), and `param_warnings` reusing the pass `check` made on the same tree only."""

from __future__ import annotations

import ast
import textwrap

from client_surface.table import sandbox_spec
from sandbox.desugar import desugar, walk_nodes
from sandbox.policy import compile_script
from sandbox.preflight import check, param_warnings
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json(sandbox_spec({"t2i-x": ["aspect_ratio", "seed"]}))

SCRIPT = textwrap.dedent("""\
    import json
    async def run(client):
        ws = (await client.workspaces.list()).workspaces[0].workspace_id
        gen = await client.generations.create(
            type="image", prompt="a fox", workspace_id=ws, project_id="prj_1",
            model="t2i-x", params={"aspectRatio": "square_1_1", "seed": 3},
        )
        x = {k: v for k, v in (lambda: 1, 2)} if gen.run_id else [-1, not 2, 3 < 4 and 5]
        return json.dumps(gen.run_id), x
""")
LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


def test_the_walk_gives_ast_walks_nodes_in_its_order_without_contexts_and_operators():
    tree = ast.parse(SCRIPT)
    expected = [node for node in ast.walk(tree) if not isinstance(node, LEAVES)]
    got = walk_nodes(tree)
    assert len(got) == len(expected)
    assert all(a is b for a, b in zip(got, expected, strict=True))


def test_a_client_spelt_in_other_unicode_letters_is_still_checked():
    # The parser folds `ｃｌｉｅｎｔ` to `client` and `ｍａｔｈ` to `math`: the text holds neither.
    problems = compile_script("ｃｌｉｅｎｔ.ｆｏｏ()\nｍａｔｈ.ｐｉ\n", SPEC).problems
    assert [(p.line, p.message) for p in problems] == [
        (1, "client.foo does not exist"),
        (2, "'math' is used but not imported"),
    ]


def test_a_script_naming_no_client_run_or_module_has_nothing_to_find():
    assert compile_script("x = [1 + 1]\nx", SPEC).problems == []
    assert compile_script("x = math.pi", SPEC).problems[0].message == (
        "'math' is used but not imported"
    )


def test_param_warnings_alone_after_check_and_after_check_of_another_tree_agree():
    def tree() -> ast.Module:
        return desugar(ast.parse(SCRIPT), SCRIPT)

    alone = param_warnings(tree(), SPEC)
    assert len(alone) == 1 and "'aspectRatio'" in alone[0]
    checked = tree()
    assert check(checked, SPEC, SCRIPT) == []
    assert param_warnings(checked, SPEC) == alone
    check(desugar(ast.parse("x = 1"), "x = 1"), SPEC, "x = 1")  # another tree, nothing to warn
    assert param_warnings(tree(), SPEC) == alone
