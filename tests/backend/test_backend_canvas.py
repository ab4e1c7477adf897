"""The workspace-scoped projects, the project canvas, project folders and the library: a canvas
definition that persists with a growing revision, changesets all-or-nothing with base_revision
conflicts, the graph with stable short ids, runNodes starting real runs through the run engine,
the add-only Mermaid update, folders as rows, and the workspace in the path checked."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from client_surface.errors import BadRequestError, ConflictError, NotFoundError
from flora_backend.store import FolderProject, LibraryFolder, LibraryItem, Workspace


@pytest.fixture
async def ws(creds):
    return creds[0]


async def test_workspace_project_and_folder_project_are_rows(backend, client, ws):
    made = await client.workspaces.projects.create(ws, name="Spring")
    assert made.workspace_id == ws and made.name == "Spring"
    assert isinstance(made.created_at, float | int)
    assert (await client.projects.retrieve(made.project_id)).name == "Spring"

    [folder] = await backend.project_folders()
    filed = await client.workspaces.folders.create_project(folder, workspace_id=ws, name="In")
    async with backend.sessions() as s:
        link = await s.get(FolderProject, filed.project_id)
    assert link is not None and link.folder_id == folder
    with pytest.raises(NotFoundError):
        await client.workspaces.folders.create_project("fld_nothere", workspace_id=ws, name="x")
    with pytest.raises(BadRequestError):
        await client.workspaces.projects.create(ws, name="  ")


async def test_another_workspace_in_the_path_is_not_found(backend, client, raw_for, project):
    other = await backend.create_workspace("Other")
    folder = await backend.create_project_folder("Theirs", other)
    with pytest.raises(NotFoundError):
        await client.workspaces.projects.create(other, name="x")
    with pytest.raises(NotFoundError):
        await client.workspaces.projects.graph(project.project_id, workspace_id=other)
    async with raw_for(backend, await backend.create_key(other)) as theirs:
        mine = await theirs.get(f"workspaces/{other}/projects/{project.project_id}/graph")
        assert mine.status_code == 404 and mine.json()["error"]["code"] == "not_found"
        ok = await theirs.post(f"workspaces/{other}/folders/{folder}/projects", json={"name": "a"})
        assert ok.status_code == 200, ok.text
    [mine_folder] = await backend.project_folders()
    with pytest.raises(NotFoundError):  # a folder of the key's workspace only
        await client.workspaces.folders.create_project(
            folder, workspace_id=(await backend.default_credentials())[0], name="x"
        )
    assert mine_folder != folder


async def test_changeset_then_graph_then_definition_persist(client, ws, project):
    prj = project.project_id
    empty = await client.workspaces.projects.graph(prj, workspace_id=ws)
    assert empty.nodes == [] and empty.edges == []
    done = await client.workspaces.projects.canvas.apply_changeset(
        prj,
        workspace_id=ws,
        add=[
            {"ref": "brief", "type": "text", "prompt": "a fox poem", "label": "Brief"},
            {"ref": "fox", "type": "image", "prompt": "a red fox", "params": {"x": 1}},
            {"ref": "ref", "type": "image", "content_url": "https://example.com/fox.png"},
        ],
        connect=[{"from": "brief", "to": "fox"}, {"from": "ref", "to": "fox", "in": "image"}],
    )
    assert done.applied.added == 3 and done.applied.connected == 2
    assert int(done.revision) > int(empty.revision)
    fox = done.created["fox"]
    graph = await client.workspaces.projects.graph(prj, workspace_id=ws)
    assert graph.revision == done.revision
    by_id = {n.id: n for n in graph.nodes}
    assert by_id[fox.id].node_id == fox.node_id and by_id[fox.id].prompt == "a red fox"
    assert by_id[fox.id].type == "image" and by_id[fox.id].status == "idle"
    assert by_id[fox.id].model_id and by_id[fox.id].params["x"] == 1
    assert by_id[done.created["ref"].id].type == "static_image"
    assert by_id[done.created["ref"].id].output_url == "https://example.com/fox.png"
    edges = {(e.from_, e.to, e.in_) for e in graph.edges}
    assert (done.created["brief"].id, fox.id, "text") in edges
    assert (done.created["ref"].id, fox.id, "image") in edges
    again = await client.workspaces.projects.graph(prj, workspace_id=ws)
    assert [n.id for n in again.nodes] == [n.id for n in graph.nodes]  # short ids are stable

    definition = await client.workspaces.projects.canvas.retrieve_definition(prj, workspace_id=ws)
    assert {n.id for n in definition.definition.nodes} == {c.node_id for c in done.created.values()}
    assert definition.summary.node_count == 3 and definition.summary.workflow_count == 1
    assert definition.definition.node_inputs[fox.node_id]["prompt"] == "a red fox"


async def test_changeset_is_all_or_nothing_and_base_revision_conflicts(client, ws, project):
    prj = project.project_id
    first = await client.workspaces.projects.canvas.apply_changeset(
        prj, workspace_id=ws, add=[{"ref": "a", "type": "image", "prompt": "a"}]
    )
    with pytest.raises(BadRequestError) as bad:
        await client.workspaces.projects.canvas.apply_changeset(
            prj,
            workspace_id=ws,
            add=[{"ref": "b", "type": "image", "prompt": "b"}],
            connect=[{"from": "b", "to": "nowhere"}],
            remove=[{"id": "n99"}],
        )
    assert bad.value.code == "input_validation_error"
    assert {f["field"] for f in bad.value.fields} == {"connect[0]", "remove[0].id"}
    graph = await client.workspaces.projects.graph(prj, workspace_id=ws)
    assert len(graph.nodes) == 1 and graph.revision == first.revision  # nothing applied

    with pytest.raises(ConflictError) as stale:
        await client.workspaces.projects.canvas.apply_changeset(
            prj, workspace_id=ws, base_revision="0", remove=[{"id": first.created["a"].id}]
        )
    assert stale.value.code == "conflict"
    gone = await client.workspaces.projects.canvas.apply_changeset(
        prj, workspace_id=ws, base_revision=graph.revision, remove=[{"id": first.created["a"].id}]
    )
    assert gone.applied.removed == 1
    assert (await client.workspaces.projects.graph(prj, workspace_id=ws)).nodes == []


async def test_changeset_update_merges_params_and_warns_when_nothing_changes(client, ws, project):
    prj = project.project_id
    made = await client.workspaces.projects.canvas.apply_changeset(
        prj, workspace_id=ws, add=[{"ref": "a", "type": "image", "prompt": "a", "params": {"k": 1}}]
    )
    a = made.created["a"].id
    upd = await client.workspaces.projects.canvas.apply_changeset(
        prj, workspace_id=ws, update=[{"id": a, "prompt": "b", "params": {"j": 2}}]
    )
    assert upd.applied.updated == 1
    node = (await client.workspaces.projects.graph(prj, workspace_id=ws)).nodes[0]
    assert node.prompt == "b" and node.params["k"] == 1 and node.params["j"] == 2
    same = await client.workspaces.projects.canvas.apply_changeset(
        prj, workspace_id=ws, update=[{"id": a, "prompt": "b"}]
    )
    assert same.applied.updated == 0 and same.warnings and same.revision == upd.revision


async def test_replace_definition_persists_and_validates(client, ws, project):
    prj = project.project_id
    definition = {
        "nodes": [
            {"id": "t1", "type": "textBlock", "data": {"label": "Brief"}},
            {"id": "i1", "type": "emptyImageBlock", "data": {}, "position": {"x": 5, "y": 6}},
        ],
        "edges": [
            {"id": "e1", "source": "t1", "target": "i1", "source_handle": None,
             "target_handle": "text"}
        ],
        "node_inputs": {"i1": {"prompt": "a fox", "model": None}},
        "node_outputs": {},
    }  # fmt: skip
    out = await client.workspaces.projects.canvas.replace_definition(
        prj, workspace_id=ws, definition=definition
    )
    nodes = {n.id: n for n in out.definition.nodes}
    assert nodes["i1"].position.x == 5 and nodes["t1"].position is not None  # laid out
    assert out.summary.edge_count == 1 and out.summary.workflow_count == 1
    graph = await client.workspaces.projects.graph(prj, workspace_id=ws)
    assert {n.node_id for n in graph.nodes} == {"t1", "i1"}
    definition["edges"][0]["target"] = "missing"
    with pytest.raises(BadRequestError) as bad:
        await client.workspaces.projects.canvas.replace_definition(
            prj, workspace_id=ws, definition=definition
        )
    assert bad.value.fields[0]["field"] == "edges[0].target"
    assert (await client.workspaces.projects.graph(prj, workspace_id=ws)).revision == graph.revision


async def test_run_nodes_starts_real_runs_and_skips_what_cannot_run(
    backend, client, raw, ws, project
):
    prj = project.project_id
    made = await client.workspaces.projects.canvas.apply_changeset(
        prj,
        workspace_id=ws,
        add=[
            {"ref": "g", "type": "group"},
            {"ref": "fox", "type": "image", "prompt": "a red fox"},
            {"ref": "snow", "type": "image", "prompt": "the fox in snow"},
        ],
        connect=[{"from": "fox", "to": "snow"}],
    )
    ids = made.created
    before = await backend.credits(ws)
    answer = await client.workspaces.projects.run_nodes(
        prj, workspace_id=ws, node_ids=[ids["snow"].id, ids["fox"].node_id, ids["g"].id, "n404"]
    )
    snow, fox, group, missing = answer.runs
    assert (snow.status, fox.status) == ("started", "started")
    assert fox.node_id == ids["fox"].node_id  # echoed as sent
    assert snow.type == "generation" and snow.model.model_id and snow.charged_cost > 0
    assert (group.status, group.reason) == ("skipped", "node_not_executable")
    assert (missing.status, missing.reason) == ("skipped", "node_not_found")
    assert await backend.credits(ws) < before
    run = await client.generations.retrieve(snow.run_id)
    assert run.status == "completed" and run.outputs
    graph = await client.workspaces.projects.graph(prj, workspace_id=ws)
    done = {n.id: n for n in graph.nodes}[ids["snow"].id]
    assert done.status == "done" and done.output_url == run.outputs[0].url
    empty = await raw.post(f"workspaces/{ws}/projects/{prj}/nodes/run", json={"node_ids": []})
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "input_validation_error"


async def test_mermaid_update_adds_and_never_removes(client, ws, project):
    prj = project.project_id
    first = await client.projects.canvas.update(
        prj,
        diagram='graph LR\n  source["Product photo (Image)"]\n  out["Campaign (Image)"]\n'
        "  source --> out",
    )
    assert (first.created_node_count, first.created_edge_count) == (2, 1)
    canvas = await client.projects.canvas.retrieve(prj)
    assert canvas.summary.node_count == 2 and canvas.summary.edge_count == 1
    assert canvas.diagram.startswith("graph LR") and "n1 --> n2" in canvas.diagram
    more = await client.projects.canvas.update(
        prj,
        diagram='flowchart TD\n  img1["(Image)"]\n  n2 --> txt["A caption (Text)"]\n  n1["again"]',
        node_params={"img1": {"content_url": "https://example.com/a.png"}},
    )
    assert (more.created_node_count, more.created_edge_count) == (3, 1)
    assert any("NEW node" in w for w in more.warnings or [])
    graph = await client.workspaces.projects.graph(prj, workspace_id=ws)
    types = sorted(n.type for n in graph.nodes)
    assert types == ["image", "image", "image", "static_image", "text"]
    for bad in ("not a diagram", "graph LR\n  n1 --x n2", "graph LR\n  a[unclosed"):
        with pytest.raises(BadRequestError) as err:
            await client.projects.canvas.update(prj, diagram=bad)
        assert err.value.code == "input_validation_error"
    with pytest.raises(BadRequestError):
        await client.projects.canvas.update(
            prj, diagram='graph LR\n  a["x (Image)"]', node_params={"zz": {"prompt": "p"}}
        )
    assert len((await client.workspaces.projects.graph(prj, workspace_id=ws)).nodes) == 5


async def test_library_folders_and_items(backend, client, ws):
    folder = await client.workspaces.library.folders.create(ws, name="Clips")
    assert folder.folder_id.startswith("libfolder_") and folder.workspace_id == ws
    unnamed = await client.workspaces.library.folders.create(ws)
    assert unnamed.name
    item = await client.workspaces.library.folders.add_item(
        folder.folder_id, workspace_id=ws, type="text", text="a red fox", description="d"
    )
    with pytest.raises(BadRequestError):
        await client.workspaces.library.folders.add_item(folder.folder_id, workspace_id=ws,
                                                         type="text")  # fmt: skip
    with pytest.raises(BadRequestError):  # a private address is never fetched
        await client.workspaces.library.folders.add_item(
            folder.folder_id, workspace_id=ws, type="image", source="https://127.0.0.1/a.png"
        )
    gone = await client.workspaces.library.folders.delete(folder.folder_id, workspace_id=ws)
    assert gone.deleted is True and gone.folder_id == folder.folder_id
    async with backend.sessions() as s:
        assert await s.get(LibraryFolder, folder.folder_id) is None
        saved = (await s.execute(select(LibraryItem))).scalars().one()
    assert saved.id == item.saved_node_id and saved.folder_id is None and saved.text == "a red fox"
    with pytest.raises(NotFoundError):
        await client.workspaces.library.folders.delete(folder.folder_id, workspace_id=ws)


async def test_a_node_run_the_workspace_cannot_pay_for_fails_even_when_instant(
    backend, client, ws, project
):
    prj = project.project_id
    made = await client.workspaces.projects.canvas.apply_changeset(
        prj, workspace_id=ws, add=[{"ref": "t", "type": "text", "prompt": "a haiku"}]
    )
    async with backend.sessions() as s, s.begin():
        await s.execute(update(Workspace).where(Workspace.id == ws).values(credits=0))
    answer = await client.workspaces.projects.run_nodes(
        prj, workspace_id=ws, node_ids=[made.created["t"].node_id]
    )
    [started] = answer.runs
    assert started.status == "started"
    run = await client.generations.retrieve(started.run_id)
    assert run.status == "failed" and run.error_code == "BILLING_NOT_ENOUGH_CREDITS"
    assert not run.outputs


async def test_run_nodes_sees_the_credits_each_run_it_starts_takes(backend, client, ws, project):
    prj = project.project_id
    made = await client.workspaces.projects.canvas.apply_changeset(
        prj,
        workspace_id=ws,
        add=[{"ref": r, "type": "text", "prompt": f"a haiku {r}"} for r in ("a", "b", "c")],
    )
    ids = [made.created[r].node_id for r in ("a", "b", "c")]
    before = await backend.credits(ws)
    await client.workspaces.projects.run_nodes(prj, workspace_id=ws, node_ids=ids[:1])
    cost = before - await backend.credits(ws)
    assert cost > 0
    async with backend.sessions() as s, s.begin():
        await s.execute(update(Workspace).where(Workspace.id == ws).values(credits=cost))
    answer = await client.workspaces.projects.run_nodes(prj, workspace_id=ws, node_ids=ids[1:])
    runs = [await client.generations.retrieve(r.run_id) for r in answer.runs]
    assert [r.status for r in runs] == ["completed", "failed"]
    assert runs[1].error_code == "BILLING_NOT_ENOUGH_CREDITS"
    assert await backend.credits(ws) == 0
