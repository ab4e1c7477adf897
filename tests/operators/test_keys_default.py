"""The default tenant's key and the operator key: made and printed once, at the first start on
a database, kept in 0600 files of the data dir; later starts say where they are; a new replica
with an empty data dir on a shared database makes no other (on PostgreSQL: test_keys_postgres)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runtime.app import create_app
from runtime.db import create_engine, init_db, session_factory
from runtime.settings import Settings
from runtime.tenancy.tenants import DEFAULT_TENANT, TenantStore


def _settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "backend_speed": 0,
        "pool_warm": 1,
        "secret_key": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _serve(settings: Settings, capsys: pytest.CaptureFixture[str]) -> tuple[str, str | None]:
    """What a start prints (as `terrarium serve` would), and the default key it holds."""
    app = create_app(settings)
    app.state.announce = "http://127.0.0.1:1"
    with TestClient(app) as client:
        key = client.app.state.executions.default_key
        if key:
            assert (
                client.post(
                    "/v1/execute", json={"code": "1"}, headers={"authorization": f"Bearer {key}"}
                ).status_code
                == 200
            )
    return capsys.readouterr().out, key


def test_the_keys_are_printed_at_the_first_start_only(tmp_path, capsys):
    shared_db = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first = _settings(tmp_path / "a", database_url=shared_db)
    out, key = _serve(first, capsys)
    assert key and f"Runtime API key (tenant default): {key}\n" in out
    key_file = tmp_path / "a" / "runtime-key"
    assert f"kept in {key_file} (mode 0600)" in out
    assert key_file.read_text().strip() == key and key_file.stat().st_mode & 0o777 == 0o600
    operator_file = tmp_path / "a" / "operator-key"
    operator = operator_file.read_text().strip()
    assert f"Operator key (admin API, /v1/admin): {operator} " in out
    assert operator.startswith("tro_") and operator_file.stat().st_mode & 0o777 == 0o600

    again, same = _serve(first, capsys)
    assert same == key
    assert f"Runtime API key (tenant default): in {key_file}\n" in again
    assert f"Operator key (admin API, /v1/admin): {operator_file}\n" in again
    assert "trk_" not in again and "tro_" not in again

    replica, none = _serve(_settings(tmp_path / "b", database_url=shared_db), capsys)
    assert none is None
    assert "none in this data directory" in replica
    assert "`terrarium keys create --tenant default" in replica
    assert "trk_" not in replica and "tro_" not in replica
    assert not (tmp_path / "b" / "runtime-key").exists()
    assert not (tmp_path / "b" / "operator-key").exists()


def test_an_operator_key_from_the_environment_is_not_printed_nor_stored(tmp_path, capsys):
    out, _ = _serve(_settings(tmp_path, operator_key="tro_from-the-environment"), capsys)
    assert "Operator key (admin API, /v1/admin): TERRARIUM_OPERATOR_KEY\n" in out
    assert "tro_from" not in out and not (tmp_path / "operator-key").exists()


async def _replicas_mint_one_default_key(database: str | None, root: Path) -> None:
    async def start(name: str) -> tuple[TenantStore, str | None]:
        settings = _settings(root / name, database_url=database)
        engine = create_engine(settings)
        engines.append(engine)
        await init_db(engine)
        store = TenantStore(settings, session_factory(engine))
        _, key = await store.ensure_default([])
        return store, key

    engines = []
    try:
        first, key = await start("first")
        assert key is not None and first.default_key_minted and first.operator.minted
        again, same = await start("first")  # a restart reads the key back, and does not use it
        assert same == key and not again.default_key_minted and again.operator.minted is None
        assert [k.last_used_at for k in await again.keys(DEFAULT_TENANT)] == [None]
        second, none = await start("second")  # an empty data dir, the same database
        assert none is None and not second.default_key_minted and second.operator.minted is None
        assert not (root / "second" / "runtime-key").exists()
        assert len(await second.keys(DEFAULT_TENANT)) == 1  # no other key was made
        assert "terrarium keys create --tenant default" in str(
            second.default_key_line(None, has_default=True)
        )
        (only,) = await second.keys(DEFAULT_TENANT)
        await second.revoke_key(only.id)  # no working key left: the next start makes one
        third, fresh = await start("third")
        assert fresh is not None and third.default_key_minted
        assert (await third.verify(fresh)).name == DEFAULT_TENANT
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_replica_with_an_empty_data_dir_mints_no_key_on_shared_sqlite(tmp_path):
    await _replicas_mint_one_default_key(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}", tmp_path)
