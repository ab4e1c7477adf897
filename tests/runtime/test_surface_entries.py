"""One test per entry of the surface table: a script can call it through the proxy."""

from __future__ import annotations

import textwrap

import pytest

from client_surface.table import SURFACE

SETUP = textwrap.dedent("""
    ws = client.workspaces.list().workspaces[0].workspace_id
    project = client.projects.create(name="entries", workspace_id=ws)
    pid = project.project_id
    gen = client.generations.create(type="image", prompt="a cat", workspace_id=ws,
                                    project_id=pid, model="t2i-flux-2-pro")
    trun = client.techniques.runs.create("product-shot",
                                         inputs=[{"id": "product", "type": "text", "value": "mug"}])
""")

CALLS = {
    "workspaces.list": "client.workspaces.list()",
    "projects.list": "client.projects.list(workspace_id=ws)",
    "projects.create": "client.projects.create(name='another', workspace_id=ws)",
    "projects.retrieve": "client.projects.retrieve(pid)",
    "projects.list_nodes": "client.projects.list_nodes(pid)",
    "models.list": "client.models.list(type='image')",
    "generations.create": "client.generations.create(type='text', prompt='hi', "
    "workspace_id=ws, project_id=pid)",
    "generations.retrieve": "client.generations.retrieve(gen.run_id)",
    "generations.list": "client.generations.list(workspace_id=ws)",
    "techniques.list": "client.techniques.list()",
    "techniques.retrieve": "client.techniques.retrieve('thumbnail-v3')",
    "techniques.runs.create": "client.techniques.runs.create('voiceover', "
    "inputs=[{'id': 'script', 'type': 'text', 'value': 'hello'}])",
    "techniques.runs.retrieve": "client.techniques.runs.retrieve(trun.run_id, "
    "technique_id='product-shot')",
    "techniques.runs.list": "client.techniques.runs.list()",
    "runs.start_technique": "client.runs.start_technique(technique_id='product-shot', "
    "workspace_id=ws, inputs={'product': 'lamp'})",
    "runs.start_generation": "client.runs.start_generation(type='image', prompt='x', "
    "workspace_id=ws, project_id=pid)",
    "feedback.record": "client.feedback.record(kind='bug', summary='s', detail='d', "
    "run_id=gen.run_id)",
    # -- assets and actions
    "assets.create": "client.assets.create(source='signed-url', workspace_id=ws)",
    "assets.retrieve": "client.assets.retrieve("
    "client.assets.create(source='signed-url', workspace_id=ws).asset_id)",
    "assets.list": "client.assets.list(workspace_id=ws)",
    "assets.complete": "client.assets.complete("
    "client.assets.create(source='signed-url', workspace_id=ws).asset_id)",
    "assets.retry": "client.assets.retry(client.assets.complete("
    "client.assets.create(source='signed-url', workspace_id=ws).asset_id).asset_id)",
    "projects.assets.attach_asset": "client.projects.assets.attach_asset(client.assets.create("
    "source=client.generations.retrieve(gen.run_id).outputs[0].url, workspace_id=ws).asset_id, "
    "project_id=pid)",
    "actions.list": "client.actions.list()",
    "actions.retrieve": "client.actions.retrieve('rotate-image-browser')",
    "actions.run": "client.actions.run(action_id='concat-text-browser', "
    "inputs=[{'type': 'text', 'text': 'a'}, {'type': 'text', 'text': 'b'}], "
    "project_id=pid, workspace_id=ws)",
    "projects.actions.create": "client.projects.actions.create(pid, "
    "action_id='blur-image-browser')",
    "projects.actions.run": "client.projects.actions.run(client.projects.actions.create(pid, "
    "action_id='blur-image-browser').node_id, project_id=pid)",
    # -- workspace-scoped projects, canvas, folders and the library
    "workspaces.projects.create": "client.workspaces.projects.create(ws, name='w')",
    "workspaces.projects.graph": "client.workspaces.projects.graph(pid, workspace_id=ws)",
    "workspaces.projects.run_nodes": "client.workspaces.projects.run_nodes(pid, "
    "workspace_id=ws, node_ids=['n1'])",
    "workspaces.projects.canvas.retrieve_definition": "client.workspaces.projects.canvas"
    ".retrieve_definition(pid, workspace_id=ws)",
    "workspaces.projects.canvas.replace_definition": "client.workspaces.projects.canvas"
    ".replace_definition(pid, workspace_id=ws, definition={'nodes': [], 'edges': [], "
    "'node_inputs': {}, 'node_outputs': {}})",
    "workspaces.projects.canvas.apply_changeset": "client.workspaces.projects.canvas"
    ".apply_changeset(pid, workspace_id=ws, add=[{'ref': 'a', 'type': 'image', "
    "'prompt': 'a fox'}])",
    "workspaces.folders.create_project": "client.workspaces.folders.create_project("
    "'fld_' + ws[3:], workspace_id=ws, name='f')",
    "workspaces.library.folders.create": "client.workspaces.library.folders.create(ws)",
    "workspaces.library.folders.add_item": "client.workspaces.library.folders.add_item("
    "client.workspaces.library.folders.create(ws).folder_id, workspace_id=ws, type='text', "
    "text='a fox')",
    "workspaces.library.folders.delete": "client.workspaces.library.folders.delete("
    "client.workspaces.library.folders.create(ws).folder_id, workspace_id=ws)",
    "projects.canvas.retrieve": "client.projects.canvas.retrieve(pid)",
    "projects.canvas.update": "client.projects.canvas.update(pid, "
    "diagram='graph LR\\n  a[\"A fox (Image)\"]')",
}


def test_every_table_entry_has_a_call_here():
    assert set(CALLS) == {m.full_name for m in SURFACE}


@pytest.mark.parametrize("method", sorted(CALLS))
def test_a_script_can_call(method, run):
    code = "def run(client):\n" + textwrap.indent(SETUP + f"return {CALLS[method]}", "    ")
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["calls"][-1]["method"] == method
    assert body["calls"][-1]["status"] == "ok"
    assert body["result"] is not None
