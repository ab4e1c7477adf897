"""Ids placed in a URL path have their kind's shape, checked before any request is built: an id
can never route a call to another endpoint than the one that was checked (`prj_x/nodes`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from flora_mock import RUN, Recorder

from client_surface import SURFACE
from client_surface.dispatch import ArgumentError, dispatch_call
from client_surface.table import ID_ARGUMENTS, ID_KINDS, check_path_value

# Every way a path segment could leave its place or mean something else.
HOSTILE_SEGMENTS = {
    "slash": "{p}x/nodes",
    "encoded_slash": "{p}x%2Fnodes",
    "backslash": "{p}x\\nodes",
    "dot_dot": "..",
    "dot": ".",
    "dot_dot_after_prefix": "{p}../../workspaces",
    "query": "{p}x?workspace_id=ws_other",
    "fragment": "{p}x#frag",
    "space": "{p}x y",
    "newline": "{p}x\nGET /",
    "nul": "{p}x\x00",
    "unicode_slash": "{p}x\u2215nodes",
    "fullwidth_dot": "\uff0e\uff0e",
    "empty": "",
    "prefix_only": "{p}",
    "too_long": "{p}" + "a" * 129,
}
PATH_ARGUMENTS = sorted({(m.full_name, name) for m in SURFACE for name in m.path_params})
PREFIX = {"project": "prj_", "run": "run_", "technique": "tech_", "workspace": "ws_",
          "folder": "fld_"}  # fmt: skip
# Required body arguments of the workspace-scoped and canvas methods.
CANVAS_REQUIRED: dict[str, dict[str, Any]] = {
    "workspaces.projects.create": {"name": "p"},
    "workspaces.folders.create_project": {"name": "p"},
    "workspaces.projects.run_nodes": {"node_ids": ["n1"]},
    "workspaces.projects.canvas.replace_definition": {
        "definition": {"nodes": [], "edges": [], "node_inputs": {}, "node_outputs": {}}
    },
    "projects.canvas.update": {"diagram": "graph LR"},
}


def valid_arguments(method_name: str) -> dict[str, Any]:
    method = next(m for m in SURFACE if m.full_name == method_name)
    values = {"project_id": "prj_1", "run_id": "run_1", "technique_id": "tech_1",
              "id_or_slug": "thumbnail-v3"}  # fmt: skip
    values |= {"asset_id": "asset_1", "action_id": "rotate-image-browser", "node_id": "n1"}
    values |= {"workspace_id": "ws_1", "folder_id": "fld_1"}
    if method_name.startswith("workspaces.library."):
        values["folder_id"] = "libfolder_1"
    arguments = {name: values[name] for name in method.path_params}
    arguments |= CANVAS_REQUIRED.get(method_name, {})
    if method_name == "projects.actions.create":
        arguments["action_id"] = "rotate-image-browser"
    if method_name == "techniques.runs.create":
        arguments |= {"inputs": [], "mode": "async"}
    return arguments


@pytest.mark.parametrize("method", sorted({m for m, _ in PATH_ARGUMENTS}))
def test_the_valid_arguments_are_valid(method):
    """Each refusal below is of the one hostile id, never of an argument left out."""
    model = next(m for m in SURFACE if m.full_name == method).args
    model.model_validate(valid_arguments(method))


def hostile(name: str, template: str) -> str:
    return template.format(p=PREFIX.get(ID_ARGUMENTS[name], ""))


@pytest.mark.parametrize("segment", HOSTILE_SEGMENTS.values(), ids=HOSTILE_SEGMENTS.keys())
@pytest.mark.parametrize(("method", "name"), PATH_ARGUMENTS)
async def test_a_path_id_off_its_shape_is_refused_before_any_request(
    make_async, method, name, segment
):
    rec = Recorder(lambda r: httpx.Response(200, json={}))
    arguments = {**valid_arguments(method), name: hostile(name, segment)}
    with pytest.raises(ArgumentError) as info:
        await dispatch_call(make_async(rec), method, arguments)
    assert rec.requests == []
    assert f"argument {name!r} must be a {ID_KINDS[ID_ARGUMENTS[name]].name} id" in (
        info.value.message
    )


# Node, action and output ids have no prefix, so no other kind can be told apart from them.
PREFIXED_PATH_ARGUMENTS = [
    (method, name)
    for method, name in PATH_ARGUMENTS
    if ID_ARGUMENTS[name] not in ("node", "action", "output")
]


@pytest.mark.parametrize(("method", "name"), PREFIXED_PATH_ARGUMENTS)
async def test_a_path_id_of_another_kind_is_refused(make_async, method, name):
    rec = Recorder(lambda r: httpx.Response(200, json={}))
    wrong = "ws_1" if ID_ARGUMENTS[name] != "workspace" else "prj_1"
    with pytest.raises(ArgumentError, match="must be a"):
        await dispatch_call(make_async(rec), method, {**valid_arguments(method), name: wrong})
    assert rec.requests == []


async def test_the_sdk_refuses_the_same_ids(make_sync):
    rec = Recorder(lambda r: httpx.Response(200, json={}))
    with pytest.raises(ArgumentError, match="'prj_' then letters, digits"):
        make_sync(rec).projects.retrieve(project_id="prj_x/nodes")
    assert rec.requests == []


async def test_well_shaped_ids_reach_their_own_path(make_async):
    rec = Recorder(lambda r: httpx.Response(200, json={**RUN, "run_id": "run_A-9_z"}))
    flora = make_async(rec)
    await dispatch_call(flora, "techniques.runs.retrieve",
                        {"run_id": "run_A-9_z", "technique_id": "product-shot"})  # fmt: skip
    await dispatch_call(flora, "generations.retrieve", {"run_id": "run_A-9_z"})
    paths = [r.url.raw_path for r in rec.requests]
    assert paths == [
        b"/api/v1/techniques/product-shot/runs/run_A-9_z",
        b"/api/v1/runs/run_A-9_z",
    ]


KIND_EXAMPLES = {
    "workspace": (["ws_1", "ws_A-b_9"], ["ws-1", "1", "WS_1", "ws_"]),
    "asset": (["asset_9"], ["fb_9", "asset_a/b"]),
    "feedback": (["fb_9"], ["asset_9", "fb_."]),
    "model": (["t2i-flux-2-pro", "flux-1.1-pro", "Model_3"], [".", "..", ".hidden", "a/b"]),
    "node": (["n123", "node_A-1"], ["..", "a.b", "a/b", ""]),
    "output": (["out_1"], ["x y"]),
    "action": (["act-1"], ["a;b"]),
    "folder": (["fld_1", "libfolder_a-1"], ["fld-1", "lib_1", "fld_", "libfolder_"]),
    "technique": (["tech_1", "thumbnail-v3"], ["Thumbnail", "tech_", "x/", "a_b"]),
}


@pytest.mark.parametrize("kind", KIND_EXAMPLES, ids=KIND_EXAMPLES.keys())
def test_each_kind_has_its_prefix_and_charset(kind):
    good, bad = KIND_EXAMPLES[kind]
    assert all(ID_KINDS[kind].fits(value) for value in good), good
    assert not any(ID_KINDS[kind].fits(value) for value in bad), bad


def test_a_path_value_that_is_not_text_is_refused():
    for value in (1, None, ["prj_1"], {"id": "prj_1"}):
        with pytest.raises(ArgumentError, match="must be a project id"):
            check_path_value("projects.retrieve", "project_id", value)
