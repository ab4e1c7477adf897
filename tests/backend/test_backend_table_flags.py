"""The backend applies the table's flags itself: every argument the table declares a workspace
id is checked against the key's workspace before any handler runs, and list handlers' items are
answered under the table's items key, with `meta` exactly when the method pages."""

from __future__ import annotations

from typing import Any, get_type_hints

import pytest

from client_surface.table import SURFACE, Method
from flora_backend.routes import HANDLERS

# The smallest valid value of each required argument (the entities need not exist: the
# workspace is refused before a handler looks anything up).
PLACEHOLDERS: dict[str, Any] = {
    "name": "p",
    "type": "image",
    "prompt": "x",
    "project_id": "prj_x",
    "technique_id": "tech_x",
    "inputs": {},
    "summary": "s",
    "detail": "d",
    "kind": "bug",
    "folder_id": "fld_x",
    "node_ids": ["n1"],
    "definition": {"edges": [], "node_inputs": {}, "node_outputs": {}, "nodes": []},
    "source": "signed-url",
    "action_id": "blur-image-browser",
}
# Where one name takes another shape in one method.
PLACEHOLDERS_OF: dict[str, dict[str, Any]] = {
    "actions.run": {"inputs": [{"type": "image", "url": "https://example.com/a.png"}]},
}
SCOPED = [(m, name) for m in SURFACE for name in m.workspace_args]
LISTS = [m for m in SURFACE if m.items_key is not None]


def request_for(method: Method, arguments: dict[str, Any]) -> dict[str, Any]:
    path = method.path.format(**{name: arguments.pop(name) for name in method.path_params})
    if method.verb == "GET":
        return {"method": "GET", "url": path.lstrip("/"), "params": arguments}
    return {"method": method.verb, "url": path.lstrip("/"), "json": arguments}


def arguments_of(method: Method, workspace_id: str) -> dict[str, Any]:
    """The method's required arguments, its workspace arguments naming `workspace_id`."""
    arguments = {n: workspace_id for n in method.workspace_args}
    for name, field in method.args.model_fields.items():
        if field.is_required() and name not in arguments:
            arguments[name] = PLACEHOLDERS_OF.get(method.full_name, {}).get(
                name, PLACEHOLDERS[name]
            )
    return arguments


@pytest.mark.parametrize(("method", "name"), SCOPED, ids=[f"{m.full_name}-{n}" for m, n in SCOPED])
async def test_a_declared_workspace_argument_naming_another_workspace_is_not_found(
    backend, raw, method, name
):
    other = await backend.create_workspace("Other")
    arguments = arguments_of(method, other)
    response = await raw.request(**request_for(method, arguments))
    assert response.status_code == 404, response.text
    assert response.json()["error"]["message"].startswith("Workspace")
    assert await backend.credits(other) == await backend.credits()  # nothing was charged


@pytest.mark.parametrize("method", LISTS, ids=[m.full_name for m in LISTS])
async def test_a_list_answers_under_its_items_key_with_meta_when_it_pages(
    raw, creds, project, method
):
    arguments = {n: creds[0] for n in method.workspace_args}
    arguments |= {n: project.project_id for n in method.path_params}
    response = await raw.request(**request_for(method, arguments))
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body[method.items_key], list)
    assert ("meta" in body) == method.paged


@pytest.mark.parametrize("method", SURFACE, ids=lambda m: m.full_name)
def test_handler_takes_the_methods_argument_model(method: Method) -> None:
    """A handler's `args` annotation is the model the route validates its input with."""
    handler = HANDLERS[method.full_name]
    assert get_type_hints(handler)["args"] is method.args
