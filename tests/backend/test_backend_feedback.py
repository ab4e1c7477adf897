"""feedback.record: the feedback is stored in the key's workspace with what it links to; links
to another workspace's project or run are not found, and a repeated Idempotency-Key records it
once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from client_surface.errors import NotFoundError
from flora_backend.store import Feedback

REPORT = {"kind": "bug", "summary": "Polling stalls", "detail": "run stays pending"}


async def stored(backend) -> list[Feedback]:
    async with backend.sessions() as s:
        return list((await s.execute(select(Feedback))).scalars())


async def test_feedback_is_stored_with_its_links(backend, client, creds, project):
    start = await client.generations.create(
        type="image", prompt="a fox", workspace_id=creds[0], project_id=project.project_id
    )
    receipt = await client.feedback.record(
        **REPORT, project_id=project.project_id, run_id=start.run_id, attempted_tools=["x"]
    )
    [row] = await stored(backend)
    assert row.id == receipt.feedback_id and row.workspace_id == creds[0]
    assert (row.kind, row.summary, row.detail) == ("bug", "Polling stalls", "run stays pending")
    assert (row.project_id, row.run_id, row.attempted_tools) == (
        project.project_id,
        start.run_id,
        ["x"],
    )


async def test_links_to_another_workspaces_project_or_run_are_not_found(backend, client, raw_for):
    other = await backend.create_workspace("Other")
    async with raw_for(backend, await backend.create_key(other)) as theirs:
        made = await theirs.post("projects", json={"name": "theirs", "workspace_id": other})
    with pytest.raises(NotFoundError):
        await client.feedback.record(**REPORT, project_id=made.json()["project_id"])
    with pytest.raises(NotFoundError):
        await client.feedback.record(**REPORT, run_id="run_nothere")
    assert await stored(backend) == []


async def test_a_repeated_idempotency_key_records_the_feedback_once(backend, raw):
    headers = {"idempotency-key": "fb-once"}
    first = await raw.post("feedback", json=REPORT, headers=headers)
    assert first.status_code == 200, first.text
    again = await raw.post("feedback", json=REPORT, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "idempotency_duplicate"
    assert len(await stored(backend)) == 1
