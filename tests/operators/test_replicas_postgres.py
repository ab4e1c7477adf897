"""Several replicas on one PostgreSQL: async runs read anywhere, tenant limits held across
replicas, an execution cancelled from any replica, and a replica killed mid-execution leaves
that execution failed, not running.

Runs two `terrarium serve` processes on an empty database of the session's throwaway PostgreSQL
(tests/conftest.py; `make test` installs the binaries when missing, see
scripts/ensure-postgres.sh).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx
import pytest
from cryptography.fernet import Fernet
from served import TERRARIUM
from served import ServedTerrarium as Replica
from throwaway_pg import fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def database_url(postgres_server: str) -> str:
    """An empty database of this module's own on the session's PostgreSQL server."""
    return fresh_database(postgres_server, "replicas")


@pytest.fixture(scope="module")
def cluster(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("replicas")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TERRARIUM_SECRET_KEY": Fernet.generate_key().decode(),
        "TERRARIUM_BACKEND_SPEED": "0",
        "TERRARIUM_POOL_WARM": "2",
        "TERRARIUM_HEARTBEAT_INTERVAL_S": "0.5",
        "TERRARIUM_INSTANCE_STALE_S": "3",
    }
    env.pop("FLORA_API_KEY", None)
    replicas = []
    try:
        replicas.append(Replica(env, root / "a"))  # one at a time: the first seeds the database
        replicas.append(Replica(env, root / "b"))
        made = subprocess.run(
            [TERRARIUM, "tenants", "create", "shared", "--server-flora", "--max-concurrent", "2"],
            env={**env, "TERRARIUM_DATA_DIR": str(root / "cli")},
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        key = json.loads(made.stdout)["runtime_key"]
        yield replicas[0], replicas[1], {"authorization": f"Bearer {key}"}
    finally:
        for replica in replicas:
            replica.stop()


def _submit(replica: Replica, headers: dict, code: str) -> httpx.Response:
    return httpx.post(replica.base + "/v1/executions", json={"code": code}, headers=headers)


def _wait(replica: Replica, headers: dict, execution_id: str, states: tuple, timeout=30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{replica.base}/v1/executions/{execution_id}", headers=headers).json()
        if body.get("state") in states or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_an_async_execution_submitted_on_one_replica_is_read_on_the_other(cluster):
    a, b, headers = cluster
    submitted = _submit(a, headers, "import time\ntime.sleep(0.5)\nprint('on a')\n{'x': 1}")
    assert submitted.status_code == 202, submitted.text
    body = _wait(b, headers, submitted.json()["execution_id"], ("done", "failed"))
    assert body["state"] == "done" and body["status"] == "ok", body
    assert body["result"] == {"x": 1} and body["stdout"] == "on a\n"


def test_a_sync_answer_on_one_replica_is_read_at_once_on_the_other(cluster):
    a, b, headers = cluster
    for i in range(10):
        here, there = (a, b) if i % 2 else (b, a)
        answered = httpx.post(here.base + "/v1/execute", json={"code": f"{i}"}, headers=headers)
        assert answered.status_code == 200, answered.text
        execution_id = answered.json()["execution_id"]
        record = httpx.get(f"{there.base}/v1/executions/{execution_id}", headers=headers).json()
        assert record["state"] == "done" and record["result"] == i, record


def test_on_postgresql_the_final_state_is_written_before_the_answer(
    database_url, tmp_path, monkeypatch
):
    """Other replicas count a tenant's running executions from the database, so an answered
    execution must not still look running there, however slow the background writer is."""
    import asyncio

    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from runtime.app import create_app
    from runtime.db import create_engine
    from runtime.executions import recorder
    from runtime.executions.records import ExecutionRow
    from runtime.settings import Settings

    class SlowWriter(recorder.RecordWriter):
        def __init__(self, engine, linger_s: float = 0.0) -> None:  # type: ignore[no-untyped-def]
            super().__init__(engine, linger_s=1.0)

    monkeypatch.setattr(recorder, "RecordWriter", SlowWriter)
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, backend_speed=0, pool_warm=1,
        secret_key=Fernet.generate_key().decode(),
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        service = client.app.state.executions
        # The cluster's servers made the default tenant's key; a later server makes none.
        key = client.portal.call(service.tenants.add_key, service.default_tenant.id, "final")
        answered = client.post(
            "/v1/execute", json={"code": "7"}, headers={"authorization": f"Bearer {key}"}
        )
        assert answered.status_code == 200, answered.text

        async def state() -> str:
            engine = create_engine(settings)
            try:
                async with engine.connect() as conn:
                    found = await conn.execute(
                        select(ExecutionRow.state).where(
                            ExecutionRow.id == answered.json()["execution_id"]
                        )
                    )
                    return found.scalar_one()
            finally:
                await engine.dispose()

        assert asyncio.run(state()) == "done"


def test_a_tenants_concurrency_limit_holds_across_replicas_and_its_queue_is_served(cluster):
    """The tenant may run 2 at once: 7 requests spread over both replicas wait their turn (a
    slot freed on the other replica is found by polling) and are all served, never 3 at once."""
    from concurrent.futures import ThreadPoolExecutor

    a, b, headers = cluster
    code = "import time\nstarted = time.time()\ntime.sleep(0.8)\n[started, time.time()]"

    def one(i: int) -> httpx.Response:
        replica = (a, b)[i % 2]
        if i == 6:  # an asynchronous one waits its turn too, then answers 202
            return _submit(replica, headers, code)
        return httpx.post(replica.base + "/v1/execute", json={"code": code}, headers=headers,
                          timeout=60)  # fmt: skip

    with ThreadPoolExecutor(7) as pool:
        answers = list(pool.map(one, range(7)))
    assert [r.status_code for r in answers] == [200] * 6 + [202], [r.text for r in answers]
    queued = _wait(a, headers, answers[6].json()["execution_id"], ("done", "failed"))
    assert queued["state"] == "done", queued
    spans = [r.json()["result"] for r in answers[:6]] + [queued["result"]]
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    at_once = most = 0
    for _, step in edges:  # an end before a start at the same instant
        at_once += step
        most = max(most, at_once)
    assert most == 2, spans


def test_an_execution_running_on_one_replica_is_cancelled_from_the_other(cluster):
    """DELETE on b of an execution a runs: a kills its child and records it cancelled; b
    answers with that record (the execution sleeps a minute, so it ended by the cancel)."""
    a, b, headers = cluster
    submitted = _submit(a, headers, "import time\ntime.sleep(60)\n1")
    assert submitted.status_code == 202, submitted.text
    execution_id = submitted.json()["execution_id"]
    assert _wait(b, headers, execution_id, ("running",))["state"] == "running"
    assert httpx.get(a.base + "/healthz").json()["pool"]["running"] == 1
    deleted = httpx.delete(f"{b.base}/v1/executions/{execution_id}", headers=headers, timeout=30)
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert body["state"] == "done" and body["status"] == "cancelled", body
    assert body["error"]["type"] == "Cancelled"
    on_a = httpx.get(f"{a.base}/v1/executions/{execution_id}", headers=headers).json()
    assert on_a["state"] == "done" and on_a["status"] == "cancelled", on_a
    assert httpx.get(a.base + "/healthz").json()["pool"]["running"] == 0  # its child is gone
    again = httpx.delete(f"{b.base}/v1/executions/{execution_id}", headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"
    missing = httpx.delete(f"{b.base}/v1/executions/exe_missing", headers=headers)
    assert missing.status_code == 404


def test_a_cancel_request_reaches_the_owner_by_notification_also_after_reconnecting(
    database_url, tmp_path
):
    """The owner learns of a cancel request by NOTIFY alone (its heartbeat, which also looks
    for requests, never beats here), and listens again after its connection is killed."""
    import asyncio

    import asyncpg

    from runtime.db import create_engine, init_db, session_factory, utcnow
    from runtime.executions import replicas
    from runtime.executions.records import ExecutionRow, InstanceRow
    from runtime.infra.metrics import Metrics
    from runtime.settings import Settings
    from runtime.tenancy.tenants import TenantRow

    async def scenario() -> tuple[list[str], list[str]]:
        settings = Settings(data_dir=tmp_path, database_url=database_url,
                            heartbeat_interval_s=3600, instance_stale_s=7200)  # fmt: skip
        engine = create_engine(settings)
        await init_db(engine)
        sessions = session_factory(engine)
        tenant_id = "ten_pg_" + os.urandom(4).hex()
        heard: asyncio.Queue[str] = asyncio.Queue()
        owner = replicas.Replica(settings, sessions, Metrics(dict), "ins_pg_" + os.urandom(4).hex(),
                                 on_cancel=heard.put_nowait, listen_url=engine.url)  # fmt: skip
        asker = replicas.Replica(settings, sessions, Metrics(dict), "ins_pg_" + os.urandom(4).hex(),
                                 listen_url=engine.url)  # fmt: skip
        ids = ["exe_" + os.urandom(12).hex() for _ in range(2)]
        async with sessions() as s, s.begin():
            s.add(TenantRow(id=tenant_id, name=tenant_id, flora_kind="server", workspaces=[],
                            created_at=utcnow()))  # fmt: skip
            s.add(InstanceRow(id=owner.instance_id, host="test", pid=os.getpid(),
                              started_at=utcnow(), heartbeat_at=utcnow()))  # fmt: skip
        async with sessions() as s, s.begin():
            for execution_id in ids:
                s.add(ExecutionRow(
                    id=execution_id, tenant_id=tenant_id, instance_id=owner.instance_id,
                    mode="async", state="running", code="1", code_sha256="0" * 64, limits={},
                    created_at=utcnow(),
                ))  # fmt: skip
        owner.start_listening()
        got = []
        try:
            await asyncio.wait_for(owner.listening.wait(), 30)
            assert await asker.request_cancel("ten_other", ids[0]) is None  # not its tenant's
            assert await asker.request_cancel(tenant_id, ids[0]) == owner.instance_id
            got.append(await asyncio.wait_for(heard.get(), 30))
            killer = await asyncpg.connect(
                engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            )
            killed = await killer.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1",
                owner.listener_name,
            )
            await killer.close()
            assert killed == 1
            async with asyncio.timeout(30):
                while owner.listening.is_set():  # the drop is noticed
                    await asyncio.sleep(0.05)
            await asyncio.wait_for(owner.listening.wait(), 30)
            while not heard.empty():  # what it re-read on reconnecting: the first request
                assert heard.get_nowait() == ids[0]
            assert await asker.request_cancel(tenant_id, ids[1]) == owner.instance_id
            while (heard_id := await asyncio.wait_for(heard.get(), 30)) == ids[0]:
                pass
            got.append(heard_id)
        finally:
            await owner.stop_heartbeat()
            await engine.dispose()
        return got, ids

    got, ids = asyncio.run(scenario())
    assert got == ids


def test_a_cancel_the_owner_has_not_carried_out_in_time_is_answered_202(
    database_url, tmp_path, monkeypatch
):
    """The replica owning the execution is alive but does not end it within the wait: the
    request stays recorded and the answer is 202 with the record and a message."""
    from fastapi.testclient import TestClient

    from runtime.app import create_app
    from runtime.db import utcnow
    from runtime.executions import service as service_module
    from runtime.executions.records import ExecutionRow, InstanceRow
    from runtime.settings import Settings

    monkeypatch.setattr(service_module, "CANCEL_WAIT_S", 0.5)
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, backend_speed=0, pool_warm=1,
        secret_key=Fernet.generate_key().decode(),
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        service = client.app.state.executions
        tenant = service.default_tenant
        key = client.portal.call(service.tenants.add_key, tenant.id, "slow-owner")
        silent, execution_id = "ins_pg_" + os.urandom(4).hex(), "exe_" + os.urandom(12).hex()

        async def add_rows() -> None:
            async with service.sessions() as s, s.begin():
                s.add(InstanceRow(id=silent, host="test", pid=os.getpid(), started_at=utcnow(),
                                  heartbeat_at=utcnow()))  # fmt: skip
            async with service.sessions() as s, s.begin():
                s.add(ExecutionRow(
                    id=execution_id, tenant_id=tenant.id, instance_id=silent, mode="async",
                    state="running", code="1", code_sha256="0" * 64, limits={},
                    created_at=utcnow(),
                ))  # fmt: skip

        client.portal.call(add_rows)
        deleted = client.delete(
            f"/v1/executions/{execution_id}", headers={"authorization": f"Bearer {key}"}
        )
        assert deleted.status_code == 202, deleted.text
        body = deleted.json()
        assert body["state"] == "running" and "cancel requested" in body["message"], body

        async def requested() -> object:
            async with service.sessions() as s:
                row = await s.get(ExecutionRow, execution_id)
                return row.cancel_requested_at

        assert client.portal.call(requested) is not None

        from runtime.adapters.mcp.tools import call_cancel  # the MCP tool says it too

        answer = client.portal.call(call_cancel, service, {"execution_id": execution_id}, tenant)
        assert not answer.is_error and "cancel requested" in answer.content[0].text


def test_a_replica_killed_mid_execution_leaves_it_failed_not_running(cluster):
    a, b, headers = cluster
    submitted = _submit(a, headers, "import time\ntime.sleep(60)\n1")
    assert submitted.status_code == 202
    execution_id = submitted.json()["execution_id"]
    assert _wait(b, headers, execution_id, ("running",))["state"] == "running"
    a.kill()
    body = _wait(b, headers, execution_id, ("failed", "done"), timeout=20)
    assert body["state"] == "failed", body
    assert "the server running it stopped" in body["error"]["message"]


@pytest.mark.parametrize("idle_ping_s", [0.0, 3600.0])
def test_a_pooled_connection_that_died_while_idle_is_pinged_and_replaced(
    database_url, monkeypatch, idle_ping_s
):
    """Connections idle past IDLE_PING_S are pinged before use (a dead one is replaced);
    connections in steady use are not pinged, so a death between two uses fails one statement."""
    import asyncio

    import asyncpg
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from runtime import db
    from runtime.settings import Settings

    monkeypatch.setattr(db, "IDLE_PING_S", idle_ping_s)

    async def go() -> None:
        engine = db.create_engine(Settings(database_url=database_url))
        try:
            async with engine.connect() as conn:
                pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            killer = await asyncpg.connect(database_url)
            await killer.execute("SELECT pg_terminate_backend($1)", pid)
            await killer.close()
            await asyncio.sleep(0.2)
            if idle_ping_s > 0:
                with pytest.raises(DBAPIError):
                    async with engine.connect() as conn:
                        await conn.execute(text("SELECT 1"))
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
        finally:
            await engine.dispose()

    asyncio.run(go())


@pytest.mark.parametrize(
    "bad",
    [{"cpu_ms": float("nan")}, {"result": {"x": float("inf")}}, {"stdout": "a\ud800"},
     {"call_count": 2**70}],
    ids=["cpu_nan", "result_infinity", "stdout_surrogate", "count_overflow"],
)  # fmt: skip
def test_on_postgresql_one_unstorable_record_loses_no_other(database_url, tmp_path, bad):
    import asyncio

    from sqlalchemy import select

    from runtime.db import create_engine, init_db, session_factory, utcnow
    from runtime.executions import record_writer
    from runtime.executions.records import ACTIVE_STATES, ExecutionRow, InstanceRow
    from runtime.settings import Settings
    from runtime.tenancy.tenants import TenantRow

    async def scenario() -> dict[str, tuple[str, str, float]]:
        engine = create_engine(Settings(data_dir=tmp_path, database_url=database_url))
        await init_db(engine)
        sessions = session_factory(engine)
        tenant_id = "ten_pg_" + os.urandom(4).hex()
        # A live instance owns the rows: a replica started by another test on this database
        # reaps the running executions of instances it does not know.
        instance_id = "ins_pg_" + os.urandom(4).hex()
        async with sessions() as s, s.begin():
            s.add(TenantRow(id=tenant_id, name=tenant_id, flora_kind="server", workspaces=[],
                            created_at=utcnow()))  # fmt: skip
            s.add(InstanceRow(id=instance_id, host="test", pid=os.getpid(),
                              started_at=utcnow(), heartbeat_at=utcnow()))  # fmt: skip
        writer = record_writer.RecordWriter(engine)
        writer.start()
        ids = ["exe_" + os.urandom(12).hex() for _ in range(10)]
        try:
            for execution_id in ids:
                now = utcnow()
                writer.insert({
                    "id": execution_id, "tenant_id": tenant_id, "instance_id": instance_id,
                    "mode": "sync", "state": "running", "status": None, "intent": None,
                    "code": "1", "code_sha256": "0" * 64, "result": None,
                    "result_truncated": False, "stdout": "", "stdout_truncated": False,
                    "error": None, "calls": None, "warnings": None, "limits": {},
                    "duration_ms": 0.0, "cpu_ms": 0.0, "call_count": 0, "created_at": now,
                    "started_at": now, "finished_at": None,
                })  # fmt: skip
            await writer.flush()
            for execution_id in ids:
                values = {"state": "done", "status": "ok", "stdout": "printed", "cpu_ms": 2.0,
                          "finished_at": utcnow()}  # fmt: skip
                if execution_id == ids[3]:
                    values.update(bad)
                writer.update(execution_id, values, when=ACTIVE_STATES)
            await writer.flush()
            async with sessions() as s:
                rows = await s.execute(
                    select(ExecutionRow.id, ExecutionRow.state, ExecutionRow.status,
                           ExecutionRow.cpu_ms).where(ExecutionRow.id.in_(ids))
                )  # fmt: skip
                return {i: (state, status, cpu) for i, state, status, cpu in rows}
        finally:
            await writer.stop()
            await engine.dispose()

    found = asyncio.run(scenario())
    poisoned = [i for i in found if found[i][0] == "failed"]
    assert len(found) == 10 and len(poisoned) == 1, found
    assert all(v == ("done", "ok", 2.0) for i, v in found.items() if i not in poisoned)
    assert found[poisoned[0]][1] == "error"
