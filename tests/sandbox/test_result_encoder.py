"""The result encoder calls CPython's C encoder directly: the same text and the same errors as
`json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode`, and no
state kept from one call to the next (a circular value found once is not found again)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from sandbox import runner

REFERENCE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@pytest.mark.parametrize(
    "value",
    [
        None, True, 0, -(2**63), 2**70, 2.5, -0.0, 1e308, 5e-324, "", "é\u2028\ud800\"\\\n",
        [], {}, [1, [2, [3, {}]]], {"a": {"b": [None, False, "x"]}, "é": 1.1},
        {"1": 1, "": None}, list(range(50)),
    ],
)  # fmt: skip
def test_the_text_is_what_the_json_encoder_writes(value: Any) -> None:
    assert runner.encode_result(value) == REFERENCE.encode(value)


def test_the_errors_are_the_json_encoders_and_leave_nothing_behind() -> None:
    loop: list[Any] = []
    loop.append(loop)
    for bad in ([math.nan], {"x": math.inf}, loop, [object()], {1.5j: 1}):
        with pytest.raises((ValueError, TypeError)) as expected:
            REFERENCE.encode(bad)
        with pytest.raises(type(expected.value)) as got:
            runner.encode_result(bad)
        assert str(got.value) == str(expected.value)
    inner = [1]
    assert runner.encode_result([inner, inner]) == "[[1],[1]]"  # shared, not circular
