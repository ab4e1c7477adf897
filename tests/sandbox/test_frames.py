"""Strict parsing of what a child sends: every frame kind, every field, refused as a whole."""

from __future__ import annotations

import json

import msgspec
import pytest

from sandbox import frames

DONE = b'{"t":"done","status":"ok","result":1,"stdout":"","stdout_truncated":false,"error":null,'
DONE += b'"warnings":[],"cpu_ms":1.5}'


def test_the_frames_an_honest_child_sends_parse_to_their_types():
    assert type(frames.decode_child(b'{"t":"ready"}')) is frames.Ready
    call = frames.decode_child(b'{"t":"call","id":1,"fn":"client","args":{"method":"m"}}')
    assert (call.id, call.fn, call.args) == (1, "client", {"method": "m"})
    done = frames.decode_child(DONE)
    assert done.status == "ok" and frames.decode_result(done.result) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"t":"done","status":"ok","cpu_ms":NaN}',
        b'{"t":"done","status":"ok","cpu_ms":Infinity}',
        b'{"t":"done","status":"ok","cpu_ms":-Infinity}',
        b'{"t":"done","status":"ok","cpu_ms":1e999}',
        b'{"t":"call","id":1,"fn":"client","args":NaN}',
        b'{"t":"call","id":1,"fn":"client","args":[1e400]}',
    ],
    ids=["nan", "inf", "-inf", "1e999", "nan-arg", "huge-float-arg"],
)
def test_non_finite_numbers_are_refused(body):
    with pytest.raises(frames.FrameError):
        frames.decode_child(body)


@pytest.mark.parametrize(
    "text",
    [
        b'"\\ud800"',
        b'"\\udc00"',
        b'"a\\ud800b"',
        b'"\\ud800\\ud800"',
        b'"\\ud800\\u0041"',
        b'"\xed\xa0\x80"',
        b'"\xed\xbf\xbf"',
        b'"\xff"',
    ],  # fmt: skip
    ids=[
        "high",
        "low",
        "high-in-text",
        "two-highs",
        "high-then-ascii",
        "raw-d800",
        "raw-dfff",
        "invalid-utf8",
    ],  # fmt: skip
)
@pytest.mark.parametrize("field", ["stdout", "warnings", "error.message", "fn", "args"])
def test_lone_surrogates_are_refused_in_every_string_field(text, field):
    body = {
        "stdout": b'{"t":"done","status":"ok","stdout":%s}',
        "warnings": b'{"t":"done","status":"ok","warnings":[%s]}',
        "error.message": b'{"t":"done","status":"error","error":{"type":"E","message":%s}}',
        "fn": b'{"t":"call","id":1,"fn":%s}',
        "args": b'{"t":"call","id":1,"fn":"f","args":{"k":[%s]}}',
    }[field] % text
    with pytest.raises(frames.FrameError):
        frames.decode_child(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"t":"call","id":"1","fn":"client"}',
        b'{"t":"call","id":true,"fn":"client"}',
        b'{"t":"call","id":1.0,"fn":"client"}',
        b'{"t":"call","id":0,"fn":"client"}',
        b'{"t":"call","id":9223372036854775808,"fn":"client"}',
        b'{"t":"call","id":1,"fn":7}',
        b'{"t":"done","status":"fine"}',
        b'{"t":"done","status":"ok","stdout":5}',
        b'{"t":"done","status":"ok","stdout_truncated":"yes"}',
        b'{"t":"done","status":"ok","warnings":"w"}',
        b'{"t":"done","status":"ok","warnings":[1]}',
        b'{"t":"done","status":"ok","cpu_ms":"1"}',
        b'{"t":"done","status":"error","error":"boom"}',
        b'{"t":"done","status":"error","error":{"type":"E","message":{"x":1}}}',
        b'{"t":"done","status":"error","error":{"type":"E","message":"m","line":"3"}}',
        b'{"t":"done","status":"error","error":{"type":"E","message":"m","limit":"disk"}}',
        b'{"t":"done","status":"error","error":{"type":"E","message":"m","problems":[1]}}',
        b'{"t":"done","status":"error","error":{"type":"E","message":"m","extra":1}}',
        b'{"t":"done","status":"ok","extra":1}',
        b'{"t":"ready","extra":1}',
        b'{"t":"reply","id":1,"ok":true}',
        b'{"t":"run"}',
        b'{"t":"nope"}',
        b'{"status":"ok"}',
        b"[]",
        b'"done"',
        b"",
        b'{"t":"ready"} {"t":"ready"}',
    ],
)
def test_a_field_of_the_wrong_type_or_an_unknown_shape_is_refused(body):
    with pytest.raises(frames.FrameError):
        frames.decode_child(body)


@pytest.mark.parametrize("where", ["args", "result"])
@pytest.mark.parametrize("depth", [frames.MAX_DEPTH + 1, 900, 5000, 200_000])
def test_nesting_past_the_bound_is_refused_in_arguments_and_results(where, depth):
    nested = b"[" * depth + b"]" * depth
    with pytest.raises(frames.FrameError, match="nested|not strict"):
        if where == "args":
            frames.decode_child(b'{"t":"call","id":1,"fn":"f","args":%s}' % nested)
        else:
            done = frames.decode_child(b'{"t":"done","status":"ok","result":%s}' % nested)
            frames.decode_result(done.result)


def test_nesting_at_the_bound_is_accepted():
    nested = json.loads("[" * frames.MAX_DEPTH + "]" * frames.MAX_DEPTH)
    frames.check_value(nested, "a value")


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**30, -(10**400)])
def test_integers_outside_the_signed_64_bit_range_are_refused(number):
    with pytest.raises(frames.FrameError, match="64-bit"):
        frames.decode_child(b'{"t":"call","id":1,"fn":"f","args":{"n":[%d]}}' % number)
    done = frames.decode_child(b'{"t":"done","status":"ok","result":%d}' % number)
    with pytest.raises(frames.FrameError, match="64-bit"):
        frames.decode_result(done.result)


def test_duplicate_keys_resolve_to_one_value_the_host_then_owns():
    """msgspec keeps the last; the host forwards only what it parsed, so no reader differs."""
    done = frames.decode_child(b'{"t":"done","status":"error","status":"ok","stdout":"a",'
                               b'"stdout":"b"}')  # fmt: skip
    assert (done.status, done.stdout) == ("ok", "b")
    with pytest.raises(frames.FrameError):  # a second tag cannot turn a frame into another kind
        frames.decode_child(b'{"t":"done","t":"call","id":1,"fn":"f"}')


def test_error_strings_are_cut_to_their_bounds_and_odd_flora_fields_reduced():
    error = {"type": "E" * 1000, "message": "m" * 10_000, "traceback": "t" * 100_000,
             "status": "404", "code": 5, "fields": [{"field": 1, "message": [2]}, "x"],
             "problems": [{"message": "p"}] * 500}  # fmt: skip
    body = msgspec.json.encode({"t": "done", "status": "error", "error": error})
    info = frames.decode_child(body).error
    assert len(info.type) == frames.STRING_BOUNDS["type"]
    assert len(info.message) == frames.STRING_BOUNDS["message"]
    assert len(info.traceback) == frames.STRING_BOUNDS["traceback"]
    assert (info.status, info.code) == (None, None)
    assert info.fields == [{"field": "1", "message": "[2]"}]
    assert len(info.problems) == frames.MAX_PROBLEMS
