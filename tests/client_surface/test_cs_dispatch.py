"""dispatch_call: the host side of a sandboxed script's client.* call."""

from __future__ import annotations

import json

import httpx
import pytest
from flora_mock import API_KEY, RUN, STAMP, Recorder, scripted, three_page_handler

from client_surface import NotFoundError
from client_surface.dispatch import ArgumentError, dispatch_call, model_params_of


def ok(body: dict, status: int = 200) -> Recorder:
    return Recorder(lambda r: httpx.Response(status, json=body))


async def test_unknown_method_suggests_the_nearest_one(make_async):
    rec = ok({})
    with pytest.raises(ArgumentError) as info:
        await dispatch_call(make_async(rec), "generations.creat", {})
    assert "client.generations.creat is not a method" in info.value.message
    assert info.value.hint == "Did you mean client.generations.create?"
    assert rec.requests == []


async def test_unknown_keyword_suggests_the_nearest_argument(make_async):
    rec = ok({})
    with pytest.raises(ArgumentError, match="Did you mean 'project_id'"):
        await dispatch_call(make_async(rec), "projects.retrieve", {"projectid": "prj_1"})
    assert rec.requests == []


async def test_wrong_enum_lists_valid_values_before_any_request(make_async):
    rec = ok({})
    with pytest.raises(ArgumentError, match="'image', 'video', 'audio' or 'text'"):
        await dispatch_call(make_async(rec), "models.list", {"type": "t2i"})
    assert rec.requests == []


async def test_camel_case_method_name_is_accepted(make_async):
    body = {"nodes": [{"node_id": "n1", "type": "image"}], "meta": {"next_cursor": None}}
    result = await dispatch_call(
        make_async(ok(body)), "projects.listNodes", {"project_id": "prj_1"}
    )
    assert result == body


async def test_paged_call_makes_one_request_and_returns_one_plain_page(make_async):
    rec = three_page_handler()
    result = await dispatch_call(make_async(rec), "generations.list", {"limit": 2})
    assert len(rec.requests) == 1
    assert [g["run_id"] for g in result["generations"]] == ["run_id_1", "run_id_2"]
    assert result["meta"] == {"next_cursor": "c1"}
    assert result["generations"][0]["created_at"] == STAMP
    nxt = await dispatch_call(make_async(rec), "generations.list", {"limit": 2, "cursor": "c1"})
    assert len(rec.requests) == 2
    assert nxt["meta"]["next_cursor"] == "c2"


async def test_result_is_plain_json_with_extra_fields_kept(make_async):
    output = {"output_id": "o1", "type": "imageUrl", "url": "u", "new": 1}
    body = {**RUN, "outputs": [output]}
    result = await dispatch_call(make_async(ok(body)), "generations.retrieve", {"run_id": "run_1"})
    assert result == body
    assert json.loads(json.dumps(result)) == result


async def test_flora_errors_propagate_as_api_errors(make_async):
    rec = scripted(httpx.Response(404, json={"error": {"code": "not_found", "message": "nope"}}))
    with pytest.raises(NotFoundError):
        await dispatch_call(make_async(rec), "projects.retrieve", {"project_id": "prj_x"})


async def test_non_dict_arguments_are_an_argument_error(make_async):
    with pytest.raises(ArgumentError, match="keyword arguments"):
        await dispatch_call(make_async(ok({})), "workspaces.list", ["x"])


async def test_messages_never_contain_the_api_key(make_async):
    with pytest.raises(ArgumentError) as info:
        await dispatch_call(make_async(ok({})), "workspaces.list", {"api_key": API_KEY[:5]})
    assert API_KEY not in info.value.message


MODE_WARNING = (
    'techniques.runs.create: mode was not given; sent mode="async" '
    '(FLORA requires "async" or "stream")'
)
RUN_INPUTS = [{"id": "image", "type": "imageUrl", "value": "https://example.com/a.png"}]
PENDING_RUN = {"run_id": "run_1", "status": "pending", "progress": 0, "created_at": 1.0}


async def test_a_host_side_call_without_mode_sends_async_and_says_so(make_async):
    rec = ok(PENDING_RUN)
    warnings: list[str] = []
    arguments = {"id_or_slug": "thumbnail-v3", "inputs": RUN_INPUTS}
    await dispatch_call(make_async(rec), "techniques.runs.create", arguments, warnings)
    assert json.loads(rec.requests[0].content)["mode"] == "async"
    assert warnings == [MODE_WARNING]
    assert "mode" not in arguments  # the caller's dict is left as it was
    await dispatch_call(make_async(rec), "techniques.runs.create", arguments, warnings)
    assert warnings == [MODE_WARNING]  # once per list


async def test_a_host_side_call_with_mode_sends_it_without_a_warning(make_async):
    rec = ok(PENDING_RUN)
    warnings: list[str] = []
    arguments = {"id_or_slug": "thumbnail-v3", "inputs": RUN_INPUTS, "mode": "async"}
    await dispatch_call(make_async(rec), "techniques.runs.create", arguments, warnings)
    assert json.loads(rec.requests[0].content)["mode"] == "async"
    assert warnings == []


def test_model_params_of_reads_each_models_param_names():
    known = model_params_of(
        {"models": [{"model_id": "t2i-x", "params": [{"name": "aspect_ratio"}, {"name": "seed"}]},
                    {"model_id": "bare"}, {"params": []}, "junk"]}
    )  # fmt: skip
    assert known == {"t2i-x": ("aspect_ratio", "seed"), "bare": ()}
