"""Whatever a pool result holds, `answer` makes it an answer: it fits `ExecuteResponse`,
encodes as strict JSON (no NaN, no lone surrogates), and what cannot be answered is a clear
`error` result rather than an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder

from runtime.executions.outcome import MAX_RESULT_DEPTH, ExecuteResponse, answer
from sandbox.result import ExecutionResult


def answered(**fields: Any) -> dict[str, Any]:
    """The body answered for a pool result holding `fields` (and the host's `calls`)."""
    calls = fields.pop("calls", [])
    result = ExecutionResult(**{"status": "ok", "duration_ms": 1.0, "cpu_ms": 1.0, **fields})
    return answer(result, "exe_1", calls).body


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def answerable(out: dict[str, Any]) -> None:
    """What the HTTP API and MCP do with a body: validate it, encode it strictly."""
    model = ExecuteResponse.model_validate(out)
    json.dumps(jsonable_encoder(model), ensure_ascii=False, allow_nan=False).encode()
    json.dumps(out, ensure_ascii=False, allow_nan=False).encode()


UNANSWERABLE_RESULTS = {
    "nested_900": nested(900),
    "nested_past_the_limit": nested(MAX_RESULT_DEPTH + 1),
    "nan": float("nan"),
    "infinity_inside": {"a": [1.0, float("-inf")]},
    "lone_surrogate": ["ok", "\ud800"],
    "surrogate_key": {"\udfff": 1},
    "int_too_long": 10**5000,
    "not_json_type": {"a": {1, 2}},
}


@pytest.mark.parametrize("result", UNANSWERABLE_RESULTS.values(), ids=UNANSWERABLE_RESULTS.keys())
def test_a_result_that_cannot_be_answered_becomes_a_clear_error(result):
    out = answered(result=result, stdout="kept")
    answerable(out)
    assert out["status"] == "error" and out["result"] is None
    assert out["error"]["type"] == "InvalidResult"
    assert out["error"]["message"].startswith("the script's result could not be returned: ")
    assert out["stdout"] == "kept"


def test_a_cyclic_result_becomes_an_error_not_a_hang():
    cycle: list[Any] = []
    cycle.append(cycle)
    out = answered(result=cycle)
    assert out["status"] == "error" and out["error"]["type"] == "InvalidResult"


def test_an_honest_result_is_answered_unchanged():
    result = {"nested": nested(MAX_RESULT_DEPTH - 1), "text": "é ✓", "n": [1, 2.5, None, True]}
    out = answered(result=result)
    assert out["status"] == "ok" and out["result"] is result


ODD_ERRORS = {
    "message_not_text": {"type": "E", "message": {"nested": [1]}},
    "message_missing": {"type": "E"},
    "type_not_text": {"type": 7, "message": "m"},
    "line_not_int": {"type": "E", "message": "m", "line": "12"},
    "fields_surrogates": {"type": "\ud800", "message": "\udc00", "source": "\ud800", "hint": 1},
    "problems_not_objects": {"type": "E", "message": "m", "problems": ["x", 3, None]},
    "problems_odd_fields": {"type": "E", "message": "m", "problems": [{"line": "x", "hint": []}]},
    "extra_nan": {"type": "E", "message": "m", "limit": float("nan"), "more": {"k": "\ud800"}},
    "extra_huge": {"type": "E", "message": "m", "blob": "x" * 500_000},
    "not_an_object": ["E", "m"],
    "a_string": "boom",
}


@pytest.mark.parametrize("status", ["error", "rejected"])
@pytest.mark.parametrize("error", ODD_ERRORS.values(), ids=ODD_ERRORS.keys())
def test_an_error_with_odd_fields_is_answered_with_text_fields(error, status):
    out = answered(status=status, error=error)
    answerable(out)
    assert isinstance(out["error"]["type"], str) and isinstance(out["error"]["message"], str)
    assert out["error"]["line"] is None or isinstance(out["error"]["line"], int)
    assert len(json.dumps(out["error"])) < 200_000
    for problem in out["error"].get("problems", []):
        assert isinstance(problem, dict)


def test_a_message_that_is_not_text_says_so():
    out = answered(status="error", error={"type": "E", "message": 42})
    assert out["error"]["message"] == "the sandbox sent an error whose message is not text"


ODD_FIELDS = {
    "status_unknown": {"status": "pwned"},
    "status_not_text": {"status": ["ok"]},
    "stdout_surrogate": {"stdout": "a\ud800b"},
    "stdout_not_text": {"stdout": {"x": 1}},
    "stdout_truncated_not_bool": {"stdout_truncated": "yes"},
    "cpu_nan": {"cpu_ms": float("nan")},
    "cpu_negative": {"cpu_ms": -5},
    "duration_infinite": {"duration_ms": float("inf")},
    "cpu_text": {"cpu_ms": "12"},
    "warnings_odd": {"warnings": ["ok", 3, "\ud800", None]},
    "warnings_not_list": {"warnings": "w"},
    "calls_odd": {"calls": [1, {"method": None, "arguments": {"x": float("nan"), 1: "\ud800"},
                                "status": "weird", "http_status": "200", "ms": "fast"}]},
    "calls_not_list": {"calls": {"method": "m"}},
}  # fmt: skip


@pytest.mark.parametrize("fields", ODD_FIELDS.values(), ids=ODD_FIELDS.keys())
def test_every_field_is_answered_with_its_declared_type(fields):
    out = answered(**fields)
    answerable(out)
    assert out["status"] in ("ok", "error")
    assert out["cpu_ms"] >= 0 and out["duration_ms"] >= 0


def test_an_unknown_status_becomes_an_error_that_says_so():
    out = answered(status="pwned")
    assert out["status"] == "error" and "unknown status" in out["error"]["message"]


def test_lone_surrogates_in_stdout_become_replacement_characters():
    assert answered(stdout="a\ud800b\udfffc")["stdout"] == "a\ufffdb\ufffdc"
