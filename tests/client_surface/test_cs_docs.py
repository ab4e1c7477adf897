"""Agent docs generated from the table."""

from __future__ import annotations

import json

from client_surface import SURFACE
from client_surface.docs import method_doc, search_docs, surface_json, surface_markdown


def test_markdown_is_under_six_thousand_characters():
    assert len(surface_markdown()) < 6000


def test_markdown_mentions_every_method_its_example_and_required_marks():
    md = surface_markdown()
    for m in SURFACE:
        assert f"### {m.full_name}" in md
        assert m.example in md
    assert "prompt*: str" in md
    assert "type*: image|video|audio|text" in md
    assert "projects.listNodes" in md


def test_surface_json_lists_params_returns_and_items_key():
    data = surface_json()
    assert json.loads(json.dumps(data)) == data
    by_name = {m["name"]: m for m in data["methods"]}
    assert len(by_name) == len(SURFACE)
    gen = by_name["generations.list"]
    assert gen["items_key"] == "generations"
    assert gen["verb"] == "GET" and gen["path"] == "/generations"
    assert "generation_id" in gen["returns"]["item_fields"]
    status = next(p for p in gen["params"] if p["name"] == "status")
    assert status["enum"] == ["pending", "running", "completed", "failed"]
    assert status["description"]
    assert by_name["projects.list_nodes"]["camel"] == "projects.listNodes"


def test_search_ranks_the_named_method_first():
    assert search_docs("list nodes of a project")[0]["method"] == "projects.list_nodes"
    assert search_docs("generate an image")[0]["method"] == "generations.create"
    assert search_docs("startTechnique")[0]["method"] == "runs.start_technique"


def test_search_finds_methods_by_argument_and_object_field_names():
    assert search_docs("aspect ratio params")[0]["method"] in {"generations.create", "models.list"}
    hits = [h["method"] for h in search_docs("charged_cost", limit=20)]
    assert "generations.retrieve" in hits
    assert "projects.create" not in hits


def test_search_respects_limit_and_returns_docs():
    results = search_docs("run", limit=3)
    assert len(results) == 3
    assert all(r["doc"].startswith("### client.") for r in results)
    assert search_docs("zzzz qqqq") == []


def test_method_doc_includes_descriptions_and_response_fields():
    doc = method_doc("techniques.retrieve")
    assert "id_or_slug" in doc and "slug" in doc
    assert "run_cost" in doc and "inputs" in doc
    assert 'techniques.retrieve("thumbnail-v3")' in doc


MODE_RULE = (
    '`mode` may be omitted: `mode="async"` is sent (FLORA requires "async" or "stream") and '
    "the execution's warnings say so."
)
PARAMS_RULE = (
    "`params` is an open map: every key is sent; keys the chosen `model` does not list in its "
    "params (models.list) are named in the execution's warnings."
)


def test_the_filled_mode_and_the_open_params_are_each_said_in_one_line_everywhere():
    by_name = {m["name"]: m for m in surface_json()["methods"]}
    assert by_name["techniques.runs.create"]["rules"] == [MODE_RULE]
    assert by_name["generations.create"]["rules"] == [PARAMS_RULE]
    assert by_name["runs.start_generation"]["rules"] == [PARAMS_RULE]
    assert by_name["models.list"]["rules"] == []
    md = surface_markdown().splitlines()
    assert f"- {MODE_RULE}" in md and f"- {PARAMS_RULE}" in md
    assert MODE_RULE in method_doc("techniques.runs.create").splitlines()
    assert "filled when omitted" in method_doc("techniques.runs.create")
    assert PARAMS_RULE in method_doc("generations.create").splitlines()
    [hit] = [
        h for h in search_docs("technique run mode") if h["method"] == "techniques.runs.create"
    ]
    assert MODE_RULE in hit["doc"]
