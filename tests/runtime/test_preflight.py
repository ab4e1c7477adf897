"""Pre-flight: mistakes in client.* calls are rejected before anything runs."""

from __future__ import annotations

import textwrap


def problems(body):
    assert body["status"] == "rejected", body
    assert body["calls"] == []  # nothing ran, nothing was charged
    return body["error"]["problems"]


def test_unknown_resource_suggests_the_right_one(run):
    [p] = problems(run("def run(client):\n    client.generation.create(type='image')"))
    assert p["line"] == 2
    assert "client.generation.create does not exist" in p["message"]
    assert "client.generations.create" in p["hint"]


def test_unknown_method_on_the_run_parameter_whatever_its_name(run):
    [p] = problems(run("def run(c):\n    c.generations.creat(type='image')"))
    assert "client.generations.create" in p["hint"]


def test_aliases_of_client_and_resources_are_followed(run):
    code = textwrap.dedent("""
        def run(client):
            c = client
            gens = c.generations
            gens.retreive("run_1")
    """)
    [p] = problems(run(code))
    assert p["line"] == 5
    assert "retrieve" in p["hint"]


def test_unknown_keyword_with_did_you_mean(run):
    code = "def run(client):\n    client.models.list(typ='image')"
    [p] = problems(run(code))
    assert "has no argument 'typ'" in p["message"]
    assert "did you mean 'type'" in p["hint"]


def test_missing_required_argument(run):
    code = "def run(client):\n    client.generations.create(type='image', prompt='x')"
    [p] = problems(run(code))
    assert "workspace_id" in p["message"] and "project_id" in p["message"]


def test_literal_enum_value_is_checked(run):
    [p] = problems(run("def run(client):\n    client.models.list(type='t2i')"))
    assert "'t2i' is not valid" in p["message"]
    assert "image" in p["hint"]


def test_keys_of_a_positional_dict_literal_are_checked(run):
    [p] = problems(run("def run(client):\n    client.models.list({'kind': 'image'})"))
    assert "'kind'" in p["message"]


def test_every_problem_is_listed_and_nothing_runs(run):
    code = textwrap.dedent("""
        def run(client):
            client.workspaces.list()
            client.projects.lst()
            client.models.list(typo=1)
    """)
    found = problems(run(code))
    assert [p["line"] for p in found] == [4, 5]


def test_correct_calls_pass_preflight(run):
    code = "def run(client):\n    return len(client.models.list(type='video').models) > 0"
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"] is True
