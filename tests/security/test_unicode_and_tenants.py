"""Identifiers in unusual Unicode (NFKC folds them to `__class__`), non-JSON results, and
another workspace's objects reached through client calls."""

from __future__ import annotations

import pytest
from security_helpers import assert_no_effect

from client_surface import AsyncFlora

UNICODE = {
    "fullwidth_underscores": "x = 1\nx.\uff3f\uff3fclass\uff3f\uff3f",
    "fullwidth_name": "\uff3f\uff3fimport\uff3f\uff3f('os')",
    # NFKC folds these to __subclasses__ and __class__.__bases__, refused names (the
    # script-visible type, x.__class__ alone, is a relaxation: SECURITY.md).
    "mathematical_letters": "x = 1\nx.__\U0001d460ubclasses__()",
    "mathematical_letters_chain": "x = 1\nx.__\U0001d450lass__.__\U0001d44fases__",
    "fullwidth_getattr_string": "getattr(1, '\uff3f\uff3fclass\uff3f\uff3f')",
    "fullwidth_binding": "\uff3fgetattr\uff3f = 1",
    "fullwidth_in_format": "'{0.\uff3f\uff3fclass\uff3f\uff3f}'.format(1)",
    "ligature_attr": "x = 1\nx.__\ufb01__",
}


@pytest.mark.parametrize("name", sorted(UNICODE))
def test_unicode_identifiers_fold_to_refused_names(server, name):
    body = server.execute(UNICODE[name])
    assert body["status"] in ("rejected", "error"), body
    assert "<class" not in str(body["result"])
    assert_no_effect(body)


NON_JSON = {
    "object_with_str": "class A:\n    def __eq__(self, o):\n        return True\nA()",
    "generator": "(i for i in range(3))",
    "function": "def f():\n    pass\nf",
    "facade": "import json\njson",
    "client": "client",
    "set_and_bytes": "[{3, 1, 2}, b'ab', (1, 2)]",
    "huge_int": "10 ** 5000",
    "nan": "float('nan')",
}


@pytest.mark.parametrize("name", sorted(NON_JSON))
def test_non_json_results_arrive_as_plain_json(server, name):
    body = server.execute(NON_JSON[name])
    assert body["status"] in ("ok", "limit_exceeded"), body
    assert_no_effect(body)
    assert isinstance(body["result"], (str, list, dict, type(None), int, float)), body


@pytest.fixture(scope="module")
def other_tenant(server):
    backend = server.executions.connections.backend

    async def setup():
        workspace = await backend.create_workspace("Other tenant")
        key = await backend.create_key(workspace)
        flora = AsyncFlora(api_key=key, base_url="http://backend/api/v1",
                           transport=backend.transport())  # fmt: skip
        try:
            project = await flora.projects.create(
                name="other-tenant-secret-project", workspace_id=workspace
            )
        finally:
            await flora.aclose()
        project_id = project.project_id
        return workspace, key, project_id

    return server.client.portal.call(setup)


def test_other_workspaces_project_is_not_found(server, other_tenant):
    workspace, key, project_id = other_tenant
    body = server.execute(
        f"try:\n    client.projects.retrieve({project_id!r})\n    r = 'ESCAPED'\n"
        "except NotFoundError as e:\n    r = ['not found', e.status]\n"
        "except PermissionDeniedError as e:\n    r = ['denied', e.status]\nr"
    )
    assert body["status"] == "ok" and body["result"][1] in (403, 404), body
    assert "other-tenant-secret-project" not in str(body) and key not in str(body)


def test_other_workspace_cannot_be_listed_or_written(server, other_tenant):
    workspace, key, project_id = other_tenant
    for call in (
        f"client.projects.list(workspace_id={workspace!r})",
        f"client.projects.create(name='x', workspace_id={workspace!r})",
        f"client.projects.list_nodes({project_id!r})",
        f"client.generations.list(workspace_id={workspace!r})",
    ):
        body = server.execute(call)
        assert body["status"] == "error", (call, body)
        assert body["error"].get("status") in (403, 404), (call, body)
        assert "other-tenant-secret-project" not in str(body) and key not in str(body)


def test_own_projects_list_does_not_include_the_other_tenant(server, other_tenant):
    own = server.executions.connections.dev_credentials[0]
    body = server.execute(f"[p.name for p in client.projects.list(workspace_id={own!r})]")
    assert body["status"] == "ok", body
    assert "other-tenant-secret-project" not in body["result"]
