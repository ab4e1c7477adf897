"""Records know their type from the table's spec: declared-but-omitted fields read as None,
unknown ones name the fields, and a record used as a key names the field to key by."""

from __future__ import annotations

import pytest

from client_surface.table import sandbox_spec
from sandbox.proxy import build_client_class
from sandbox.records import new_page, new_record, wrap
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json(sandbox_spec())
build_client_class(SPEC)  # installs the types, as the zygote does


def test_spec_carries_each_methods_response_type() -> None:
    raw = sandbox_spec()
    assert raw["methods"]["generations.retrieve"]["response"] == "Run"
    run = raw["types"]["Run"]
    assert run["status"]["type"] == 'Literal["pending", "running", "completed", "failed"]'
    assert run["error_message"] == {"type": "str | None", "optional": True, "nullable": True,
                                    "ref": None, "many": False, "enum": None}  # fmt: skip
    assert run["outputs"]["ref"] == "RunOutput" and run["outputs"]["many"]
    assert raw["types"]["Generation"]["model"]["ref"] == "GenerationModelRef"
    assert "optional" in raw["types"]["TechniqueIo"] and "beta" in raw["types"]["Model"]
    assert SPEC.item_type(SPEC.methods["projects.list"]) == "Project"


def test_omitted_optional_field_reads_as_none() -> None:
    run = wrap({"run_id": "r1", "status": "failed", "progress": 1, "created_at": 0}, "Run")
    assert run.error_message is None and run.outputs is None
    model = wrap({"model_id": "m", "name": "M"}, "Model")
    assert model.beta is None


def test_unknown_field_names_the_fields() -> None:
    run = new_record({"run_id": "r1", "status": "failed"}, "Run")
    with pytest.raises(AttributeError, match="Did you mean 'error_message'") as info:
        _ = run.error_mesage
    assert "Run has no field" in str(info.value) and "outputs" in str(info.value)


def test_nested_objects_are_typed() -> None:
    gen = wrap({"generation_id": "g", "model": {"model_id": "flux"}}, "Generation")
    assert gen.model.model_id == "flux"
    with pytest.raises(TypeError, match=r"GenerationModelRef is a record.*\.model_id"):
        _ = {gen.model: 1}
    with pytest.raises(TypeError, match="g.model.model_id"):
        _ = {gen.model}
    tech = wrap({"inputs": [{"id": "i", "name": "n", "type": "text"}]}, "Technique")
    assert tech.inputs[0].optional is None


def test_page_items_are_typed() -> None:
    page = new_page(lambda cursor: page, "projects", {"projects": [{"project_id": "p"}]},
                    "Project")  # fmt: skip
    first = next(iter(page))
    assert first.origin is None and page.projects[0].last_modified is None


def test_untyped_record_keeps_plain_behaviour() -> None:
    plain = wrap({"a": 1})
    with pytest.raises(AttributeError, match="Fields: a"):
        _ = plain.b
