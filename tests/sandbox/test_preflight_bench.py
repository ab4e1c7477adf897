"""The pre-flight's bench script is a correct 50-line script (it measures the clean path), and
an error class read on `client`, as FLORA's TypeScript SDK has them, is refused with the fix."""

from __future__ import annotations

from bench import preflight
from sandbox.policy import compile_script


def test_the_bench_script_is_fifty_lines_and_passes_the_pre_flight():
    assert 45 <= preflight.SCRIPT.count("\n") <= 60
    compiled = compile_script(preflight.SCRIPT, preflight.spec())
    assert compiled.problems == [] and compiled.code is not None
    text, met, figure = preflight.section(quick=True)
    assert "| pre-flight (" in text and figure.endswith(" ms")
    assert "0 problems found" in text


def test_an_error_class_read_on_client_names_the_global_to_catch():
    code = preflight.SCRIPT.replace("except NotFoundError", "except client.NotFoundError")
    [problem] = compile_script(code, preflight.spec()).problems
    assert problem.message == "client.NotFoundError does not exist"
    assert problem.hint == (
        "the error classes are names of their own: `except NotFoundError as exc:`"
    )
