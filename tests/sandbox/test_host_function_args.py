"""A host function's arguments: exact JSON scalars go as they are, without the converter; any
other value goes through it, so what is sent, and what is refused, is what to_json makes."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import runner
from sandbox.jsonable import NotJSON, to_json
from sandbox.messages import Reply


class Text(str):
    pass


class Number(int):
    pass


def sent(*args: Any, **kwargs: Any) -> Any:
    payloads: list[Any] = []

    def host_call(name: str, payload: Any) -> Reply:
        payloads.append(payload)
        return Reply(id=1, ok=True, value=None)

    runner._host_function_stub("lookup", host_call)(*args, **kwargs)
    [payload] = payloads
    return payload


def test_exact_scalars_are_sent_as_they_are_without_the_converter(monkeypatch):
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("converted")

    monkeypatch.setattr(runner, "to_json", refuse)
    payload = sent("a", 1, 2.5, True, None, -(2**63), key="v", n=2**63 - 1)
    assert payload == {"args": ["a", 1, 2.5, True, None, -(2**63)],
                       "kwargs": {"key": "v", "n": 2**63 - 1}}  # fmt: skip
    assert type(payload["args"]) is list and type(payload["kwargs"]) is dict


@pytest.mark.parametrize(
    "args,kwargs",
    [
        ((Text("x"), Number(3), (1, 2), {3, 1}), {}),
        (([1, {"a": 2}],), {"d": {"k": [None]}}),
        ((), {"t": Text("y"), "f": 1.0}),
        ((True, 0.0, -0.0, 1e308), {Text("key"): 1}),
    ],
)
def test_any_other_value_is_sent_as_the_converter_makes_it(args, kwargs):
    expected, _ = to_json({"args": list(args), "kwargs": kwargs}, strict=True, path="lookup")
    payload = sent(*args, **kwargs)
    assert payload == expected
    assert all(type(v) in (str, int, float, bool, type(None)) for v in payload["args"]
               if not isinstance(v, (list, dict)))  # fmt: skip


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 2**63, -(2**63) - 1,
                                   b"x", object()])  # fmt: skip
def test_a_value_json_cannot_carry_is_refused_as_before(value):
    with pytest.raises(NotJSON) as refused:
        sent(value)
    with pytest.raises(NotJSON) as expected:
        to_json({"args": [value], "kwargs": {}}, strict=True, path="lookup")
    assert str(refused.value) == str(expected.value)
    with pytest.raises(NotJSON):
        sent(x=value)
