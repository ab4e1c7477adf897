"""A hostile tenant drives the whole server with a child that runs unrestricted code and sends
the host whatever frames it likes. Whatever it sends, the server keeps its promises to the
operator and to other tenants: never a 500, every admission slot released, no other tenant's
record lost, and another tenant's latency bounded while it runs.

The pool here allows raw mode and runs every script raw, so a "script" is arbitrary CPython in
a confined child; it finds its channel to the host with `gc` and writes frames to the socket.
"""

from __future__ import annotations

import functools
import itertools
import json
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from client_surface.table import sandbox_spec
from runtime.app import create_app
from runtime.executions.service import Executions
from runtime.settings import Settings
from sandbox.pool import WarmPool

_names = itertools.count()
HONEST_DONE = {"t": "done", "status": "ok", "result": None, "stdout": "",
               "stdout_truncated": False, "error": None, "warnings": [], "cpu_ms": 1.0}  # fmt: skip


def done_with(**fields: str) -> bytes:
    """A done frame whose listed fields are raw JSON text (so NaN, bad escapes, any type)."""
    parts = [f'"{k}":{json.dumps(v)}' for k, v in HONEST_DONE.items() if k not in fields]
    parts += [f'"{k}":{v}' for k, v in fields.items()]
    return ("{" + ",".join(parts) + "}").encode("utf-8", "surrogatepass")


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# Bytes a compromised child sends the host, each in place of an honest exchange.
HOSTILE_FRAMES: dict[str, list[bytes]] = {
    "stdout_lone_surrogate": [done_with(stdout='"a\\ud800b"')],
    "stdout_raw_surrogate_bytes": [done_with(stdout='"a\udcedb"')],
    "cpu_nan": [done_with(cpu_ms="NaN")],
    "cpu_infinity": [done_with(cpu_ms="Infinity")],
    "cpu_negative_huge": [done_with(cpu_ms="-1e308")],
    "result_nan": [done_with(result='{"x":NaN}')],
    "result_surrogate_key": [done_with(result='{"\\udfff":1}')],
    "result_900_deep": [done_with(result=deep(900))],
    "result_huge_int": [done_with(result="9" * 5000)],
    "message_not_text": [done_with(status='"error"', error='{"type":"E","message":{"a":[1]}}')],
    "error_odd_fields": [done_with(status='"error"', error='{"type":7,"message":"m",'
                                   '"line":"x","problems":["a",1],"extra":NaN}')],
    "error_not_object": [done_with(status='"error"', error='["E","m"]')],
    "status_unknown": [done_with(status='"pwned"')],
    "status_wrong_type": [done_with(status="1")],
    "wrong_types": [done_with(stdout_truncated='"yes"', warnings="[1,null]", stdout="{}")],
    "duplicate_keys": [b'{"t":"done","status":"ok","status":"pwned","cpu_ms":NaN}'],
    "not_an_object": [b"[1,2,3]"],
    "not_json": [b"{\"t\":\"done\",\"status\":"],
    "frames_after_done": [done_with(), done_with(status='"error"'), b"\x00\x01"],
    "call_nan_args": [b'{"t":"call","id":1,"fn":"client","args":{"method":"workspaces.list",'
                      b'"arguments":{"x":NaN}}}', done_with()],
    "unknown_frame_type": [b'{"t":"pwn"}'],
}  # fmt: skip


def hostile_script(frames: list[bytes], header_lie: int | None = None) -> str:
    """Raw code: send `frames` on the child's channel, then leave without a word more."""
    return (
        "import gc, os, struct\n"
        "ch = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')\n"
        f"frames = {frames!r}\n"
        "for body in frames:\n"
        "    try:\n"
        "        ch.sock.sendall(struct.pack('>I', len(body)) + body)\n"
        "    except OSError:\n"
        "        break\n"
        + (f"ch.sock.sendall(struct.pack('>I', {header_lie}) + b'x' * 65536)\n"
           if header_lie else "")
        + "os._exit(0)\n"
    )  # fmt: skip


HOSTILE_SCRIPTS = {name: hostile_script(frames) for name, frames in HOSTILE_FRAMES.items()}
HOSTILE_SCRIPTS["frame_of_3_gib_announced"] = hostile_script([], header_lie=3 << 30)
HOSTILE_SCRIPTS["closes_mid_frame"] = (
    "import gc, os, struct\n"
    "ch = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')\n"
    "ch.sock.sendall(struct.pack('>I', 1000) + b'{\"t\":\"done\"')\n"
    "os._exit(0)\n"
)


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in a response")

    return json.loads(text, parse_constant=refuse)


class Hosted:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.executions = client.app.state.executions  # type: ignore[attr-defined]
        self.pool = self.executions.runner.pool

    def tenant(self, name: str, **caps: Any) -> tuple[Any, dict[str, str]]:
        create = self.executions.tenants.create
        tenant, key = self.client.portal.call(  # type: ignore[union-attr]
            functools.partial(create, name, flora_kind="server", **caps)
        )
        return tenant, {"authorization": f"Bearer {key}"}

    def execute(self, auth: dict[str, str], code: str) -> Any:
        return self.client.post("/v1/execute", json={"code": code}, headers=auth)

    def running(self, tenant: Any) -> int:
        """The tenant's executions the server counts as running (its admission slots)."""
        return len(self.executions.recorder.admission._running.get(tenant.id, ()))


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("hostile"),
        backend_speed=0,
        pool_warm=4,
        timeout_s=10,
        cpu_s=10,
        tenant_per_minute=100_000,
    )
    pool = WarmPool(sandbox_spec(), size_max=settings.pool_max, warm=settings.pool_warm,
                    queue_max=settings.queue_max, allow_raw=True)  # fmt: skip
    pool.execute = functools.partial(pool.execute, raw=True)  # type: ignore[method-assign]
    with TestClient(create_app(settings, Executions(settings, pool=pool))) as client:
        yield Hosted(client)


@pytest.mark.parametrize("script", HOSTILE_SCRIPTS.values(), ids=HOSTILE_SCRIPTS.keys())
def test_no_frame_gives_a_500_or_a_record_that_cannot_be_read(hosted, script):
    tenant, auth = hosted.tenant(f"frames-{next(_names)}", max_concurrent=1)
    response = hosted.execute(auth, script)
    assert response.status_code == 200, response.text
    body = strict_json(response.text)
    response.content.decode("utf-8")  # strict UTF-8: no lone surrogate reached the bytes
    assert body["status"] in ("ok", "error", "rejected", "timeout", "limit_exceeded")
    assert isinstance(body["stdout"], str) and body["cpu_ms"] >= 0
    record = hosted.client.get(f"/v1/executions/{body['execution_id']}", headers=auth)
    assert record.status_code == 200, record.text
    assert strict_json(record.text)["state"] in ("done", "failed")
    assert hosted.running(tenant) == 0


def test_hostile_runs_leave_no_admission_slot_behind(hosted):
    tenant, auth = hosted.tenant("slots", max_concurrent=1)
    scripts = list(HOSTILE_SCRIPTS.values())
    for i in range(20):
        assert hosted.execute(auth, scripts[i % len(scripts)]).status_code == 200
    assert hosted.running(tenant) == 0
    honest = hosted.execute(auth, "result = 'still served'")
    assert honest.status_code == 200, honest.text  # not 429: no slot was leaked
    assert honest.json()["result"] == "still served"
    assert hosted.pool.health()["running"] == 0


def test_hostile_async_runs_leave_no_slot_or_task_behind(hosted):
    tenant, auth = hosted.tenant("async-slots", max_concurrent=4)
    ids = []
    for script in list(HOSTILE_SCRIPTS.values())[:12]:
        while True:  # at most 4 at once: a refusal now is the tenant's own limit, so wait
            queued = hosted.client.post("/v1/executions", json={"code": script}, headers=auth)
            if queued.status_code != 429:
                break
            time.sleep(0.05)
        assert queued.status_code == 202, queued.text
        ids.append(queued.json()["execution_id"])
    for execution_id in ids:
        while True:
            record = hosted.client.get(f"/v1/executions/{execution_id}", headers=auth)
            assert record.status_code == 200, record.text
            if strict_json(record.text)["state"] in ("done", "failed"):
                break
            time.sleep(0.05)
    assert hosted.running(tenant) == 0
    assert not hosted.executions._tasks


POISON = [HOSTILE_SCRIPTS[n] for n in ("cpu_nan", "stdout_lone_surrogate", "result_nan",
                                       "result_900_deep", "message_not_text")]  # fmt: skip


def test_no_other_tenants_record_is_lost_while_a_hostile_one_sends_poison(hosted):
    _, hostile = hosted.tenant("poisoner", max_concurrent=8)
    _, honest = hosted.tenant("bystander", max_concurrent=64)

    def poison(i: int) -> int:
        return hosted.execute(hostile, POISON[i % len(POISON)]).status_code

    def sync_run(i: int) -> str:
        response = hosted.execute(honest, f"result = {i}")
        assert response.status_code == 200 and response.json()["result"] == i, response.text
        return response.json()["execution_id"]

    def async_run(i: int) -> str:
        queued = hosted.client.post("/v1/executions", json={"code": f"result = {i}"},
                                    headers=honest)  # fmt: skip
        assert queued.status_code == 202, queued.text
        return queued.json()["execution_id"]

    with ThreadPoolExecutor(6) as workers:
        poisoned = workers.map(poison, range(40))
        sync_ids = list(workers.map(sync_run, range(30)))
        async_ids = list(workers.map(async_run, range(100, 112)))
        assert set(poisoned) == {200}
    expected = {**dict(zip(sync_ids, range(30), strict=True)),
                **dict(zip(async_ids, range(100, 112), strict=True))}  # fmt: skip
    for execution_id, value in expected.items():
        while True:
            record = hosted.client.get(f"/v1/executions/{execution_id}", headers=honest)
            assert record.status_code == 200, record.text
            body = record.json()
            if body["state"] not in ("queued", "running"):
                break
            time.sleep(0.05)
        assert (body["state"], body["status"], body["result"]) == ("done", "ok", value), body


def p50(latencies: list[float]) -> float:
    return statistics.median(latencies)


def timed_runs(hosted: Hosted, auth: dict[str, str], count: int) -> list[float]:
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        response = hosted.execute(auth, f"result = {i}")
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200 and response.json()["result"] == i
    return latencies


def test_an_honest_tenants_latency_stays_bounded_while_a_hostile_one_runs(hosted):
    _, hostile = hosted.tenant("flooder", max_concurrent=2)
    _, honest = hosted.tenant("latency", max_concurrent=2)
    timed_runs(hosted, honest, 5)  # warm
    solo = p50(timed_runs(hosted, honest, 20))
    big_call = (  # an 8 MiB call frame, sent whole: more than any call may be
        "import gc, os, struct\n"
        "ch = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')\n"
        'body = b\'{"t":"call","id":1,"fn":"client","args":"\' + b\'x\' * (8 << 20) + b\'"}\'\n'
        "try:\n"
        "    ch.sock.sendall(struct.pack('>I', len(body)) + body)\n"
        "except OSError:\n"
        "    pass\n"
        "os._exit(0)\n"
    )
    flood = [HOSTILE_SCRIPTS["frame_of_3_gib_announced"], HOSTILE_SCRIPTS["result_900_deep"],
             big_call]  # fmt: skip
    stop = False

    def attack() -> int:
        runs = 0
        while not stop:
            assert hosted.execute(hostile, flood[runs % len(flood)]).status_code == 200
            runs += 1
        return runs

    with ThreadPoolExecutor(2) as workers:
        attackers = [workers.submit(attack) for _ in range(2)]
        time.sleep(0.2)
        loaded = p50(timed_runs(hosted, honest, 20))
        stop = True
        assert sum(a.result() for a in attackers) > 0
    print(
        f"honest p50 alone {solo * 1000:.1f} ms, beside the hostile tenant {loaded * 1000:.1f} ms"
    )
    assert loaded < 10 * solo, (solo, loaded)
