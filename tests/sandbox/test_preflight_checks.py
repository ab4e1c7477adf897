"""Pre-flight checks that agents' first scripts needed: typed reads through `await` (as the
async pass writes it), a record used as a dict key, and an id passed by position to a method
that takes none."""

from __future__ import annotations

import textwrap

from client_surface.table import sandbox_spec
from sandbox.policy import compile_script
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json(sandbox_spec())


def problems(code: str) -> list[tuple[int | None, str, str | None]]:
    return [(p.line, p.message, p.hint)
            for p in compile_script(textwrap.dedent(code), SPEC).problems]  # fmt: skip


def test_a_field_read_through_await_is_checked():
    [(line, message, hint)] = problems("""\
        async def run(client):
            ws = (await client.workspaces.list()).workspaces[0]
            return ws.credits
    """)
    assert (line, message) == (3, "Workspace has no field 'credits'")
    assert hint is not None and "workspace_id, name, role, created_at" in hint


KEYED = """\
async def run(client):
    gens = await client.generations.list(workspace_id="ws_1")
    totals = {}
    for g in gens:
        totals[g.model] = totals.get(g.model.model_id, 0) + 1
    seen = {g.model for g in gens}
    return totals
"""


def test_a_record_as_a_dict_key_is_refused_naming_its_id_field():
    synchronous = KEYED.replace("async def", "def").replace("await ", "")
    for code in (KEYED, synchronous):
        found = problems(code)
        message = "g.model is a GenerationModelRef record (unhashable): it cannot be a dict key or "
        assert [(line, text) for line, text, _ in found] == [
            (5, message + "set member"), (6, message + "set member")
        ], code  # fmt: skip
        assert found[0][2] == "key by one of its fields: `g.model.model_id`"


def test_an_id_passed_by_position_to_a_method_taking_none_names_the_keyword():
    found = problems("""\
        async def run(client):
            ws = (await client.workspaces.list()).workspaces[0]
            return await client.projects.list(ws.workspace_id)
    """)
    assert (3, "client.projects.list() takes 0 positional argument(s) (none) but 1 were given",
            "pass the others by keyword, e.g. workspace_id=...") in found  # fmt: skip
    # a variable holding the arguments dict, as in the JavaScript docs, is still left to run time
    assert (
        problems("""\
        def run(client):
            args = {"workspace_id": "ws_1"}
            return client.projects.list(args)
    """)
        == []
    )
