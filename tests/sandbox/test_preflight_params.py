"""Pre-flight warnings for params keys a literal model does not list: from the model params the
host puts in the spec, in the same words the host uses when the call is made (so an execution
carries the warning once), never a rejection."""

from __future__ import annotations

import textwrap

from client_surface.table import find, sandbox_spec
from runtime.flora import builtin_model_params, unknown_params_warning
from sandbox.policy import compile_script
from sandbox.preflight import params_warning
from sandbox.surface import SurfaceSpec

KNOWN = {"t2i-x": ["aspect_ratio", "seed"], "vid-y": ["duration"]}
SPEC = SurfaceSpec.from_json(sandbox_spec(KNOWN))

SCRIPT = textwrap.dedent("""\
    async def run(client):
        ws = (await client.workspaces.list()).workspaces[0].workspace_id
        gen = await client.generations.create(
            type="image", prompt="a fox", workspace_id=ws, project_id="prj_1",
            model="t2i-x", params={"aspectRatio": "square_1_1", "seed": 3},
        )
        return gen.run_id
""")


def warnings_of(code: str, spec: SurfaceSpec = SPEC) -> list[str]:
    compiled = compile_script(code, spec)
    assert compiled.problems == [], compiled.problems  # a warning, never a rejection
    return compiled.warnings


def test_a_literal_key_the_model_does_not_list_is_a_warning_naming_the_valid_keys():
    [warning] = warnings_of(SCRIPT)
    assert warning == (
        "generations.create: params key 'aspectRatio' (did you mean 'aspect_ratio'?) is not a "
        "param of model 't2i-x'; FLORA accepts it and the model may ignore it. "
        'Its params: aspect_ratio, seed; see search_docs("models.list")'
    )


def test_the_host_says_the_same_words_when_the_call_is_made():
    """The execution's warnings are the child's then the host's not already there: equal texts
    make one warning."""
    arguments = {"model": "t2i-x", "params": {"aspectRatio": "square_1_1", "seed": 3}}
    known = {k: tuple(v) for k, v in KNOWN.items()}
    host = unknown_params_warning(find("generations.create"), arguments, known)
    assert warnings_of(SCRIPT) == [host]


def test_every_form_of_a_literal_call_is_seen():
    forms = [
        'client.runs.start_generation(type="video", prompt="p", workspace_id="w", '
        'project_id="p", model="vid-y", params=dict(durration=5))',
        'gens = client.generations\ngens.create(type="video", prompt="p", workspace_id="w", '
        'project_id="p", model="vid-y", params={"durration": 5})',
        'client.generations.create({"type": "video", "prompt": "p", "workspace_id": "w", '
        '"project_id": "p", "model": "vid-y", "params": {"durration": 5}})',
    ]
    for body in forms:
        code = "def run(client):\n" + textwrap.indent(body, "    ") + "\n"
        [warning] = warnings_of(code)
        assert "'durration' (did you mean 'duration'?)" in warning, body
        assert "Its params: duration" in warning


def test_no_warning_when_it_cannot_be_known_or_nothing_is_wrong():
    quiet = [
        SCRIPT.replace('"aspectRatio"', '"aspect_ratio"'),  # every key listed
        SCRIPT.replace('model="t2i-x"', 'model="unknown-model"'),  # a model the spec lacks
        SCRIPT.replace('model="t2i-x"', "model=MODEL"),  # not a literal model
        SCRIPT.replace('{"aspectRatio": "square_1_1", "seed": 3}', "PARAMS"),  # nor params
        SCRIPT.replace('"aspectRatio"', "KEY"),  # a key that is not literal
    ]
    for code in quiet:
        assert warnings_of(code) == [], code
    # a spec without model params (the real FLORA's models are checked when the call is made)
    assert warnings_of(SCRIPT, SurfaceSpec.from_json(sandbox_spec())) == []


def test_many_keys_are_counted_past_ten_and_long_keys_cut():
    keys = [f"k{i}" for i in range(12)] + ["x" * 500]
    warning = params_warning("runs.start_generation", "params", "m", keys, ())
    assert warning is not None and "and 3 more" in warning and "x" * 100 not in warning
    assert warning.startswith("runs.start_generation: params keys 'k0', 'k1'")
    assert 'Its params: none; see search_docs("models.list")' in warning
    assert params_warning("generations.create", "params", "m", ["seed"], ("seed",)) is None


def test_the_host_warns_only_for_a_known_model_with_params():
    spec, known = find("generations.create"), {"t2i-x": ("seed",)}
    assert unknown_params_warning(spec, {"model": "t2i-x", "params": {"seed": 1}}, known) is None
    assert unknown_params_warning(spec, {"model": "other", "params": {"a": 1}}, known) is None
    assert unknown_params_warning(spec, {"params": {"a": 1}}, known) is None  # default model
    assert unknown_params_warning(find("models.list"), {"params": {"a": 1}}, known) is None


def test_the_spec_carries_the_built_in_catalogs_params_as_plain_data():
    known = builtin_model_params()
    assert known and all(isinstance(v, list) for v in known.values())
    spec = SurfaceSpec.from_json(sandbox_spec(known))
    assert spec.methods["generations.create"].model_params == ("model", "params")
    assert spec.methods["runs.start_generation"].model_params == ("model", "params")
    assert spec.methods["projects.list"].model_params is None
    assert spec.model_params["t2i-flux-2-pro"] == tuple(known["t2i-flux-2-pro"])
