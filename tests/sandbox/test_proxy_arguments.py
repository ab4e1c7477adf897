"""The arguments the proxy sends for a call: exactly what the JSON converter makes of them, with
or without the converter's walk."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from client_surface.table import sandbox_spec
from sandbox import proxy, runner
from sandbox.jsonable import INT_MAX, INT_MIN, NotJSON, to_json
from sandbox.limits import Limits
from sandbox.messages import Reply, Run
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json(sandbox_spec())
BARE = [
    name
    for name, m in SPEC.methods.items()
    if not m.filled and not any(p.required for p in m.params)
]


class Text(str):
    def __str__(self) -> str:
        return "not the text"


class Number(int):
    pass


def _typed(value: Any) -> Any:
    """`value` with the exact type of every part, to compare types as well as values."""
    if isinstance(value, dict):
        return {(type(k), k): _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value), value)


def test_a_call_with_no_arguments_sends_a_new_empty_dict_each_time() -> None:
    assert "workspaces.list" in BARE and "models.list" in BARE
    for name in BARE:
        first = proxy.normalize_call(SPEC, name, (), {})
        assert first == {}
        first["x"] = 1
        assert proxy.normalize_call(SPEC, name, (), {}) == {}


def test_a_call_with_no_arguments_still_misses_required_ones_and_gets_filled_ones() -> None:
    with pytest.raises(TypeError, match="missing required argument"):
        proxy.normalize_call(SPEC, "projects.retrieve", (), {})
    warnings: list[str] = []
    sent = proxy.normalize_call(
        SPEC, "techniques.runs.create", ("tech_1",), {"inputs": []}, warnings
    )
    assert "mode" in sent and len(warnings) == 1


@pytest.mark.parametrize(
    "value",
    [
        "text", "", True, False, None, 0, -1, INT_MAX, INT_MIN, 1.5, -0.0, 1e308,
        Text("abc"), Number(5), [1, "a"], {"k": Text("v")}, ("t",),
    ],
)  # fmt: skip
def test_arguments_are_what_the_converter_makes_of_them(value: Any) -> None:
    sent = proxy.normalize_call(SPEC, "generations.list", (), {"workspace_id": value})
    expected, _ = to_json({"workspace_id": value}, strict=True, path="arguments")
    assert _typed(sent) == _typed(expected)


@pytest.mark.parametrize("value", [INT_MAX + 1, INT_MIN - 1, math.nan, math.inf, -math.inf])
def test_an_argument_json_cannot_carry_is_refused_as_the_converter_refuses_it(
    value: Any,
) -> None:
    with pytest.raises(NotJSON) as sent:
        proxy.normalize_call(SPEC, "generations.list", (), {"workspace_id": value})
    with pytest.raises(NotJSON) as converted:
        to_json({"workspace_id": value}, strict=True, path="arguments")
    assert str(sent.value) == str(converted.value)


def test_a_name_given_as_a_str_subclass_is_sent_as_a_plain_str() -> None:
    sent = proxy.normalize_call(SPEC, "generations.list", (), {Text("limit"): 5})
    assert [type(k) for k in sent] == [str] and sent == {"limit": 5}


def test_a_script_under_the_policy_sends_what_the_converter_makes_of_its_values() -> None:
    """Through the compiled script and the runner: subclasses the script defines, a record from
    an earlier call, -0.0, bools and 64-bit bounds leave the child as the converter makes them;
    values it refuses are refused with its words."""
    sent: list[Any] = []

    def host(name: str, payload: Any) -> Reply:
        sent.append(payload["arguments"])
        if payload["method"] == "generations.retrieve":
            return Reply(1, True, {"run_id": "run_1", "status": "completed"})
        return Reply(1, True, {"generations": [], "meta": {"next_cursor": None}})

    code = (
        "class Text(str):\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    def __hash__(self):\n"
        "        return 0\n"
        "class Number(int):\n"
        "    pass\n"
        "def run(client):\n"
        "    record = client.generations.retrieve('run_1')\n"
        "    values = [Text('ws_1'), Number(7), record, -0.0, True, 0, 9223372036854775807,\n"
        "              -9223372036854775808, 'ws_2', None, 1.5]\n"
        "    for value in values:\n"
        "        client.generations.list(workspace_id=value)\n"
        "    client.generations.list(**{Text('limit'): 5})\n"
        "    refused = []\n"
        "    for value in [2 ** 63, float('nan'), float('-inf')]:\n"
        "        try:\n"
        "            client.generations.list(workspace_id=value)\n"
        "        except TypeError as exc:\n"
        "            refused.append(str(exc))\n"
        "    return refused\n"
    )
    request = Run(op="run", code=code, inputs={}, limits=Limits(), host_functions=[])
    runner.prepare(SPEC)
    done = runner.execute(request, SPEC, host, runner.RunState(code, request.limits))
    assert done.status == "ok", done.error
    record = {"run_id": "run_1", "status": "completed"}
    values: list[Any] = [Text("ws_1"), Number(7), record, -0.0, True, 0, INT_MAX, INT_MIN]
    values += ["ws_2", None, 1.5]
    expected: list[Any] = [{"run_id": "run_1"}]
    expected += [to_json({"workspace_id": v}, strict=True, path="arguments")[0] for v in values]
    expected.append({"limit": 5})
    assert _typed(sent) == _typed(expected)
    refusals = []
    for value in [INT_MAX + 1, math.nan, -math.inf]:
        with pytest.raises(NotJSON) as info:
            to_json({"workspace_id": value}, strict=True, path="arguments")
        refusals.append(str(info.value))
    assert json.loads(done.result) == refusals
