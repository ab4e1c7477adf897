"""The statements one generations.create makes on SQLite: the project's workspace, the
idempotency claim, the charge, the run (and its file when completed at once), the canvas read
and write, the project touch; no canvas hold of its own, since the charge took SQLite's write
lock before the canvas is read (the gathered creates of test_backend_nodes.py each keep their
node)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from client_surface import AsyncFlora
from flora_backend import Backend


def kind(statement: str) -> str:
    """`VERB table` of a statement."""
    words = statement.replace("\n", " ").split()
    verb = words[0].upper()
    table = words[2] if verb in ("INSERT", "UPDATE") and words[1].upper() == "INTO" else words[1]
    if verb == "SELECT":
        table = words[words.index("FROM") + 1]
    return f"{verb} {table}"


async def test_a_generation_on_sqlite_holds_no_canvas_of_its_own(
    backend: Backend, client: AsyncFlora, creds: tuple[str, str]
) -> None:
    ws = creds[0]
    project = await client.projects.create(name="Statements", workspace_id=ws)
    made: list[str] = []
    assert backend.db is not None

    def seen(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if kind(statement) != "SELECT backend_runs":  # the engine's sweep, meanwhile
            made.append(kind(statement))

    event.listen(backend.db.sync_engine, "before_cursor_execute", seen)
    try:
        for _ in range(2):  # the project's first node, then a second one
            made.clear()
            await client.generations.create(
                type="text", prompt="a fox", workspace_id=ws, project_id=project.project_id
            )
    finally:
        event.remove(backend.db.sync_engine, "before_cursor_execute", seen)
    assert made == [  # the second create's
        "SELECT backend_projects",
        "INSERT backend_idempotency_keys",
        "UPDATE backend_workspaces",
        "INSERT backend_runs",
        "SELECT backend_canvases",
        "UPDATE backend_canvases",
        "UPDATE backend_projects",
    ], made
