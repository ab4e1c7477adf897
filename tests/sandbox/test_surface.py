"""The table's spec as the sandbox types it, and what the proxy and pre-flight read from it."""

from __future__ import annotations

from client_surface.table import SURFACE, sandbox_spec
from sandbox import proxy, runner
from sandbox.messages import Reply
from sandbox.records import Page
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json(sandbox_spec())


def test_every_method_of_the_table_is_typed_with_its_params_and_list_key():
    assert set(SPEC.methods) == {m.full_name for m in SURFACE}
    for m in SURFACE:
        typed = SPEC.methods[m.full_name]
        assert typed.items_key == m.items_key and typed.paged == m.paged
        assert typed.positional == tuple(m.positional)
        assert typed.param_names == list(m.args.model_fields)


def test_an_empty_spec_is_a_surface_with_no_methods():
    empty = SurfaceSpec.from_json({})
    assert empty.methods == {} and empty.resolve("models.list") is None


def test_camel_case_names_resolve_to_the_method():
    assert SPEC.resolve("techniques.runs.list") == "techniques.runs.list"
    assert SPEC.resolve("generations.create") == "generations.create"


def test_a_list_method_that_does_not_page_still_answers_with_a_page():
    assert SPEC.methods["models.list"].items_key == "models"
    assert not SPEC.methods["models.list"].paged
    runner.prepare(SPEC)
    client = runner.spec_client(SPEC)
    proxy.bind_host(lambda name, payload: Reply(1, True, {"models": [{"id": "m1"}, {"id": "m2"}]}))
    page = client.models.list()
    assert type(page) is Page
    assert [model.id for model in page] == ["m1", "m2"]
