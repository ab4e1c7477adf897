"""The host against a fully compromised child: arbitrary frames on the channel, every limit held.

Each script runs as unrestricted CPython in a real sandbox child (raw mode), finds its channel
through `gc` and writes whatever it likes on it. For every case the host must: keep each limit
(calls served counted by the host function itself, stdout and result sizes on what it hands on),
return a result from `WarmPool.execute` (never raise) that is strict JSON and a valid API
response, give the pool slot back, and never buffer more than the frame cap.
"""

from __future__ import annotations

import json
import tracemalloc

import pytest
from hostile import CountingHost, InstantHost, assert_strict_result, script, send_bodies
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import frames, messages, pool, protocol
from sandbox.limits import Limits
from sandbox.result import ExecutionResult
from sandbox.selftest import RawSandbox

LIMITS = Limits(timeout_s=5, cpu_s=5, memory_mb=128, max_calls=5, stdout_bytes=4096,
                result_bytes=8192)  # fmt: skip
DONE_CAP = pool.done_frame_cap(LIMITS)


def run(
    raw: RawSandbox, code: str, limits: Limits = LIMITS, host: CountingHost | None = None
) -> tuple[ExecutionResult, int]:
    host = host or CountingHost()
    result = raw.run(code, limits, host_functions={"client": host})
    assert_strict_result(result)
    health = raw.health()
    assert (health["running"], health["waiting"]) == (0, 0), health
    return result, host.served


def broke_protocol(result: ExecutionResult) -> bool:
    error = result.error or {}
    return error.get("type") == "SandboxError" and "broke protocol" in error.get("message", "")


def assert_broke_protocol(result: ExecutionResult) -> None:
    assert result.status == "error", result
    assert broke_protocol(result), result.error


# --- calls: counted and refused in the host, whether a call waits on the host or is answered in
# the reader callback that read it (a host function that answers without waiting) -------------
HOSTS = {"waits": CountingHost, "answers-at-once": InstantHost}


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("max_calls", [1, 5, 40])
@pytest.mark.parametrize("pace", ["each-awaits-its-reply", "pipelined"])
def test_a_call_flood_is_served_at_most_max_calls_times(raw, max_calls, pace, host):
    wait = pace == "each-awaits-its-reply"
    code = script(
        f"for i in range(1, {max_calls * 3 + 1}):\n"
        f"    call(i, {{'method': 'projects.list'}}, wait={wait})\n"
        "time.sleep(30)\n"
    )
    result, served = run(raw, code, Limits(timeout_s=10, max_calls=max_calls), HOSTS[host]())
    assert served <= max_calls
    assert result.status == "limit_exceeded", result
    assert result.error["limit"] == "calls"


def test_the_call_over_the_limit_ends_the_execution_whatever_the_child_says_later(raw):
    code = script(
        "for i in range(1, 7):\n    call(i, wait=False)\n"
        "done(result='all fine', stdout='fine')\nvanish()\n"
    )
    result, served = run(raw, code)
    assert served == LIMITS.max_calls
    assert (result.status, result.error["limit"], result.result) == (
        "limit_exceeded", "calls", None)  # fmt: skip


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize(
    "ids", [[2], [1, 1], [1, 3], [0], [-1]], ids=["skips", "repeats", "gap", "zero", "negative"]
)
def test_calls_out_of_turn_are_a_protocol_violation(raw, ids, host):
    code = script("".join(f"call({i}, wait=False)\n" for i in ids) + "time.sleep(30)\n")
    result, served = run(raw, code, host=HOSTS[host]())
    assert_broke_protocol(result)
    assert served == len(ids) - 1


def test_replies_answered_at_once_and_never_read_are_held_by_the_in_flight_cap(raw):
    # Each reply is written in the callback that read its call; those the child leaves unread
    # fill its socket and stay in flight, and the call past the cap ends the execution.
    cap = messages.CALLS_IN_FLIGHT_MAX
    code = script(
        f"for i in range(1, {cap * 10}):\n"
        "    call(i, {'pad': 100000}, wait=False)\n"
        "    time.sleep(0.005)\n"
        "time.sleep(30)\n"
    )
    result, served = run(raw, code, Limits(timeout_s=5, max_calls=cap * 10), InstantHost())
    assert served <= cap + 8  # the few replies its socket buffer took
    assert_broke_protocol(result)
    assert "in flight" in result.error["message"]


def test_a_call_answered_at_once_after_the_limit_is_not_served(raw):
    code = script(
        "for i in range(1, 7):\n    call(i, wait=False)\n"
        "done(result='all fine', stdout='fine')\nvanish()\n"
    )
    result, served = run(raw, code, host=InstantHost())
    assert served == LIMITS.max_calls
    assert (result.status, result.error["limit"], result.result) == (
        "limit_exceeded", "calls", None)  # fmt: skip


# --- sizes: measured on the bytes received ---------------------------------------------------
@pytest.mark.parametrize("char", ["x", "é", "😀", "\x01"], ids=["ascii", "2-byte", "4-byte", "ctl"])
def test_stdout_past_the_limit_is_cut_to_the_limit_in_bytes(raw, char):
    repeat = LIMITS.stdout_bytes  # up to 4x the limit in bytes, 6x once escaped in JSON
    result, _ = run(raw, script(f"done(stdout={char!r} * {repeat}, stdout_truncated=False)\n"
                                "vanish()\n"))  # fmt: skip
    assert result.status == "ok", result
    assert len(result.stdout.encode()) <= LIMITS.stdout_bytes
    assert result.stdout_truncated is (len(char.encode()) > 1)


@pytest.mark.parametrize("extra", [1, 100, 4000])
def test_a_result_past_result_bytes_is_refused_on_its_bytes(raw, extra):
    size = LIMITS.result_bytes + extra - 2  # a JSON string: two quotes
    result, _ = run(raw, script(f"done(result='r' * {size})\nvanish()\n"))
    assert result.status == "limit_exceeded", result
    assert result.error["limit"] == "result_size"
    assert result.result is None


def test_a_result_at_result_bytes_is_kept(raw):
    size = LIMITS.result_bytes - 2
    result, _ = run(raw, script(f"done(result='r' * {size})\nvanish()\n"))
    assert result.status == "ok" and len(result.result) == size


@pytest.mark.parametrize("cpu", [-5.0, 1e300, 1e15])
def test_a_reported_cpu_time_is_bounded_by_the_wall_time_measured(raw, cpu):
    result, _ = run(raw, script(f"done(cpu_ms={cpu!r})\nvanish()\n"))
    assert result.status == "ok"
    assert 0.0 <= result.cpu_ms <= result.duration_ms


# --- frame size: capped on read --------------------------------------------------------------
@pytest.mark.parametrize(
    "how",
    [
        "call-header-60mb",
        "call-streamed-2mb",
        "done-header-over-cap",
        "done-streamed-over-cap",
        "ready-300k",
        "max-header",
    ],
)
def test_an_oversized_frame_is_refused_before_it_is_buffered(raw, how):
    body = {
        "call-header-60mb": "sock.sendall(struct.pack('>I', 60 << 20) + b'{\"t\":\"call\"')\n"
        "time.sleep(30)\n",
        "call-streamed-2mb": "sock.sendall(struct.pack('>I', 2 << 20) + b'{\"t\":\"call\",')\n"
        "for _ in range(32):\n    sock.sendall(b' ' * 65536)\ntime.sleep(30)\n",
        "done-header-over-cap": f"sock.sendall(struct.pack('>I', {DONE_CAP + 1}))\n"
        "time.sleep(30)\n",
        "done-streamed-over-cap": f"sock.sendall(struct.pack('>I', {DONE_CAP * 4}) + "
        'b\'{"t":"done",\')\n'
        "for _ in range(40):\n    sock.sendall(b' ' * 65536)\ntime.sleep(30)\n",
        "ready-300k": "send(b'{\"t\":\"ready\"' + b' ' * 300_000 + b'}')\ntime.sleep(30)\n",
        "max-header": "sock.sendall(b'\\xff\\xff\\xff\\xff')\ntime.sleep(30)\n",
    }[how]
    tracemalloc.start()
    try:
        result, served = run(raw, script(body))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_broke_protocol(result)
    assert served == 0
    assert peak < DONE_CAP + (2 << 20), f"the host buffered {peak} bytes"
    assert "cap" in result.error["message"]


def test_a_large_call_argument_is_refused_in_the_child_with_a_message(raw):
    code = script(
        "try:\n    channel.call('client', {'method': 'files.create', 'arguments': "
        "{'x': 'y' * 400_000}})\n"
        "except ValueError as exc:\n    done(result=str(exc))\n    vanish()\n"
    )
    result, served = run(raw, code)
    assert served == 0
    assert "over the 262144-byte limit for one call" in result.result


# --- strict parsing: every field of every frame kind -----------------------------------------
NASTY = {
    "nan": b"NaN",
    "infinity": b"-Infinity",
    "float-overflow": b"1e999",
    "escaped-surrogate": b'"\\ud800"',
    "raw-surrogate": b'"\xed\xa0\x80"',
    "deep": b"[" * 900 + b"]" * 900,
    "int-over-64-bit": b"18446744073709551616",
    "object": b'{"a":1}',
    "list": b"[1]",
    "bool": b"true",
    "number": b"7",
    "string": b'"s"',
}
DONE_FIELDS = ["t", "status", "result", "stdout", "stdout_truncated", "error", "warnings",
               "cpu_ms", "error.type", "error.message", "error.line", "error.limit",
               "error.problems", "unknown"]  # fmt: skip
CALL_FIELDS = ["t", "id", "fn", "args", "unknown"]
STRINGS = {"stdout", "error.type", "error.message", "fn"}
ACCEPTED = {  # (field, value) pairs that are the right type: the frame stands
    ("result", "object"), ("result", "list"), ("result", "bool"), ("result", "number"),
    ("result", "string"), ("stdout", "string"), ("stdout_truncated", "bool"),
    ("cpu_ms", "number"), ("cpu_ms", "int-over-64-bit"), ("id", "number"), ("args", "object"),
    ("args", "list"),
    ("args", "bool"), ("args", "number"), ("args", "string"), ("fn", "string"),
    ("error.type", "string"), ("error.message", "string"), ("error.line", "number"),
}  # fmt: skip


def _done_with(field: str, value: bytes) -> bytes:
    """A done frame, right in every field but `field`: ok with a result, or an error."""
    failed = field.startswith("error")
    base = {"t": b'"done"', "status": b'"error"' if failed else b'"ok"', "result": b"null",
            "stdout": b'""', "stdout_truncated": b"false", "warnings": b"[]", "cpu_ms": b"1",
            "error": b'{"type":"E","message":"m"}' if failed else b"null"}  # fmt: skip
    if field.startswith("error."):
        error = {"type": b'"E"', "message": b'"m"', field[6:]: value}
        base["error"] = b"{" + b",".join(b'"%s":%s' % (k.encode(), v)
                                         for k, v in error.items()) + b"}"  # fmt: skip
    else:
        base[field] = value
    return b"{" + b",".join(b'"%s":%s' % (k.encode(), v) for k, v in base.items()) + b"}"


def _call_with(field: str, value: bytes) -> bytes:
    base = {"t": b'"call"', "id": b"1", "fn": b'"client"', "args": b"null"}
    base[field] = value
    return b"{" + b",".join(b'"%s":%s' % (k.encode(), v) for k, v in base.items()) + b"}"


@pytest.mark.parametrize("field", DONE_FIELDS)
@pytest.mark.parametrize("nasty", list(NASTY))
def test_a_nasty_value_in_any_field_of_a_done_frame_never_reaches_the_result(raw, field, nasty):
    result, _ = run(raw, send_bodies(_done_with(field, NASTY[nasty])))
    if (field, nasty) in ACCEPTED:
        assert not broke_protocol(result), result
    else:
        assert_broke_protocol(result)


@pytest.mark.parametrize("field", CALL_FIELDS)
@pytest.mark.parametrize("nasty", list(NASTY))
def test_a_nasty_value_in_any_field_of_a_call_frame_is_never_served(raw, field, nasty):
    body = _call_with(field, NASTY[nasty])
    result, served = run(raw, script(f"send({body!r})\nchannel.reader.recv()\nvanish()\n"))
    if (field, nasty) in ACCEPTED and not (field == "id" and nasty == "number"):
        if field == "fn":
            assert served == 0  # no host function of that name: an error reply
        else:
            assert served == 1
    else:
        assert served == 0
        assert_broke_protocol(result)


@pytest.mark.parametrize(
    "bodies",
    [
        [b'{"t":"ready"}'],
        [b'{"t":"reply","id":1,"ok":true}'],
        [b'{"t":"run","op":"run","code":"","inputs":{},"limits":{},"host_functions":[]}'],
        [b'{"t":"unknown"}'],
        [b"[]"],
        [b""],
        [b"\x00\x01\x02"],
        [b'{"t":"call","id":1,"fn":"client"} trailing'],
    ],
    ids=["second-ready", "reply", "run", "unknown-type", "array", "empty", "binary", "trailing"],
)
def test_a_frame_of_an_unknown_kind_ends_the_execution(raw, bodies):
    result, served = run(raw, send_bodies(*bodies))
    assert_broke_protocol(result)
    assert served == 0


def test_duplicate_keys_leave_one_value_within_the_limits(raw):
    stdout = "s" * (LIMITS.stdout_bytes * 4)
    body = ('{"t":"done","status":"limit_exceeded","status":"ok","stdout":"a",'
            f'"stdout":"{stdout}","result":1,"result":2}}').encode()  # fmt: skip
    result, _ = run(raw, send_bodies(body))
    assert (result.status, result.result) == ("ok", 2)
    assert len(result.stdout.encode()) <= LIMITS.stdout_bytes and result.stdout_truncated


# --- sequencing: after done, mid-frame, never -----------------------------------------------
@pytest.mark.parametrize(
    "after",
    [b'{"t":"call","id":1,"fn":"client"}', b'{"t":"done","status":"ok","result":2}', b"junk"],
    ids=["call", "second-done", "junk"],
)
def test_frames_after_done_are_never_acted_on(raw, after):
    first = b'{"t":"done","status":"ok","result":1}'
    result, served = run(raw, script(f"sock.sendall({(_frame(first) + _frame(after))!r})\n"
                                     "vanish()\n"))  # fmt: skip
    assert served == 0
    assert result.status == "error" or result.result == 1  # never the second frame's word
    if result.status == "error":
        assert_broke_protocol(result)


@pytest.mark.parametrize("cut", [2, 4, 10, 30], ids=["in-header", "header-only", "body", "late"])
def test_a_child_that_closes_mid_frame_ends_the_execution(raw, cut):
    whole = _frame(b'{"t":"done","status":"ok","result":"' + b"x" * 40 + b'"}')
    result, _ = run(raw, script(f"sock.sendall({whole[:cut]!r})\nvanish()\n"))
    assert result.status == "error", result
    assert result.error["type"] == "SandboxError"


@pytest.mark.parametrize("ignores_alarm", [False, True])
def test_a_child_that_never_answers_is_killed_at_its_deadline(raw, ignores_alarm):
    code = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n" if ignores_alarm else ""
    result, _ = run(raw, script(code + "time.sleep(60)\n"), Limits(timeout_s=0.5))
    assert result.status == "timeout", result
    assert result.duration_ms < 30_000  # killed, not waited out (the sleep is 60 s)


def test_a_child_that_calls_and_never_reads_its_reply_ends_at_its_deadline(raw):
    result, served = run(raw, script("call(1, wait=False)\ntime.sleep(60)\n"),
                         Limits(timeout_s=0.5))  # fmt: skip
    assert served == 1 and result.status == "timeout"


# --- property-based: arbitrary frames ----------------------------------------------------------
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)  # fmt: skip
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)  # fmt: skip
done_frame = st.fixed_dictionaries(
    {"t": st.just("done")},
    optional={
        "status": st.sampled_from(["ok", "error", "timeout", "rejected", "limit_exceeded", "x"]),
        "result": json_value, "stdout": st.text(max_size=40) | json_value,
        "stdout_truncated": json_value, "error": json_value, "warnings": json_value,
        "cpu_ms": json_value,
    },
)  # fmt: skip
call_frame = st.fixed_dictionaries(
    {"t": st.just("call"), "id": st.integers() | json_value, "fn": st.just("client") | json_value,
     "args": json_value},
)  # fmt: skip
fuzz = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def _encode_any(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


@fuzz
@given(st.lists(call_frame | done_frame, min_size=1, max_size=4))
def test_arbitrary_frames_keep_every_limit(raw, sequence):
    result, served = run(raw, send_bodies(*(_encode_any(f) for f in sequence)))
    assert served <= LIMITS.max_calls
    assert len(result.stdout.encode()) <= LIMITS.stdout_bytes
    assert len(json.dumps(result.result).encode()) <= LIMITS.result_bytes


@fuzz
@given(st.binary(max_size=200))
def test_arbitrary_bytes_keep_every_limit(raw, data):
    result, served = run(raw, script(f"sock.sendall({data!r})\nvanish()\n"))
    assert served == 0
    assert result.status in ("ok", "error", "limit_exceeded")


def _frame(body: bytes) -> bytes:
    return protocol.HEADER.pack(len(body)) + body


assert frames.MAX_DEPTH < 900  # the "deep" value above is past the bound
