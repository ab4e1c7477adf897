"""The table: required entries, names, argument placement and the sandbox spec."""

from __future__ import annotations

import json

import httpx
import pytest
from flora_mock import PROJECT, RUN, Recorder

from client_surface import SURFACE, find
from client_surface.table import ID_ARGUMENTS, METHODS, sandbox_spec

# name: (verb, path, items key, pages)
REQUIRED = {
    "workspaces.list": ("GET", "/workspaces", "workspaces", False),
    "projects.list": ("GET", "/projects", "projects", True),
    "projects.create": ("POST", "/projects", None, False),
    "projects.retrieve": ("GET", "/projects/{project_id}", None, False),
    "projects.list_nodes": ("GET", "/projects/{project_id}/nodes", "nodes", True),
    "models.list": ("GET", "/models", "models", False),
    "generations.create": ("POST", "/generate", None, False),
    "generations.retrieve": ("GET", "/runs/{run_id}", None, False),
    "generations.list": ("GET", "/generations", "generations", True),
    "techniques.list": ("GET", "/techniques", "techniques", True),
    "techniques.retrieve": ("GET", "/techniques/{id_or_slug}", None, False),
    "techniques.runs.create": ("POST", "/techniques/{id_or_slug}/runs", None, False),
    "techniques.runs.retrieve": (
        "GET", "/techniques/{technique_id}/runs/{run_id}", None, False
    ),
    "techniques.runs.list": ("GET", "/technique-runs", "technique_runs", True),
    "runs.start_technique": ("POST", "/runs/technique", None, False),
    "runs.start_generation": ("POST", "/runs/generation", None, False),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_method_has_documented_verb_path_items_key_and_paging(name):
    method = find(name)
    assert method is not None
    assert (method.verb, method.path, method.items_key, method.paged) == REQUIRED[name]


@pytest.mark.parametrize("method", SURFACE, ids=lambda m: m.full_name)
def test_the_items_key_names_a_list_in_the_response(method):
    if method.items_key is not None:
        field = method.response.model_fields[method.items_key]
        assert getattr(field.annotation, "__origin__", None) is list


@pytest.mark.parametrize("method", SURFACE, ids=lambda m: m.full_name)
def test_a_method_pages_exactly_when_it_takes_a_cursor_and_answers_meta(method):
    takes_cursor = {"cursor", "limit"} <= set(method.args.model_fields)
    answers_meta = "meta" in method.response.model_fields
    assert method.paged == takes_cursor == answers_meta
    assert not method.paged or method.items_key is not None


@pytest.mark.parametrize("method", SURFACE, ids=lambda m: m.full_name)
def test_every_workspace_id_argument_is_declared_workspace_scoped(method):
    """The tenant check reads `workspace_args`: an argument holding a workspace id that the
    table forgot to declare would let a script name another tenant's workspace."""
    workspace_ids = {
        name for name in method.args.model_fields if ID_ARGUMENTS.get(name) == "workspace"
    }
    assert set(method.workspace_args) == workspace_ids
    assert set(method.workspace_args) <= set(method.args.model_fields)


def test_surface_has_no_duplicate_names():
    names = [m.full_name for m in SURFACE]
    assert len(names) == len(set(names))


def test_find_accepts_camel_case_and_client_prefix():
    assert find("projects.listNodes") is find("projects.list_nodes")
    assert find("client.runs.startTechnique").full_name == "runs.start_technique"
    assert find("projects.nope") is None


def test_camel_name_camel_cases_each_segment():
    assert find("projects.list_nodes").camel_name == "projects.listNodes"
    assert find("runs.start_generation").camel_name == "runs.startGeneration"


def test_generate_is_201_with_header_idempotency_and_technique_runs_use_body():
    gen = find("generations.create")
    assert (gen.success_status, gen.idempotency) == (201, "header")
    assert find("techniques.runs.create").idempotency == "body"
    assert find("runs.start_generation").deprecated


def test_every_argument_has_a_description():
    for method in SURFACE:
        for name, field in method.args.model_fields.items():
            assert field.description, f"{method.full_name}.{name} has no description"


def test_type_arguments_are_enums_and_limit_is_bounded():
    spec = sandbox_spec()["methods"]
    gen_type = next(p for p in spec["generations.create"]["params"] if p["name"] == "type")
    assert gen_type["enum"] == ["image", "video", "audio", "text"]
    assert gen_type["required"] is True
    models_type = next(p for p in spec["models.list"]["params"] if p["name"] == "type")
    assert models_type["enum"] == ["image", "video", "audio", "text"]
    assert models_type["required"] is False
    schema = find("generations.list").args.model_json_schema()["properties"]["limit"]
    bounds = next(v for v in schema["anyOf"] if v.get("type") == "integer")
    assert (bounds["minimum"], bounds["maximum"]) == (1, 100)


def test_sandbox_spec_is_plain_json_with_params_positional_and_errors():
    spec = sandbox_spec()
    assert json.loads(json.dumps(spec)) == spec
    run_create = spec["methods"]["techniques.runs.create"]
    assert run_create["positional"] == ["id_or_slug"]
    assert run_create["camel"] == "techniques.runs.create"
    assert run_create["items_key"] is None
    inputs = next(p for p in run_create["params"] if p["name"] == "inputs")
    assert inputs["type"] == "array" and inputs["required"]
    assert spec["methods"]["generations.list"]["items_key"] == "generations"
    assert {"FloraError", "APIError", "BadRequestError", "RateLimitError"} <= set(spec["errors"])
    assert set(spec["methods"]) == {m.full_name for m in METHODS}


def test_sandbox_spec_sends_every_field_the_sandbox_reads():
    methods = sandbox_spec()["methods"]
    for method in SURFACE:
        sent = methods[method.full_name]
        assert set(sent) == {
            "name", "camel", "params", "positional", "items_key", "paged", "example", "response",
            "model_params",
        }  # fmt: skip
        assert sent["model_params"] == (list(method.model_params) if method.model_params else None)
        assert sent["response"] == method.response.__name__
        assert sent["response"] in sandbox_spec()["types"]
        assert sent["name"] == method.full_name
        assert sent["example"] == method.example
        assert sent["example"] is None or isinstance(sent["example"], str)
        for param in sent["params"]:
            assert set(param) == {
                "name", "required", "enum", "type", "description", "range", "filled"
            }  # fmt: skip
    assert methods["models.list"]["items_key"] == "models"
    assert methods["models.list"]["paged"] is False
    assert methods["generations.list"]["paged"] is True
    assert methods["projects.retrieve"]["example"] == 'client.projects.retrieve("prj_123")'


def test_technique_run_mode_is_filled_for_scripts_with_a_warning_in_plain_words():
    method = find("techniques.runs.create")
    assert method is not None
    (fill,) = method.filled
    assert (fill.name, fill.value) == ("mode", "async")
    assert fill.warning(method.full_name) == (
        'techniques.runs.create: mode was not given; sent mode="async" '
        '(FLORA requires "async" or "stream")'
    )
    sent = sandbox_spec()["methods"]["techniques.runs.create"]["params"]
    mode = next(p for p in sent if p["name"] == "mode")
    assert mode["filled"] == {"value": "async", "warning": fill.warning(method.full_name)}


@pytest.mark.parametrize("method", SURFACE, ids=lambda m: m.full_name)
def test_filled_and_model_params_name_arguments_of_the_method(method):
    fields = method.args.model_fields
    for fill in method.filled:
        assert fill.name in fields
    if method.model_params is not None:
        assert set(method.model_params) <= set(fields)


def test_generation_params_are_declared_an_open_map_of_the_model_params():
    for name in ("generations.create", "runs.start_generation"):
        method = find(name)
        assert method is not None and method.model_params == ("model", "params")


def test_path_fields_go_into_the_path_and_others_into_query_for_get(make_sync):
    rec = Recorder(lambda r: httpx.Response(200, json=RUN))
    make_sync(rec).techniques.runs.retrieve("run_1", technique_id="tech_9")
    (req,) = rec.requests
    assert req.url.raw_path == b"/api/v1/techniques/tech_9/runs/run_1"
    assert req.url.query == b""


def test_get_arguments_go_into_the_query_string(make_sync):
    rec = Recorder(lambda r: httpx.Response(200, json={"models": []}))
    make_sync(rec).models.list(type="video")
    assert dict(rec.requests[0].url.params) == {"type": "video"}
    assert rec.requests[0].content == b""


def test_post_arguments_go_into_the_json_body_without_path_fields(make_sync):
    rec = Recorder(lambda r: httpx.Response(200, json=RUN))
    make_sync(rec).techniques.runs.create(
        "thumbnail-v3",
        inputs=[{"id": "img", "type": "imageUrl", "value": "https://x/a.png"}],
        mode="async",
    )
    (req,) = rec.requests
    body = json.loads(req.content)
    assert req.url.path == "/api/v1/techniques/thumbnail-v3/runs"
    assert "id_or_slug" not in body
    assert body["inputs"] == [{"id": "img", "type": "imageUrl", "value": "https://x/a.png"}]
    assert body["mode"] == "async"


def test_responses_keep_fields_flora_adds(make_sync):
    rec = Recorder(lambda r: httpx.Response(200, json={**PROJECT, "brand_new_field": [1, 2]}))
    project = make_sync(rec).projects.retrieve("prj_1")
    assert project.project_id == "prj_1"
    assert project.model_dump()["brand_new_field"] == [1, 2]


def test_bearer_key_and_base_url_come_from_environment(monkeypatch):
    from client_surface import Flora

    monkeypatch.setenv("FLORA_API_KEY", "sk_env")
    monkeypatch.setenv("FLORA_BASE_URL", "https://env.test/v9/")
    rec = Recorder(lambda r: httpx.Response(200, json={"workspaces": []}))
    Flora(transport=httpx.MockTransport(rec)).workspaces.list()
    (req,) = rec.requests
    assert req.headers["authorization"] == "Bearer sk_env"
    assert str(req.url) == "https://env.test/v9/workspaces"


def test_default_base_url_is_flora_production(monkeypatch):
    from client_surface import Flora

    monkeypatch.delenv("FLORA_BASE_URL", raising=False)
    assert Flora("k").base_url == "https://app.flora.ai/api/v1"


def test_missing_api_key_is_a_clear_error(monkeypatch):
    from client_surface import Flora, FloraError

    monkeypatch.delenv("FLORA_API_KEY", raising=False)
    with pytest.raises(FloraError, match="FLORA_API_KEY"):
        Flora()


def test_camel_case_alias_is_callable_on_the_client(make_sync):
    rec = Recorder(lambda r: httpx.Response(200, json={"nodes": [], "meta": {}}))
    page = make_sync(rec).projects.listNodes("prj_1", limit=5)
    assert page.items == []
    assert rec.requests[0].url.path == "/api/v1/projects/prj_1/nodes"


def test_unknown_client_attribute_suggests_the_nearest_method(make_sync):
    client = make_sync(Recorder(lambda r: httpx.Response(500)))
    with pytest.raises(AttributeError, match=r"Did you mean client\.generations\.create\?"):
        client.generations.creat  # noqa: B018
    with pytest.raises(AttributeError, match=r"Did you mean client\.techniques\?"):
        client.technique  # noqa: B018
