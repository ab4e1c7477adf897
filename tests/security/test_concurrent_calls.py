"""Concurrent client calls (asyncio.gather) against a compromised child and a hostile script.

With the policy layer gone (a raw child writing its own frames) the host still holds: at most
CALLS_IN_FLIGHT_MAX calls in flight (one more ends the execution), ids strictly in turn (a
duplicate is a protocol violation), `max_calls` in all whatever the child says is concurrent,
replies matched to their calls whatever order they finish in, and no host call left running
once the execution has ended (done, deadline). With the policy on, the objects asyncio gives a
script (awaitables, tasks) lead nowhere: not to a greenlet, a frame or the function they hold.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hostile import assert_strict_result, script
from test_hostile_child import LIMITS, assert_broke_protocol

from sandbox.limits import Limits
from sandbox.messages import CALLS_IN_FLIGHT_MAX
from sandbox.selftest import RawSandbox

CONCURRENT_PRELUDE = """
def ccall(i, args=None):
    send(json.dumps({"t": "call", "id": i, "fn": "client", "args": args, "concurrent": True}))
"""


class SlowHost:
    """Counts calls started, finished and cancelled; each waits `args['s']` seconds."""

    def __init__(self) -> None:
        self.started = self.finished = self.cancelled = 0

    async def __call__(self, args: Any) -> Any:
        self.started += 1
        try:
            await asyncio.sleep(args.get("s", 0) if isinstance(args, dict) else 0)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        if not isinstance(args, dict):
            return None
        return {"n": args.get("n"), "pad": "x" * int(args.get("pad", 0))}


def run(raw: RawSandbox, body: str, limits: Limits = LIMITS) -> tuple[Any, SlowHost]:
    host = SlowHost()
    result = raw.run(script(CONCURRENT_PRELUDE + body), limits, host_functions={"client": host})
    assert_strict_result(result)
    health = raw.health()
    assert (health["running"], health["waiting"]) == (0, 0), health
    return result, host


def test_more_calls_in_flight_than_the_cap_end_the_execution(raw):
    many = Limits(timeout_s=5, max_calls=CALLS_IN_FLIGHT_MAX * 4)
    body = (
        f"for i in range(1, {CALLS_IN_FLIGHT_MAX + 10}):\n"
        "    ccall(i, {'s': 3})\n"
        "time.sleep(30)\n"
    )
    result, host = run(raw, body, many)
    assert_broke_protocol(result)
    assert "in flight" in result.error["message"]
    assert host.started <= CALLS_IN_FLIGHT_MAX
    assert host.finished == 0  # every call still running was cancelled with the execution


def test_calls_sent_without_the_hint_count_against_the_cap_too(raw):
    many = Limits(timeout_s=5, max_calls=CALLS_IN_FLIGHT_MAX * 4)
    body = (
        f"for i in range(1, {CALLS_IN_FLIGHT_MAX + 1}):\n"
        "    ccall(i, {'s': 3})\n"
        f"call({CALLS_IN_FLIGHT_MAX + 1}, {{'s': 0}}, wait=False)\n"
        "time.sleep(30)\n"
    )
    result, host = run(raw, body, many)
    assert_broke_protocol(result)
    assert host.started <= CALLS_IN_FLIGHT_MAX


@pytest.mark.parametrize(
    "ids", [[1, 1], [1, 2, 2], [2], [1, 3]], ids=["dup", "dup2", "skip", "gap"]
)
def test_concurrent_calls_out_of_turn_are_a_protocol_violation(raw, ids):
    body = "".join(f"ccall({i}, {{'s': 1}})\n" for i in ids) + "time.sleep(30)\n"
    result, host = run(raw, body)
    assert_broke_protocol(result)
    assert host.started <= len(set(ids))


def test_replies_come_in_completion_order_each_with_its_calls_id(raw):
    body = (
        "for i, s in ((1, 0.6), (2, 0.1), (3, 0.3)):\n"
        "    ccall(i, {'s': s, 'n': i * 10})\n"
        "got = [channel.reader.recv() for _ in range(3)]\n"
        "done(result=[[r['id'], r['value']['n']] for r in got])\n"
        "vanish()\n"
    )
    result, host = run(raw, body)
    assert result.status == "ok", result
    assert result.result == [[2, 20], [3, 30], [1, 10]]
    assert host.finished == 3


def test_a_concurrent_call_flood_is_served_at_most_max_calls_times(raw):
    body = (
        "for i in range(1, 200):\n"
        "    ccall(i, {'s': 0})\n"
        "    if i % 4 == 0:\n"
        "        for _ in range(4):\n"
        "            channel.reader.recv()\n"
        "time.sleep(30)\n"
    )
    result, host = run(raw, body)
    assert host.started <= LIMITS.max_calls
    assert result.status == "limit_exceeded" and result.error["limit"] == "calls", result


def test_done_with_calls_in_flight_cancels_them(raw):
    body = "ccall(1, {'s': 1})\nccall(2, {'s': 1})\ndone(result='left them')\nvanish()\n"
    result, host = run(raw, body)
    assert result.status == "ok" and result.result == "left them", result
    time.sleep(1.5)  # past the calls' own second: none of them went on to finish
    assert host.finished == 0 and host.cancelled == host.started


def test_the_deadline_cancels_every_call_in_flight(raw):
    body = "for i in range(1, 4):\n    ccall(i, {'s': 30})\ntime.sleep(60)\n"
    result, host = run(raw, body, Limits(timeout_s=1, max_calls=5))
    assert result.status == "timeout", result
    assert host.finished == 0 and host.cancelled == 3


def test_a_child_that_never_reads_its_replies_is_held_by_the_cap(raw):
    # A reply is in flight until it is written whole: replies the child leaves unread fill its
    # socket, stay in flight, and the call past the cap ends the execution; so the host holds at
    # most the cap's worth of replies, never one per call the child sends.
    many = Limits(timeout_s=5, max_calls=CALLS_IN_FLIGHT_MAX * 10)
    body = (
        f"for i in range(1, {CALLS_IN_FLIGHT_MAX * 10}):\n"
        "    ccall(i, {'s': 0, 'pad': 100000})\n"
        "    time.sleep(0.005)\n"
        "time.sleep(30)\n"
    )
    result, host = run(raw, body, many)
    assert host.started <= CALLS_IN_FLIGHT_MAX + 8  # the few replies its socket buffer took
    assert_broke_protocol(result)
    assert "in flight" in result.error["message"]


# --- with the policy on ----------------------------------------------------------------------
def test_awaitables_and_tasks_lead_nowhere(server):
    names = ("_fn", "_args", "_g", "_aw", "_observers", "cr_frame", "cr_code", "gi_frame",
             "gr_frame", "__self__", "__func__", "__closure__", "__globals__", "__dict__",
             "__reduce_ex__")  # fmt: skip
    body = server.execute(
        "import asyncio\n"
        "async def c():\n    return 1\n"
        "async def main():\n"
        "    aw = c()\n"
        "    task = asyncio.create_task(c())\n"
        "    out = []\n"
        f"    for name in {names!r}:\n"
        "        for obj in (aw, task):\n"
        "            try:\n                getattr(obj, name)\n                out.append(name)\n"
        "            except Exception:\n                out.append('refused')\n"
        "    makers = (lambda: type(aw)(), lambda: type(task)(),\n"
        "              lambda: type('T', (type(task),), {}))\n"
        "    for make in makers:\n"
        "        try:\n            make()\n            out.append('made')\n"
        "        except Exception:\n            out.append('refused')\n"
        "    out.append(await task)\n"
        "    aw.close()\n"
        "    return out\n"
        "asyncio.run(main())\n"
    )
    assert body["status"] == "ok", body
    assert body["result"][:-1] == ["refused"] * (len(names) * 2 + 3)
    assert body["result"][-1] == 1


def test_max_calls_holds_across_gathered_calls(server):
    body = server.execute(
        "import asyncio\n"
        "async def main():\n"
        "    return await asyncio.gather(*[client.models.list() for _ in range(40)],\n"
        "                                return_exceptions=True)\n"
        "asyncio.run(main())\n",
        max_calls=10,
    )
    assert body["status"] == "limit_exceeded", body
    assert body["error"]["limit"] == "calls"


def test_a_gather_of_endless_sleeps_ends_at_the_deadline(server):
    body = server.execute(
        "import asyncio\nawait asyncio.gather(*[asyncio.sleep(10 ** 6) for _ in range(200)])",
        timeout_s=1,
    )
    assert body["status"] == "timeout", body
