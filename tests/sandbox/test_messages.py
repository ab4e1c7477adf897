"""Frames declared once: what the child encodes is what the host's derived Structs parse."""

from __future__ import annotations

import dataclasses
import json

import msgspec
import pytest

from sandbox import errors, frames, messages, protocol
from sandbox.limits import Limits
from sandbox.result import ExecutionResult

PAIRS = [
    (messages.Problem, frames.Problem),
    (messages.ErrorInfo, frames.ErrorInfo),
    (messages.Ready, frames.Ready),
    (messages.Call, frames.Call),
    (messages.Done, frames.Done),
    (messages.Run, frames.Run),
    (messages.Reply, frames.Reply),
]


@pytest.mark.parametrize("declared, derived", PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_the_hosts_structs_have_the_declared_fields_and_tags(declared, derived):
    assert derived.__struct_fields__ == tuple(f.name for f in dataclasses.fields(declared))
    assert derived.__struct_config__.forbid_unknown_fields
    assert derived.__struct_config__.tag == getattr(declared, "TAG", None)


def test_every_error_field_the_child_sends_reaches_the_result_unchanged():
    problem = messages.Problem("no such method", line=2, col=4, source="client.x()", hint="h")
    error = messages.ErrorInfo("PolicyError", "m", 2, "client.x()", "tb", "h", limit="calls",
                               problems=[problem], status=404, code="not_found",
                               fields=[{"field": "id", "message": "bad"}])  # fmt: skip
    body = messages.Done("limit_exceeded", error=error, warnings=["w"], cpu_ms=1.5).encode()
    parsed = frames.decode_child(body)
    assert frames.error_info(parsed.error) == error
    assert (parsed.warnings, parsed.cpu_ms) == (["w"], 1.5)


def test_a_done_frame_opens_with_its_tag_and_carries_its_result_text_as_is():
    body = messages.Done("ok", result='{"a":[1,2]}', stdout="é").encode()
    assert body.startswith(protocol.DONE_PREFIX)
    done = frames.decode_child(body)
    assert bytes(done.result) == b'{"a":[1,2]}' and frames.decode_result(done.result) == {
        "a": [1, 2]
    }
    assert done.stdout == "é"


def test_the_childs_call_and_ready_frames_parse_on_the_host():
    assert type(frames.decode_child(messages.Ready().encode())) is frames.Ready
    call = frames.decode_child(messages.Call(id=3, fn="client", args={"method": "m"}).encode())
    assert (call.id, call.fn, call.args) == (3, "client", {"method": "m"})


def test_the_child_refuses_to_encode_nan_rather_than_send_it():
    with pytest.raises(ValueError):
        messages.Call(id=1, fn="client", args=float("nan")).encode()
    with pytest.raises(ValueError):
        messages.encode_call(1, "client", {"x": [float("inf")]})


CALL_ARGS = [None, 0, -(2**63), 1.5, 1e300, "", "é\n\"\\\u2028", [], {}, [1, [2, {"a": None}]],
             {"method": "workspaces.list", "arguments": {"ok": True, "s": "\x00"}}]  # fmt: skip


@pytest.mark.parametrize("args", CALL_ARGS)
@pytest.mark.parametrize("concurrent", [False, True])
def test_a_call_frame_is_the_bytes_the_standard_encoder_makes(args, concurrent):
    message = {"t": "call", "id": 7, "fn": "client\u00e9", "args": args}
    if concurrent:
        message["concurrent"] = True
    expected = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    body = messages.encode_call(7, "client\u00e9", args, concurrent)
    assert body == expected.encode()
    assert messages.Call(7, "client\u00e9", args, concurrent).encode() == body
    call = frames.decode_child(body)
    assert (call.id, call.fn, call.args, call.concurrent) == (7, "client\u00e9", args, concurrent)


def test_a_lone_surrogate_in_a_call_is_refused_in_the_child():
    with pytest.raises(ValueError):
        messages.encode_call(1, "client", {"s": "\ud800"})


def test_the_child_reads_the_run_frame_the_host_encodes_with_its_limits():
    limits = Limits(memory_mb=128, max_calls=7)
    run = frames.Run(op="run", code="x = 1", inputs={"a": 1}, limits=limits,
                     host_functions=["noop"])  # fmt: skip
    read = messages.Run.from_json(json.loads(frames.encode(run)))
    assert read == messages.Run("run", "x = 1", {"a": 1}, limits, ["noop"])


def test_a_reply_the_host_encodes_is_read_by_the_child():
    reply = frames.Reply(id=2, ok=False, error={"class": "NotFoundError", "message": "gone"})
    read = messages.Reply.from_json(json.loads(frames.encode(reply)))
    assert read == messages.Reply(2, False, None, {"class": "NotFoundError", "message": "gone"})


def test_an_int_field_out_of_its_declared_range_is_refused():
    with pytest.raises(frames.FrameError):
        frames.decode_child(b'{"t":"call","id":0,"fn":"client"}')  # ids start at 1
    with pytest.raises(frames.FrameError):
        frames.decode_child(b'{"t":"done","status":"error","error":{"type":"E","message":"m",'
                            b'"line":9223372036854775808}}')  # fmt: skip


def test_a_result_the_host_makes_has_every_common_error_field():
    result = ExecutionResult.failed("limit_exceeded", errors.calls_exceeded(Limits(max_calls=5)))
    assert result.to_json()["error"] == {
        "type": "LimitExceeded",
        "message": "this execution may make at most 5 client calls",
        "line": None,
        "source": None,
        "traceback": None,
        "hint": errors.CALLS_HINT,
        "limit": "calls",
    }


def test_the_child_and_the_host_word_a_timeout_alike():
    limits = Limits(timeout_s=2.0)
    child = errors.timed_out(limits, line=3, source="while True: pass")
    host = errors.timed_out(limits, killed=True)
    assert child.message == "the script ran past its 2.0 s wall-clock limit (it was at line 3)"
    assert host.message == "the script ran past its 2.0 s wall-clock limit and was killed"
    assert child.hint == host.hint and child.type == host.type == "Timeout"


def test_derived_structs_do_not_accept_a_bool_for_an_int():
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"t":"call","id":true,"fn":"client"}', type=frames.Call)
