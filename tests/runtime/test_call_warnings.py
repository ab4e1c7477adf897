"""Warnings about a script's calls: an argument filled in for it, params keys its model does not
list. Both reach the response and the record through the one conversion (outcome.py)."""

from __future__ import annotations

import textwrap

import httpx

from client_surface import AsyncFlora
from runtime import flora as host
from runtime.executions.outcome import answer
from sandbox.result import ExecutionResult

MODE_WARNING = (
    'techniques.runs.create: mode was not given; sent mode="async" '
    '(FLORA requires "async" or "stream")'
)


def _record(api, body):  # type: ignore[no-untyped-def]
    response = api.get(f"/v1/executions/{body['execution_id']}")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_technique_run_without_mode_is_sent_async_and_the_warning_says_so(api, run):
    code = textwrap.dedent("""
        def run(client):
            ws = client.workspaces.list().workspaces[0].workspace_id
            technique = client.techniques.list(workspace_id=ws).techniques[0]
            inputs = [{"id": i.id, "type": "text" if i.type == "text" else "imageUrl",
                       "value": "https://example.com/a.png" if i.type != "text" else "hi"}
                      for i in technique.inputs]
            try:
                client.techniques.runs.create(technique.technique_id, inputs=inputs)
                client.techniques.runs.create(technique.technique_id, inputs=inputs)
            except Exception as exc:
                return str(exc)
            return "ok"
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert [w for w in body["warnings"] if "mode" in w] == [MODE_WARNING]
    created = [c for c in body["calls"] if c["method"] == "techniques.runs.create"]
    assert created and all(c["arguments"]["mode"] == "async" for c in created)
    assert _record(api, body)["warnings"] == body["warnings"]


def test_a_mode_given_by_the_script_brings_no_warning(run):
    code = textwrap.dedent("""
        def run(client):
            try:
                client.techniques.runs.create("thumbnail-v3", inputs=[], mode="async")
            except Exception:
                pass
    """)
    body = run(code)
    assert not [w for w in body["warnings"] if "mode" in w], body["warnings"]


GENERATE = textwrap.dedent("""
    def run(client):
        ws = client.workspaces.list().workspaces[0].workspace_id
        prj = client.projects.create(name="p", workspace_id=ws).project_id
        try:
            client.generations.create(type="image", prompt="a fox", workspace_id=ws,
                                      project_id=prj, model="t2i-flux-2-pro", params=PARAMS)
        except Exception as exc:
            return str(exc)
        return "ok"
""")


def test_params_keys_the_model_does_not_list_are_named_in_the_warnings(api, run):
    params = {"aspect_ratio": "square_1_1", "aspectratio": "x", "foo": "bar"}
    body = run(GENERATE.replace("PARAMS", repr(params)))
    assert body["status"] == "ok", body["error"]
    [warning] = [w for w in body["warnings"] if "params" in w]
    assert warning == (
        "generations.create: params keys 'aspectratio' (did you mean 'aspect_ratio'?), 'foo' "
        "are not params of model 't2i-flux-2-pro'; FLORA accepts them and the model may "
        'ignore them. Its params: aspect_ratio, seed; see search_docs("models.list")'
    )
    # models.list was asked by the host, not the script: it is not one of the script's calls
    assert [c["method"] for c in body["calls"]] == [
        "workspaces.list", "projects.create", "generations.create",
    ]  # fmt: skip
    assert _record(api, body)["warnings"] == body["warnings"]


def test_params_the_model_lists_bring_no_warning(run):
    body = run(GENERATE.replace("PARAMS", repr({"aspect_ratio": "square_1_1", "seed": 3})))
    assert body["status"] == "ok", body["error"]
    assert body["result"] == "ok"
    assert body["warnings"] == []


async def test_models_list_is_asked_once_per_connection_within_a_minute(monkeypatch):
    asked: list[str] = []
    seed = {"name": "seed", "type": "seed", "required": False}
    models = {"models": [{"model_id": "m1", "name": "M", "type": "image", "provider": "p",
                          "capabilities": [], "estimated_credits": 1, "estimated_seconds": 1,
                          "params": [seed]}]}  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(200, json=models)

    flora = AsyncFlora("sk_test", base_url="https://flora.test/api/v1",
                       transport=httpx.MockTransport(answer))  # fmt: skip
    clock = [1000.0]
    monkeypatch.setattr(host.time, "monotonic", lambda: clock[0])
    assert await host.model_params(flora) == {"m1": ("seed",)}
    clock[0] += host.MODEL_PARAMS_TTL_S - 1
    assert await host.model_params(flora) == {"m1": ("seed",)}
    assert asked == ["/api/v1/models"]
    clock[0] += 2
    await host.model_params(flora)
    assert len(asked) == 2
    await flora.aclose()


def test_the_hosts_call_warnings_follow_the_childs_once_each_in_the_one_conversion():
    result = ExecutionResult(status="ok", warnings=["result: set converted to a list", "same"])
    body = answer(result, "exe_1", [], ["same", "params \ud800", 3]).body  # type: ignore[list-item]
    assert body["warnings"] == ["result: set converted to a list", "same", "params \ufffd"]
    assert answer(result, "exe_1", []).body["warnings"] == result.warnings
