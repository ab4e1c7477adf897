"""Every node the async pass makes carries a location of its own (it copies its twin's), so no
walk of the whole tree is needed to fill in missing ones before pre-flight reads lines."""

from __future__ import annotations

import ast
import textwrap

from sandbox.desugar import desugar

SCRIPT = textwrap.dedent("""\
    import asyncio
    from asyncio import gather as g

    async def fetch(client, i):
        async with client.lock as held:
            return await client.models.list(limit=i)

    async def items():
        yield 1

    async def run(client):
        pages = await asyncio.gather(*[fetch(client, i) for i in range(3)])
        more = await g(fetch(client, 1), asyncio.sleep(0))
        done = await asyncio.wait([fetch(client, 2)])
        async for x in items():
            pass
        async with asyncio.TaskGroup() as tg:
            tg.create_task(fetch(client, 3))
        return [y async for y in items()], pages, more, done, await asyncio.shield(fetch(client, 4))
""")


def test_every_node_of_a_desugared_script_has_a_location():
    tree = desugar(ast.parse(SCRIPT), SCRIPT)
    assert isinstance(tree.body[0], ast.ImportFrom)  # the helpers' import was added
    missing = [
        (type(node).__name__, attr)
        for node in ast.walk(tree)
        for attr in ("lineno", "col_offset", "end_lineno", "end_col_offset")
        if attr in node._attributes and getattr(node, attr, None) is None
    ]
    assert missing == []
    compile(tree, "<script>", "exec")
