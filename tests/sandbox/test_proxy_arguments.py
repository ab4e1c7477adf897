"""The arguments the proxy sends for a call: exactly what the JSON converter makes of them, with
or without the converter's walk."""

from __future__ import annotations

import math
from typing import Any

import pytest

from client_surface.table import sandbox_spec
from sandbox import proxy
from sandbox.jsonable import INT_MAX, INT_MIN, NotJSON, to_json
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
