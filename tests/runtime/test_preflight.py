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


def test_typed_attributes_through_names_loops_and_comprehensions(run):
    code = textwrap.dedent("""
        def run(client):
            r = client.generations.retrieve("run_1")
            print(r.error_mesage)
            page = client.projects.list(workspace_id="ws_1")
            for p in page:
                print(p.nmae)
            names = [x.titel for x in page.projects]
            print(page.totl)
            for g in client.generations.list(project_id="prj_1"):
                print(g.model.modelid)
            print(r.error_message, g.model.model_id, page.meta, [p.name for p in page.items])
    """)
    found = problems(run(code))
    assert [(p["line"], p["message"]) for p in found] == [
        (4, "Run has no field 'error_mesage'"),
        (7, "Project has no field 'nmae'"),
        (8, "Project has no field 'titel'"),
        (9, "a page of Project has no attribute 'totl'"),
        (11, "GenerationModelRef has no field 'modelid'"),
    ]
    assert "did you mean '.error_message'?" in found[0]["hint"]
    assert 'search_docs("Run")' in found[0]["hint"]


def test_a_name_bound_to_two_things_is_not_checked(run):
    code = textwrap.dedent("""
        def run(client):
            x = client.generations.retrieve("run_1")
            x = {"anything": 1}
            return x.get("anything")
    """)
    body = run(code)
    assert body["status"] != "rejected", body


def test_positional_id_where_keyword_only_names_the_keyword(run):
    found = problems(run("def run(client):\n    client.projects.list('ws_1')"))
    assert "takes 0 positional argument(s)" in found[0]["message"]
    assert "workspace_id=" in found[0]["hint"]


def test_literal_types_and_ranges(run):
    code = "def run(client):\n    client.projects.list(workspace_id='ws_1', limit=500)"
    [p] = problems(run(code))
    assert p["message"] == "client.projects.list(): limit=500 is out of range"
    assert "1 to 100" in p["hint"] and "for x in page" in p["hint"]
    code = "def run(client):\n    client.generations.list(project_id='prj_1', limit='5')"
    [p] = problems(run(code))
    assert p["message"] == "client.generations.list(): limit must be an integer, not '5'"


def test_allowed_module_without_its_import_names_the_fix(run):
    [p] = problems(run("import math\nprint(json.dumps({}), math.pi)"))
    assert p["message"] == "'json' is used but not imported"
    assert p["hint"] == "add `import json` at the top"


def test_refusals_point_to_search_docs(run):
    [p] = problems(run("def run(client):\n    client.generation.create(type='image')"))
    assert 'search_docs("generation") lists the methods' in p["hint"]
    [p] = problems(run("def run(client):\n    client.models.list(kind='image')"))
    assert 'search_docs("models.list") describes them' in p["hint"]
