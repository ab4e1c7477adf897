"""The table's spec as the sandbox types it, and what the proxy and pre-flight read from it."""

from __future__ import annotations

from client_surface.table import METHODS, sandbox_spec
from sandbox import proxy, runner
from sandbox.limits import Limits
from sandbox.messages import Reply, Run
from sandbox.policy import compile_script
from sandbox.records import Page
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json(sandbox_spec())


def test_every_method_of_the_table_is_typed_with_its_params_and_list_key():
    assert set(SPEC.methods) == {m.full_name for m in METHODS}
    for m in METHODS:
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


# --- arguments filled for scripts (techniques.runs.create's mode) ---------------------------

MODE_WARNING = (
    'techniques.runs.create: mode was not given; sent mode="async" '
    '(FLORA requires "async" or "stream")'
)


def _spec_with_mode_required() -> SurfaceSpec:
    """The spec once the table makes mode required, as FLORA does: still filled for scripts."""
    raw = sandbox_spec()
    for param in raw["methods"]["techniques.runs.create"]["params"]:
        if param["name"] == "mode":
            param["required"] = True
    return SurfaceSpec.from_json(raw)


INPUTS = [{"id": "image", "type": "imageUrl", "value": "https://example.com/a.png"}]


def test_the_proxy_fills_mode_when_a_script_omits_it_and_warns_once():
    spec = _spec_with_mode_required()
    assert [p.name for p in spec.methods["techniques.runs.create"].filled] == ["mode"]
    warnings: list[str] = []
    for _ in range(2):
        sent = proxy.normalize_call(
            spec, "techniques.runs.create", ("t",), {"inputs": INPUTS}, warnings
        )
        assert sent["mode"] == "async"
    assert warnings == [MODE_WARNING]


def test_a_mode_the_script_gives_is_sent_as_given_without_a_warning():
    spec = _spec_with_mode_required()
    warnings: list[str] = []
    sent = proxy.normalize_call(
        spec, "techniques.runs.create", ("t",), {"inputs": INPUTS, "mode": "stream"}, warnings
    )
    assert sent["mode"] == "stream" and warnings == []


def test_pre_flight_does_not_report_a_filled_argument_missing():
    spec = _spec_with_mode_required()
    code = (
        "def run(client):\n"
        "    return client.techniques.runs.create('t', inputs=[])\n"
        "def later(client):\n"
        "    return client.techniques.runs.create('t')\n"
    )
    problems = compile_script(code, spec).problems
    assert [p.message for p in problems] == [
        "client.techniques.runs.create() is missing required argument(s): inputs"
    ]


def test_the_done_frame_carries_the_warning_of_a_filled_argument():
    spec = _spec_with_mode_required()
    sent: list[object] = []

    def host(name: str, payload: object) -> Reply:
        sent.append(payload)
        return Reply(1, True, {"run_id": "run_1", "status": "pending"})

    code = "def run(client):\n    return client.techniques.runs.create('t', inputs=[]).run_id\n"
    request = Run(op="run", code=code, inputs={}, limits=Limits(), host_functions=[])
    runner.prepare(spec)
    try:
        done = runner.execute(request, spec, host, runner.RunState(code, request.limits))
    finally:
        runner.prepare(SPEC)
    assert done.status == "ok", done.error
    assert done.warnings == [MODE_WARNING]
    assert sent == [
        {"method": "techniques.runs.create",
         "arguments": {"id_or_slug": "t", "inputs": [], "mode": "async"}}
    ]  # fmt: skip
