"""The `client` inside a script: call styles, records, pages, errors, did-you-mean."""

from __future__ import annotations

import textwrap


def test_keyword_call(run):
    body = run("def run(client):\n    return [m.type for m in client.models.list(type='image')]")
    assert body["status"] == "ok", body["error"]
    assert body["result"] and set(body["result"]) == {"image"}


def test_one_positional_dict_as_in_the_javascript_docs(run):
    body = run(
        "def run(client):\n    return [m.type for m in client.models.list({'type': 'audio'})]"
    )
    assert body["status"] == "ok", body["error"]
    assert set(body["result"]) == {"audio"}


def test_camel_case_alias_and_camel_case_keys(run):
    code = textwrap.dedent("""
        def run(client):
            ws = client.workspaces.list().workspaces[0].workspace_id
            p = client.projects.create({"name": "n", "workspaceId": ws})
            page = client.projects.listNodes(p.project_id)
            return page.has_next_page()
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"] is False
    assert [c["method"] for c in body["calls"]] == [
        "workspaces.list",
        "projects.create",
        "projects.list_nodes",
    ]


def test_positional_id_and_nested_record_access(run):
    code = textwrap.dedent("""
        def run(client):
            ws = client.workspaces.list()["workspaces"][0]["workspace_id"]
            p = client.projects.create(name="p", workspace_id=ws)
            gen = client.generations.create(type="text", prompt="hello there",
                                            workspace_id=ws, project_id=p.project_id)
            run = client.generations.retrieve(gen.run_id)
            return {"status": run.status, "text": run.outputs[0].url,
                    "same": run["outputs"][0]["type"] == run.outputs[0].type,
                    "model": gen.model.model_id}
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"]["status"] == "completed"
    assert body["result"]["same"] is True
    assert isinstance(body["result"]["text"], str)


def test_records_are_read_only_and_returned_as_json(run):
    code = textwrap.dedent("""
        def run(client):
            ws = client.workspaces.list().workspaces[0]
            try:
                ws.name = "changed"
            except TypeError as e:
                note = str(e)
            copy = ws.to_dict()
            copy["name"] = "changed"
            return {"record": ws, "note": note, "copy": copy["name"]}
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"]["record"]["workspace_id"].startswith("ws_")
    assert "read-only" in body["result"]["note"]
    assert body["result"]["copy"] == "changed"


def test_pages_iterate_across_pages(run):
    code = textwrap.dedent("""
        async def run(client):
            ws = (await client.workspaces.list()).workspaces[0].workspace_id
            for i in range(5):
                await client.projects.create(name=f"p{i}", workspace_id=ws)
            first = await client.projects.list(workspace_id=ws, limit=2)
            names = [p.name async for p in client.projects.list(workspace_id=ws, limit=2)]
            second = first.get_next_page()
            return {"first": len(first.projects), "more": first.has_next_page(),
                    "all": len(names), "second": len(second.items)}
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"]["first"] == 2
    assert body["result"]["more"] is True
    assert body["result"]["all"] >= 5
    assert body["result"]["second"] == 2


def test_flora_errors_are_catchable_by_name_with_plain_fields(run):
    code = textwrap.dedent("""
        def run(client):
            try:
                client.generations.retrieve("run_doesnotexist")
            except NotFoundError as e:
                return {"status": e.status, "code": e.code, "base": isinstance(e, FloraError),
                        "message": e.message}
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"]["status"] == 404
    assert body["result"]["code"] == "not_found"
    assert body["result"]["base"] is True
    assert body["calls"][0]["status"] == "error"
    assert body["calls"][0]["http_status"] == 404


def test_uncaught_flora_error_reports_status_and_hint(run):
    body = run("def run(client):\n    client.projects.retrieve('prj_nope')")
    assert body["status"] == "error"
    assert body["error"]["type"] == "NotFoundError"
    assert body["error"]["status"] == 404
    assert "list" in body["error"]["hint"]
    assert body["error"]["line"] == 2


def test_bad_enum_value_from_a_variable_lists_valid_values(run):
    code = "def run(client):\n    kind = 't2i'\n    client.models.list(type=kind)"
    body = run(code)
    assert body["status"] == "error"
    assert "image" in body["error"]["message"] and "video" in body["error"]["message"]


def test_unknown_method_at_run_time_has_did_you_mean(run):
    code = "def run(client):\n    gens = getattr(client, 'generation')\n    return gens"
    body = run(code)
    assert body["status"] == "error"
    assert "Did you mean client.generations" in body["error"]["message"]


def test_proxy_exposes_no_data_attributes(run):
    code = textwrap.dedent("""
        names = ["api_key", "transport", "http", "channel", "host", "key", "base_url",
                 "models.host", "flora"]
        found = []
        for name in names:
            obj = client
            try:
                for part in name.split("."):
                    obj = getattr(obj, part)
                found.append(name)
            except AttributeError:
                pass
        found
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"] == []


def test_calls_are_recorded_with_long_strings_cut(run):
    code = textwrap.dedent("""
        def run(client):
            ws = client.workspaces.list().workspaces[0].workspace_id
            p = client.projects.create(name="x" * 5000, workspace_id=ws)
            return p.project_id
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    call = body["calls"][1]
    assert call["method"] == "projects.create"
    assert len(call["arguments"]["name"]) < 300
    assert "5000 chars" in call["arguments"]["name"]
    assert call["status"] == "ok" and call["ms"] >= 0


def test_the_backend_key_never_appears_in_a_response(api, run):
    key = api.app.state.executions.connections.dev_credentials[1]
    body = run("def run(client):\n    client.projects.retrieve('prj_x')")
    assert key not in str(body)
    body = run("def run(client):\n    return client.workspaces.list()")
    assert key not in str(body)


def test_surface_docs_are_small_enough_for_an_agent(api):
    """The markdown goes into an agent's context whole: one signature line and at most one object
    line per method, 160 characters per method (tests/client_surface/test_cs_docs.py says why);
    field-level detail is in the JSON beside it."""
    body = api.get("/v1/surface").json()
    assert "generations.create(*, type, prompt" in body["markdown"]
    names = {m["name"] for m in body["methods"]["methods"]}
    assert len(body["markdown"]) <= 160 * len(names)
    assert {"techniques.runs.create", "generations.create", "workspaces.list"} <= names
