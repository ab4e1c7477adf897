"""The backend's tables migrate in their own history, beside the runtime's: a fresh database
gets both, and a database made when the two shared one history (at its head, 0002, or at the
backend's 0001 alone) upgrades in place, keeping its rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from flora_backend import Backend
from flora_backend import db as backend_db
from flora_backend.settings import BackendSettings
from flora_backend.store import ProjectFolder, Workspace
from runtime import db as runtime_db
from runtime.settings import Settings

RUNTIME_TABLES = {"runtime_tenants", "runtime_keys", "runtime_executions", "runtime_instances"}
BACKEND_TABLES = {"backend_workspaces", "backend_api_keys", "backend_runs", "backend_files"}
BACKEND_HEADS = sorted(ScriptDirectory.from_config(backend_db.alembic_config()).get_heads())
RUNTIME_HEADS = sorted(ScriptDirectory.from_config(runtime_db.alembic_config()).get_heads())


async def _versions(engine: AsyncEngine) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        found = {}
        for table in ("alembic_version", backend_db.VERSION_TABLE):
            if table in tables:
                rows = await conn.execute(text(f"select version_num from {table}"))
                found[table] = sorted(r[0] for r in rows)
        return found


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def single_history_database(settings: Settings, *, at: str) -> None:
    """The database the former single history left, with one workspace in it: the backend's
    tables (its 0001) and, at 0002, the runtime's, with one `alembic_version` row and no
    backend version table."""
    engine = runtime_db.create_engine(settings)
    try:

        def former_0001(connection: Connection) -> None:  # the same body as the former 0001
            command.upgrade(backend_db.alembic_config(connection), backend_db.INITIAL_REVISION)

        async with engine.begin() as conn:
            await conn.run_sync(former_0001)
            await conn.execute(text(f"drop table {backend_db.VERSION_TABLE}"))
            await conn.execute(
                text(
                    "insert into backend_workspaces (id, name, credits, webhook_secret, "
                    "is_default, created_at) values ('ws_kept', 'Kept', 7, 'whsec_x', false, "
                    ":now)"
                ),
                {"now": backend_db.utcnow()},
            )
            if at == "0001":
                await conn.execute(
                    text("create table alembic_version (version_num varchar(32) primary key)")
                )
                await conn.execute(text("insert into alembic_version values ('0001')"))
        if at == "0002":  # the runtime's history as the former single history left it
            async with engine.begin() as conn:
                await conn.run_sync(lambda c: command.upgrade(runtime_db.alembic_config(c), "0002"))
        assert await _versions(engine) == {"alembic_version": [at]}
    finally:
        await engine.dispose()


async def upgrade_with_new_code(settings: Settings) -> tuple[str, str]:
    """What a server start does: the runtime's migrations, then the backend's (via Backend)."""
    engine = runtime_db.create_engine(settings)
    try:
        await runtime_db.init_db(engine)
    finally:
        await engine.dispose()
    async with Backend(settings) as backend:
        return await backend.default_credentials()


async def check_upgrade(settings: Settings, at: str) -> None:
    await single_history_database(settings, at=at)
    await upgrade_with_new_code(settings)
    async with Backend(settings) as backend:
        assert await backend.credits("ws_kept") == 7  # the rows are kept
    engine = runtime_db.create_engine(settings)
    try:
        assert RUNTIME_TABLES | BACKEND_TABLES <= await _tables(engine)
        assert await _versions(engine) == {
            "alembic_version": RUNTIME_HEADS,
            backend_db.VERSION_TABLE: BACKEND_HEADS,
        }
    finally:
        await engine.dispose()
    await upgrade_with_new_code(settings)  # and again: nothing left to do


def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=None, backend_speed=0)


async def test_a_fresh_database_gets_both_histories(tmp_path):
    settings = sqlite_settings(tmp_path)
    await upgrade_with_new_code(settings)
    engine = runtime_db.create_engine(settings)
    try:
        assert RUNTIME_TABLES | BACKEND_TABLES <= await _tables(engine)
        assert await _versions(engine) == {
            "alembic_version": RUNTIME_HEADS,
            backend_db.VERSION_TABLE: BACKEND_HEADS,
        }
    finally:
        await engine.dispose()


async def test_the_backend_migrates_alone_without_the_runtimes_tables(tmp_path):
    settings = BackendSettings(data_dir=tmp_path / "data", database_url=None, speed=0)
    async with Backend(settings) as b:
        await b.default_credentials()
    engine = backend_db.create_engine(settings)
    try:
        tables = await _tables(engine)
        assert BACKEND_TABLES <= tables and not RUNTIME_TABLES & tables
        assert "alembic_version" not in tables
    finally:
        await engine.dispose()


@pytest.mark.parametrize("at", ["0002", "0001"])
async def test_a_single_history_sqlite_database_upgrades_in_place(tmp_path, at):
    await check_upgrade(sqlite_settings(tmp_path), at)


@pytest.mark.postgres
@pytest.mark.parametrize("at", ["0002", "0001"])
async def test_a_single_history_postgres_database_upgrades_in_place(tmp_path, pg_database, at):
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_database, backend_speed=0)
    await check_upgrade(settings, at)


BRANCH = """
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "backend_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("{table}", sa.Column("id", sa.String(length=40), primary_key=True))


def downgrade() -> None:
    op.drop_table("{table}")
"""


async def test_every_head_of_a_branched_history_applies(tmp_path, monkeypatch):
    """Two revisions on top of the same parent (two heads): init_db applies both."""
    migrations = tmp_path / "migrations"
    shutil.copytree(
        backend_db.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__")
    )
    for rev in ("branch_one", "branch_two"):
        (migrations / "versions" / f"{rev}.py").write_text(
            BRANCH.format(rev=rev, table=f"backend_{rev}")
        )
    monkeypatch.setattr(backend_db, "MIGRATIONS_DIR", migrations)
    heads = ScriptDirectory.from_config(backend_db.alembic_config()).get_heads()
    assert {"branch_one", "branch_two"} <= set(heads)
    settings = BackendSettings(data_dir=tmp_path / "data", database_url=None, speed=0)
    engine = backend_db.create_engine(settings)
    try:
        await backend_db.init_db(engine)
        await backend_db.init_db(engine)  # and again: nothing left to do
        assert {"backend_branch_one", "backend_branch_two"} <= await _tables(engine)
        assert await _versions(engine) == {backend_db.VERSION_TABLE: sorted(heads)}
    finally:
        await engine.dispose()


async def test_one_set_of_nodes_moves_asset_action_and_run_nodes_onto_the_canvas(tmp_path):
    """backend_0005: the asset and action nodes of backend_project_nodes, and the runs started
    through the API in a project, become that project's canvas nodes; and back on downgrade."""
    engine = backend_db.create_engine(
        BackendSettings(data_dir=tmp_path / "data", database_url=None)
    )

    def to(target: str, down: bool = False):
        def step(connection: Connection) -> None:
            config = backend_db.alembic_config(connection)
            (command.downgrade if down else command.upgrade)(config, target)

        return step

    now = "2026-01-01 00:00:00"
    try:
        async with engine.begin() as conn:
            await conn.run_sync(to("backend_0004"))
            for sql in (
                "insert into backend_workspaces (id, name, credits, webhook_secret, is_default,"
                f" created_at) values ('ws_a', 'A', 10, 's', 1, '{now}')",
                "insert into backend_projects (id, workspace_id, name, origin, created_at,"
                f" last_modified) values ('prj_a', 'ws_a', 'P', 'api', '{now}', '{now}')",
                "insert into backend_runs (id, workspace_id, project_id, kind, model_id,"
                " media_type, prompt, params, status, created_at, started_at, due_at,"
                " estimated_seconds, quoted_cost, charged_cost, callback_state,"
                " callback_attempts) values ('run_1', 'ws_a', 'prj_a', 'generation', 'm',"
                f" 'image', 'a fox', '{{}}', 'completed', '{now}', '{now}', '{now}', 1, 1, 1,"
                " 'none', 0)",
                "insert into backend_assets (id, workspace_id, name, status, uploaded_via,"
                " content_type, created_at) values ('asset_1', 'ws_a', 'fox.png', 'ready',"
                f" 'direct', 'image/png', '{now}')",
                "insert into backend_project_nodes (id, project_id, kind, asset_id, created_at)"
                " values ('na', 'prj_a', 'asset', 'asset_1', '2026-01-01 00:00:01')",
                "insert into backend_project_nodes (id, project_id, kind, action_id, params,"
                " input_node_ids, created_at) values ('nb', 'prj_a', 'action',"
                " 'blur-image-browser', '{\"radius\": 2}', '[\"na\", \"n1\"]',"
                " '2026-01-01 00:00:02')",
            ):
                await conn.execute(text(sql))
            await conn.run_sync(to("heads"))
        async with engine.connect() as conn:
            assert "backend_project_nodes" not in await conn.run_sync(
                lambda c: inspect(c).get_table_names()
            )
            row = (
                await conn.execute(text("select nodes, edges, node_outputs from backend_canvases"))
            ).one()
        nodes, edges, outputs = (json.loads(v) for v in row)
        assert [(n["id"], n["type"]) for n in nodes] == [
            ("n1", "resultImageBlock"),
            ("na", "staticImageBlock"),
            ("nb", "codeBlock"),
        ]
        assert nodes[1]["data"]["asset_id"] == "asset_1"
        assert nodes[2]["data"]["action_id"] == "blur-image-browser"
        assert outputs["n1"] == {"run_id": "run_1"}
        assert sorted((e["source"], e["target"]) for e in edges) == [("n1", "nb"), ("na", "nb")]

        async with engine.begin() as conn:
            await conn.run_sync(to("backend_0004", down=True))
        async with engine.connect() as conn:
            moved = (
                await conn.execute(text("select id, kind from backend_project_nodes order by id"))
            ).all()
            left = (await conn.execute(text("select nodes from backend_canvases"))).scalar()
        assert [tuple(r) for r in moved] == [("na", "asset"), ("nb", "action")]
        assert json.loads(left) == []
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_replicas_starting_together_migrate_and_seed_once(tmp_path, pg_database):
    """Two servers starting at once on an empty PostgreSQL database: one migrates and seeds
    while the other waits on the migrations' lock, then finds the schema and the seed data."""
    backends = [
        Backend(BackendSettings(data_dir=tmp_path / f"r{i}", database_url=pg_database, speed=0))
        for i in range(3)
    ]
    try:
        await asyncio.gather(*(b.start() for b in backends))
        async with backends[0].sessions() as s:
            defaults = (await s.execute(select(Workspace).where(Workspace.is_default))).all()
            folders = (await s.execute(select(ProjectFolder))).all()
        assert len(defaults) == 1 and len(folders) == 1
        for b in backends:  # each replica's development key works on the one workspace
            ws, _ = await b.default_credentials()
            assert ws == defaults[0][0].id
    finally:
        for b in backends:
            await b.stop()
