"""Retention on SQLite: records older than TERRARIUM_RETENTION_DAYS are deleted by the server
(when it starts, then hourly) and by `terrarium records prune`; records still running or whose
webhook is still pending are kept; `--dry-run` only counts."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from runtime.adapters.cli.main import main
from runtime.db import utcnow
from runtime.executions.idempotency import IdempotencyRow
from runtime.executions.records import ExecutionRow
from runtime.executions.retention import cutoff, parse_age
from runtime.executions.webhooks import root_secret, webhook_secret


def age(api: Any, execution_id: str, days: float, **values: Any) -> None:
    """Make a record (and its idempotency key) look `days` old."""
    when = utcnow() - timedelta(days=days)

    async def work() -> None:
        await api.executions.recorder.flush()  # the record is written behind its answer
        async with api.executions.sessions() as s, s.begin():
            await s.execute(
                update(ExecutionRow)
                .where(ExecutionRow.id == execution_id)
                .values(created_at=when, **values)
            )
            await s.execute(
                update(IdempotencyRow)
                .where(IdempotencyRow.execution_id == execution_id)
                .values(created_at=when)
            )

    api.call(work)


def status_of(api: Any, execution_id: str) -> int:
    answer = api.client.get(f"/v1/executions/{execution_id}", headers=api.auth(api.default_key))
    return answer.status_code


def run(api: Any, code: str = "1", **headers: str) -> str:
    answer = api.client.post(
        "/v1/execute", json={"code": code}, headers={**api.auth(api.default_key), **headers}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["execution_id"])


def test_the_server_deletes_old_records_and_keeps_the_rest(api_with):
    with api_with(retention_days=30) as api:
        old, recent, hooked, running = run(api), run(api), run(api), run(api)
        keyed = run(api, "2", **{"Idempotency-Key": "k1"})
        age(api, old, 31)
        age(api, keyed, 31)
        age(api, recent, 29)
        age(api, hooked, 31, webhook_url="https://example.com/h", webhook_state="pending")
        age(api, running, 31, state="running")
        pruned = api.call(api.executions.retention.run_once)
        assert (pruned.executions, pruned.idempotency_keys) == (2, 1)
        assert status_of(api, old) == status_of(api, keyed) == 404
        assert status_of(api, recent) == status_of(api, hooked) == status_of(api, running) == 200
        # the key's execution is gone: the same key runs again, as a new execution
        again = run(api, "2", **{"Idempotency-Key": "k1"})
        assert again != keyed
        gone_at_start = run(api)
        age(api, gone_at_start, 40)
    with api_with(retention_days=30) as api:  # a restart prunes once as it starts
        deadline = time.monotonic() + 30
        while status_of(api, gone_at_start) != 404 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status_of(api, gone_at_start) == 404
        assert status_of(api, recent) == 200


def test_zero_keeps_records_forever(tmp_path):
    from runtime.executions.retention import RetentionPrune

    never = RetentionPrune(engine=None, days=0)  # type: ignore[arg-type]
    never.start()  # starts nothing: no prune ever runs
    assert never._task is None


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(__import__("os").environ):
        if name.startswith(("TERRARIUM_", "FLORA_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TERRARIUM_DATA_DIR", str(tmp_path))
    return monkeypatch


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_records_prune_and_webhook_secret_for_operators(env, capsys, api_with):
    with api_with() as api:
        week_old, day_old, fresh = run(api), run(api), run(api)
        age(api, week_old, 8)
        age(api, day_old, 1.5)
        tenant, _ = api.tenant("acme")
        from_server = api.executions.webhooks.secret(tenant.id)
        root = root_secret(api.executions.settings)
    code, counted, _ = cli(capsys, "records", "prune", "--older-than", "7d", "--dry-run")
    assert code == 0 and counted["dry_run"] is True
    assert counted["executions"] == 1
    code, counted, _ = cli(capsys, "records", "prune", "--older-than", "24h", "--dry-run")
    assert counted["executions"] == 2  # still both: nothing was deleted
    code, pruned, _ = cli(capsys, "records", "prune", "--older-than", "24h")
    assert code == 0 and pruned["executions"] == 2 and pruned["dry_run"] is False
    code, counted, _ = cli(capsys, "records", "prune", "--older-than", "24h", "--dry-run")
    assert counted["executions"] == 0
    code, counted, _ = cli(capsys, "records", "prune", "--older-than", "0s", "--dry-run")
    assert counted["executions"] == 1  # the fresh one
    assert fresh

    code, shown, _ = cli(capsys, "records", "webhook-secret", "acme")
    assert code == 0 and shown["tenant_id"] == tenant.id
    assert shown["webhook_secret"] == from_server
    assert shown["header"] == "Terrarium-Signature"
    code, by_id, _ = cli(capsys, "records", "webhook-secret", tenant.id)
    assert by_id["webhook_secret"] == from_server
    assert webhook_secret(root, "ten_other") != from_server  # each tenant its own
    code, _, err = cli(capsys, "records", "webhook-secret", "nobody")
    assert code == 2 and "no tenant 'nobody'" in err

    env.setenv("TERRARIUM_RETENTION_DAYS", "0")
    code, _, err = cli(capsys, "records", "prune")
    assert code == 2 and "--older-than" in err and "TERRARIUM_RETENTION_DAYS is 0" in err
    code, _, err = cli(capsys, "records", "prune", "--older-than", "soon")
    assert code == 2 and "like 7d, 12h" in err


@pytest.mark.parametrize(
    ("text", "hours"), [("7d", 168), ("12h", 12), ("30m", 0.5), ("2w", 336), ("3", 72)]
)
def test_ages(text, hours):
    assert parse_age(text) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["3000000d", "9999999999999", "36526d", "5300w"])
def test_an_age_past_any_date_is_refused_by_name(env, capsys, text):
    with pytest.raises(ValueError, match="too long an age: at most 36525d"):
        parse_age(text)
    code, _, err = cli(capsys, "records", "prune", "--older-than", text, "--dry-run")
    assert code == 2 and f"--older-than {text!r} is too long an age" in err


def test_the_longest_age_is_taken():
    assert parse_age("36525d") == timedelta(days=36525)
    assert cutoff(36525).year > 1900
