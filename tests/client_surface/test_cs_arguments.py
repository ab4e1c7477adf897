"""Argument checks in the SDK: caught before any request, with did-you-mean."""

from __future__ import annotations

import httpx
import pytest
from flora_mock import RUN, Recorder

from client_surface import ArgumentError

GEN = dict(type="image", prompt="a fox", workspace_id="ws_1", project_id="prj_1")


@pytest.fixture
def client_and_requests(make_sync):
    rec = Recorder(lambda r: httpx.Response(200, json=RUN))
    return make_sync(rec), rec.requests


def test_misspelled_argument_suggests_the_right_name(client_and_requests):
    client, requests = client_and_requests
    args = dict(GEN)
    args["promt"] = args.pop("prompt")
    with pytest.raises(ArgumentError) as info:
        client.generations.create(**args)
    assert "unexpected argument 'promt'" in info.value.message
    assert "Did you mean 'prompt'?" in info.value.message
    assert info.value.hint == "Did you mean 'prompt'?"
    assert requests == []


def test_camel_case_argument_suggests_the_snake_case_name(client_and_requests):
    client, _ = client_and_requests
    with pytest.raises(ArgumentError, match="Did you mean 'workspace_id'"):
        client.projects.list(workspaceId="ws_1")


def test_missing_required_arguments_are_all_named(client_and_requests):
    client, requests = client_and_requests
    with pytest.raises(ArgumentError) as info:
        client.generations.create(type="image")
    for name in ("prompt", "workspace_id", "project_id"):
        assert repr(name) in info.value.message
    assert "missing required arguments" in info.value.message
    assert requests == []


def test_wrong_enum_value_lists_the_valid_values(client_and_requests):
    client, _ = client_and_requests
    with pytest.raises(ArgumentError) as info:
        client.generations.create(**{**GEN, "type": "t2i"})
    msg = info.value.message
    assert "'type'" in msg and "'t2i'" in msg
    for value in ("image", "video", "audio", "text"):
        assert repr(value) in msg


def test_limit_out_of_range_is_rejected(client_and_requests):
    client, requests = client_and_requests
    with pytest.raises(ArgumentError, match="limit.*less than or equal to 100"):
        client.generations.list(limit=500)
    with pytest.raises(ArgumentError, match="limit"):
        client.generations.list(limit=0)
    assert requests == []


def test_nested_input_errors_name_the_position(client_and_requests):
    client, _ = client_and_requests
    with pytest.raises(ArgumentError, match=r"inputs\[0\]\.type"):
        client.techniques.runs.create(
            "t", inputs=[{"id": "a", "type": "img", "value": "v"}], mode="async"
        )


def test_too_many_positional_arguments_say_to_use_keywords(client_and_requests):
    client, _ = client_and_requests
    with pytest.raises(ArgumentError, match="positional"):
        client.generations.create("image", "a fox")


def test_positional_and_keyword_for_the_same_argument_is_rejected(client_and_requests):
    client, _ = client_and_requests
    with pytest.raises(ArgumentError, match="multiple values"):
        client.projects.retrieve("prj_1", project_id="prj_2")


def test_argument_error_is_a_type_error(client_and_requests):
    client, _ = client_and_requests
    with pytest.raises(TypeError):
        client.workspaces.list(bogus=1)


def test_misspelled_required_argument_is_not_also_reported_missing(client_and_requests):
    client, _ = client_and_requests
    args = dict(GEN)
    args["promt"] = args.pop("prompt")
    with pytest.raises(ArgumentError) as info:
        client.generations.create(**args)
    assert "missing" not in info.value.message
