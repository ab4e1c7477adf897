"""What leaves the child is plain JSON the host's strict parser accepts, whatever the script held.

The host refuses integers outside the signed 64-bit range, NaN and lone surrogates; results are
converted in the child (lenient, with a warning naming the path) and call arguments refused
there (strict, with a message saying how to fix them). Objects the sandbox injects are their
own copies and cannot be taken apart, so nothing inside them reaches a memo or a reduce tuple.
"""

from __future__ import annotations

import copy

import pytest

from client_surface.table import sandbox_spec
from sandbox import facades, guards, runner
from sandbox.jsonable import NotJSON, to_json
from sandbox.records import new_page, wrap
from sandbox.surface import SurfaceSpec

# --- integers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 0, -1])
def test_integers_in_the_64_bit_range_pass_unchanged(value):
    for strict in (True, False):
        assert to_json([value], strict=strict) == ([value], [])


@pytest.mark.parametrize(
    "value", [2**63, -(2**63) - 1, 10**3999, -(10**3999)], ids=["2^63", "-2^63-1", "4000", "-4000"]
)
def test_result_integers_beyond_64_bits_become_strings_of_their_digits(value):
    converted, warnings = to_json({"n": [value]}, strict=False)
    assert converted == {"n": [str(value)]}
    assert warnings and warnings[0].startswith("result['n'][0]:"), warnings


def test_result_integers_over_4000_digits_are_described():
    converted, warnings = to_json(10**4000, strict=False)
    assert converted == f"<integer of {(10**4000).bit_length()} bits>"
    assert "too large" in warnings[0]


@pytest.mark.parametrize(
    "value", [2**63, -(2**63) - 1, 10**5000], ids=["2^63", "-2^63-1", "5001_digits"]
)
def test_argument_integers_beyond_64_bits_are_refused_with_the_fix(value):
    with pytest.raises(NotJSON) as refused:
        to_json({"seed": value}, strict=True, path="arguments")
    message = str(refused.value)
    assert message.startswith("arguments['seed']:") and "64-bit" in message
    assert "pass it as a string" in message


def test_integer_subclasses_follow_the_same_rule():
    class Big(int):
        pass

    assert to_json(Big(2**70), strict=False)[0] == str(2**70)
    with pytest.raises(NotJSON):
        to_json(Big(2**70), strict=True)


def test_big_integer_result_reaches_the_agent_as_digits(server):
    body = server.execute("[2 ** 64, -(2 ** 63), 2 ** 63 - 1]")
    assert body["status"] == "ok", body
    assert body["result"] == [str(2**64), -(2**63), 2**63 - 1]
    assert any("64-bit" in w for w in body["warnings"]), body["warnings"]


def test_big_integer_call_argument_is_refused_before_the_call(server):
    body = server.execute("client.models.list(type=2 ** 64)")
    assert body["status"] == "error", body
    assert "64-bit" in body["error"]["message"], body["error"]
    assert body.get("calls", []) == []


# --- conversion never runs a script's method on what is measured -------------------------------


def test_records_and_pages_convert_to_plain_copies_of_their_data():
    data = {"id": "r1", "outputs": [{"url": "u", "n": 2**64}]}
    record = wrap(data)
    page = new_page(lambda cursor: page, "models", {"models": [data], "meta": {}})
    assert to_json(record, strict=False)[0] == {
        "id": "r1",
        "outputs": [{"url": "u", "n": "18446744073709551616"}],
    }
    assert to_json(page, strict=False)[0]["models"][0]["id"] == "r1"
    assert to_json(record, strict=False)[0] is not data


def test_set_of_objects_whose_comparison_raises_still_converts():
    class Odd:
        def __lt__(self, other):
            raise ValueError("no order")

    converted, warnings = to_json({Odd(), Odd()}, strict=False)
    assert len(converted) == 2 and all(isinstance(item, str) for item in converted)


def test_datetime_subclass_cannot_replace_its_iso_form():
    import datetime

    class Day(datetime.date):
        def isoformat(self):
            return {"huge": "x" * 10}

    assert to_json(Day(2024, 1, 2), strict=False) == ("2024-01-02", [])


# --- injected objects are their own copies ---------------------------------------------------


def _injected_objects():
    spec = SurfaceSpec.from_json(sandbox_spec())
    runner.prepare(spec)
    client = runner.spec_client(spec)
    sink = guards.PrintSink(100)
    script_print = guards.make_print_factory(sink)()
    record = wrap({"id": "r", "nested": {"a": [1]}})
    page = new_page(lambda cursor: page, "models", {"models": [{"id": "m"}], "meta": {}})
    return {
        "client": client,
        "resource": client.models,
        "nested_resource": client.techniques.runs,
        "facade": facades.FACADES["json"],
        "asyncio_facade": facades.FACADES["asyncio"],
        "lock": facades.FACADES["asyncio"].Lock(),
        "record": record,
        "page": page,
        "print": script_print,
        "print_sink": sink,
    }


INJECTED = _injected_objects()


@pytest.mark.parametrize("name", sorted(INJECTED))
def test_injected_object_is_its_own_copy_and_leaves_the_memo_empty(name):
    obj = INJECTED[name]
    memo: dict = {}
    assert copy.deepcopy(obj, memo) is obj
    assert copy.copy(obj) is obj
    assert memo == {}


@pytest.mark.parametrize("name", sorted(INJECTED))
def test_injected_object_cannot_be_reduced(name):
    obj = INJECTED[name]
    for reduce in (lambda: obj.__reduce_ex__(4), obj.__reduce__):
        with pytest.raises(TypeError, match="cannot be pickled or taken apart"):
            reduce()


def test_deepcopy_of_the_print_method_leaves_the_memo_empty():
    bound = guards.make_print_factory(guards.PrintSink(10))()._call_print
    memo: dict = {}
    copy.deepcopy(bound, memo)
    held = [v for k, v in memo.items()] + memo.get(id(memo), [])
    assert not any(isinstance(v, (guards.PrintSink, guards.ScriptPrint)) for v in held), held
