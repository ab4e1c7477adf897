"""Agent docs generated from the table."""

from __future__ import annotations

import json

import pytest

from client_surface.docs import (
    method_doc,
    search_docs,
    signature,
    surface_json,
    surface_markdown,
)
from client_surface.table import METHODS, find

# The markdown goes into an agent's context whole (GET /v1/surface, search_docs("*"), and the
# MCP description around it), so it grows with the surface by a bounded step: one signature line
# and at most one object line per method; field-level detail stays in search_docs and the JSON.
# 160 characters per method covers both lines with the rules, the call styles and the errors.
CHARS_PER_METHOD = 160


def test_markdown_stays_within_its_budget_per_method():
    assert len(surface_markdown()) <= CHARS_PER_METHOD * len(METHODS), len(surface_markdown())


def signature_lines(text: str) -> dict[str, str]:
    return {line.split("(", 1)[0]: line for line in text.splitlines() if "(" in line}


def test_markdown_gives_every_method_its_line_with_every_argument_as_accepted():
    """An agent reading only this can call every method: its name, the arguments it must pass
    (positional before `*`, optional ones marked `?`) and what it returns."""
    lines = signature_lines(surface_markdown())
    for m in METHODS:
        line = lines[m.full_name]
        args = [a for a in line.split("(", 1)[1].split(")", 1)[0].split(", ") if a]
        for name, field in m.args.model_fields.items():
            if name == "cursor":
                continue
            assert (name if field.is_required() else name + "?") in args, (m.full_name, name)
        keyword_from = args.index("*") if "*" in args else len(args)
        assert [a.rstrip("?") for a in args[:keyword_from]] == list(m.positional)
        assert "->" in line
    assert lines["generations.create"] == (
        "generations.create(*, type, prompt, workspace_id, project_id, model?, params?, "
        "callback_url?) -> RunStart"
    )
    assert lines["projects.retrieve"] == "projects.retrieve(project_id) -> Project"
    assert lines["projects.list_nodes"] == "projects.list_nodes(project_id, *, limit?) -> [Node]"
    assert lines["runs.start_generation"].endswith("(deprecated)")


def test_markdown_names_the_objects_their_nested_shapes_and_the_errors():
    md = surface_markdown()
    assert "Run: run_id, status," in md
    assert "outputs: [{output_id, type, url (text: the text)}]" in md
    assert "Generation: Run + generation_id" in md and "model: {model_id}" in md
    assert "AssetListItem: AssetDetail + node_id, project_id (no failure_message)" in md
    for name in ("APIError", "NotFoundError", "BadRequestError", "RateLimitError"):
        assert name in md
    assert "camelCase" in md and "search_docs" in md


def test_search_docs_keeps_the_field_level_detail():
    assert 'client.generations.create(type="image"' in method_doc("generations.create")
    assert "prompt*: str" in method_doc("generations.create")
    assert "type*: image|video|audio|text" in method_doc("generations.create")
    for m in METHODS:
        assert m.example is None or m.example in method_doc(m)


def test_surface_json_lists_params_returns_and_items_key():
    data = surface_json()
    assert json.loads(json.dumps(data)) == data
    by_name = {m["name"]: m for m in data["methods"]}
    assert len(by_name) == len(METHODS)
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
    assert f"- techniques.runs.create: {MODE_RULE}" in md
    assert f"- generations.create, runs.start_generation: {PARAMS_RULE}" in md
    assert MODE_RULE in method_doc("techniques.runs.create").splitlines()
    assert "filled when omitted" in method_doc("techniques.runs.create")
    assert PARAMS_RULE in method_doc("generations.create").splitlines()
    [hit] = [
        h for h in search_docs("technique run mode") if h["method"] == "techniques.runs.create"
    ]
    assert MODE_RULE in hit["doc"]


def test_search_docs_renders_every_returned_object_as_a_python_stub():
    doc = search_docs("generations.retrieve", limit=1)[0]["doc"]
    assert "class Run:\n    run_id: str\n" in doc
    assert '    status: Literal["pending", "running", "completed", "failed"]\n' in doc
    assert "    error_message: str | None  # None when FLORA omits it\n" in doc
    assert "    outputs: list[RunOutput] | None" in doc and "class RunOutput:" in doc
    listing = method_doc("generations.list")
    assert "model: GenerationModelRef | None" in listing
    assert "class GenerationModelRef:\n    model_id: str | None" in listing
    assert "    beta: bool | None" in method_doc("models.list")
    assert "    optional: bool | None" in method_doc("techniques.retrieve")
    for m in METHODS:  # every object, nested too, with every field typed
        doc = method_doc(m)
        assert "```python\nclass " in doc
        for line in doc.split("```python\n", 1)[1].split("```", 1)[0].splitlines():
            assert (line.startswith("class ") and line.endswith(":")) or (
                line.startswith("    ") and (": " in line or line == "    ...")
            )


def test_signatures_are_exactly_what_the_proxy_accepts():
    from client_surface.table import sandbox_spec
    from sandbox.proxy import normalize_call
    from sandbox.surface import SurfaceSpec

    spec = SurfaceSpec.from_json(sandbox_spec())
    for m in METHODS:
        sig = signature(m)
        shown = sig[sig.index("(") + 1 : sig.index(")")].split(", *")[0]
        positional = [] if shown.startswith("*") or not shown else shown.split(", ")
        assert [p.rstrip("?") for p in positional] == list(spec.methods[m.full_name].positional)
        assert f"Signature: `{sig}`" in method_doc(m)
    assert signature(find("projects.list")).startswith("projects.list(*, workspace_id")
    with pytest.raises(TypeError, match="takes 0 positional"):
        normalize_call(spec, "projects.list", ("ws_1",), {})
    assert normalize_call(spec, "projects.retrieve", ("prj_1",), {}) == {"project_id": "prj_1"}


def test_a_text_outputs_text_is_documented_where_agents_read():
    """FLORA answers a text generation's text in `outputs[0].url`: the field says so in
    search_docs (the stub's comment) and in the compact surface (the MCP description)."""
    doc = search_docs("generation retrieve run outputs")[0]["doc"]
    assert (
        "url: str  # The output file's URL; for a text output (type text), the text itself" in doc
    )
    assert "url (text: the text)" in surface_markdown()
