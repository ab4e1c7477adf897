"""One set of nodes per project: the canvas holds them all. Asset and action nodes move from
backend_project_nodes onto their project's canvas (a static node with data.asset_id; a
codeBlock with data.action_id and data.params, fed by edges from its inputs, its latest run in
node_outputs); each generation or technique run started through the API in a project, which
projects.list_nodes used to derive from the runs, becomes a result node there (node id
"n" + the run id's suffix, as list_nodes answered it). backend_project_nodes is dropped.

Revision ID: backend_0005
Revises: backend_0004
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "backend_0005"
down_revision = "backend_0004"
branch_labels = None
depends_on = None

ROW_H = 240.0
STATIC = {"image": "staticImageBlock", "video": "staticVideoBlock", "audio": "staticAudioBlock"}
ASSET_TYPES = {**STATIC, "application": "documentNode"}
RESULT = {
    "image": "resultImageBlock",
    "video": "resultVideoBlock",
    "text": "resultTextBlock",
    "audio": "resultAudioBlock",
}

canvases = sa.table(
    "backend_canvases",
    sa.column("project_id", sa.String),
    sa.column("revision", sa.Integer),
    sa.column("nodes", sa.JSON),
    sa.column("edges", sa.JSON),
    sa.column("node_inputs", sa.JSON),
    sa.column("node_outputs", sa.JSON),
    sa.column("layer_editor_documents", sa.JSON),
    sa.column("short_ids", sa.JSON),
    sa.column("next_short", sa.Integer),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
project_nodes = sa.table(
    "backend_project_nodes",
    sa.column("id", sa.String),
    sa.column("project_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("asset_id", sa.String),
    sa.column("action_id", sa.String),
    sa.column("params", sa.JSON),
    sa.column("input_node_ids", sa.JSON),
    sa.column("last_run_id", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
assets = sa.table(
    "backend_assets",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("content_type", sa.String),
    sa.column("upload_content_type", sa.String),
)
runs = sa.table(
    "backend_runs",
    sa.column("id", sa.String),
    sa.column("project_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("model_id", sa.String),
    sa.column("media_type", sa.String),
    sa.column("prompt", sa.Text),
    sa.column("params", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _edge(source: str, target: str, slot: str | None) -> dict[str, Any]:
    return {
        "id": "edge_" + uuid.uuid4().hex[:20],
        "source": source,
        "source_handle": None,
        "target": target,
        "target_handle": slot,
    }


def _load(conn: sa.Connection, project_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(canvases).where(canvases.c.project_id == project_id)).first()
    if row is None:
        return {"new": True, "project_id": project_id, "revision": 0, "nodes": [], "edges": [],
                "node_inputs": {}, "node_outputs": {}, "layer_editor_documents": None,
                "short_ids": {}, "next_short": 1}  # fmt: skip
    return {"new": False, **row._asdict()}


def _save(conn: sa.Connection, c: dict[str, Any]) -> None:
    values = {k: v for k, v in c.items() if k not in ("new", "project_id")}
    values["revision"] = (values["revision"] or 0) + 1
    values["updated_at"] = datetime.now(UTC).replace(tzinfo=None)
    if c["new"]:
        conn.execute(sa.insert(canvases).values(project_id=c["project_id"], **values))
    else:
        stmt = sa.update(canvases).where(canvases.c.project_id == c["project_id"])
        conn.execute(stmt.values(**values))


def _place(c: dict[str, Any], node: dict[str, Any]) -> None:
    bottom = max((n["position"]["y"] for n in c["nodes"]), default=-ROW_H)
    c["nodes"].append({**node, "position": {"x": 0.0, "y": bottom + ROW_H}})


def upgrade() -> None:
    conn = op.get_bind()
    names = {r.id: r for r in conn.execute(sa.select(assets))}
    placed: dict[str, list[tuple[Any, str, Any]]] = {}
    for n in conn.execute(sa.select(project_nodes)):
        placed.setdefault(n.project_id, []).append((n.created_at, "node", n))
    api_runs = sa.select(runs).where(
        runs.c.project_id.is_not(None), runs.c.kind.in_(("generation", "technique"))
    )
    for r in conn.execute(api_runs):
        placed.setdefault(r.project_id, []).append((r.created_at, "run", r))
    for project_id, items in placed.items():
        c = _load(conn, project_id)
        on_canvas = {o.get("run_id") for o in c["node_outputs"].values()}
        wiring: list[tuple[str, list[str]]] = []
        for _, what, item in sorted(items, key=lambda t: (t[0], t[2].id)):
            if what == "run":
                if item.id in on_canvas:  # already a node (run through the canvas)
                    continue
                node_id = "n" + item.id.removeprefix("run_")
                _place(c, {"id": node_id, "type": RESULT.get(item.media_type, "resultImageBlock"),
                           "data": {}})  # fmt: skip
                c["node_inputs"][node_id] = {
                    "prompt": item.prompt, "model": item.model_id, "params": item.params or {}
                }  # fmt: skip
                c["node_outputs"][node_id] = {"run_id": item.id}
            elif item.kind == "asset" and item.asset_id:
                asset = names.get(item.asset_id)
                given = (asset.content_type or asset.upload_content_type) if asset else None
                node_type = ASSET_TYPES.get((given or "image/").split("/")[0], STATIC["image"])
                label = asset.name if asset else None
                _place(c, {"id": item.id, "type": node_type,
                           "data": {"asset_id": item.asset_id, "label": label}})  # fmt: skip
            elif item.kind == "action":
                data = {"action_id": item.action_id, "label": item.action_id,
                        "params": item.params or {}}  # fmt: skip
                _place(c, {"id": item.id, "type": "codeBlock", "data": data})
                if item.last_run_id:
                    c["node_outputs"][item.id] = {"run_id": item.last_run_id}
                wiring.append((item.id, list(item.input_node_ids or [])))
        known = {n["id"]: n for n in c["nodes"]}
        for target, sources in wiring:
            for source in sources:
                if source in known:
                    slot = "text" if known[source]["type"] == "resultTextBlock" else "image"
                    c["edges"].append(_edge(source, target, slot))
        _save(conn, c)
    op.drop_index("ix_backend_project_nodes_project", table_name="backend_project_nodes")
    op.drop_table("backend_project_nodes")


def downgrade() -> None:
    op.create_table(
        "backend_project_nodes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("asset_id", sa.String(length=40), nullable=True),
        sa.Column("action_id", sa.String(length=100), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("input_node_ids", sa.JSON(), nullable=True),
        sa.Column("last_run_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["backend_projects.id"],
            name=op.f("fk_backend_project_nodes_project_id_backend_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_project_nodes")),
    )
    op.create_index(
        "ix_backend_project_nodes_project", "backend_project_nodes", ["project_id", "created_at"]
    )
    # Asset and action nodes go back to their own table (and off the canvas); result nodes of
    # runs started through the API leave the canvas (list_nodes derived them from the runs).
    conn = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    api_runs = {
        r.id
        for r in conn.execute(
            sa.select(runs.c.id).where(runs.c.kind.in_(("generation", "technique")))
        )
    }
    for row in conn.execute(sa.select(canvases)).all():
        c = {"new": False, **row._asdict()}
        gone: set[str] = set()
        for n in c["nodes"]:
            data = n.get("data") or {}
            out = (c["node_outputs"].get(n["id"]) or {}).get("run_id")
            if data.get("asset_id"):
                conn.execute(sa.insert(project_nodes).values(
                    id=n["id"], project_id=c["project_id"], kind="asset",
                    asset_id=data["asset_id"], created_at=now,
                ))  # fmt: skip
            elif n["type"] == "codeBlock" and data.get("action_id"):
                sources = [e["source"] for e in c["edges"] if e["target"] == n["id"]]
                conn.execute(sa.insert(project_nodes).values(
                    id=n["id"], project_id=c["project_id"], kind="action",
                    action_id=data["action_id"], params=data.get("params"),
                    input_node_ids=sources, last_run_id=out, created_at=now,
                ))  # fmt: skip
            elif not (n["type"] in RESULT.values() and out in api_runs):
                continue
            gone.add(n["id"])
        if not gone:
            continue
        c["nodes"] = [n for n in c["nodes"] if n["id"] not in gone]
        c["edges"] = [e for e in c["edges"] if not {e["source"], e["target"]} & gone]
        for key in ("node_inputs", "node_outputs", "short_ids"):
            c[key] = {k: v for k, v in c[key].items() if k not in gone}
        _save(conn, c)
