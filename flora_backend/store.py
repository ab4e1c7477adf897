"""The built-in backend's tables (workspaces, keys, projects, techniques, runs, files and their
bytes on PostgreSQL, idempotency keys, feedback) and the small helpers that make IDs and hash
keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flora_backend.db import Base, UTCDateTime, utcnow

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 20) -> str:
    # One draw from the OS's generator (not one per character): every id of this length is
    # equally likely, as with a choice per character.
    number = secrets.randbelow(len(_ALPHABET) ** length)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return prefix + "".join(chars)


def new_api_key() -> str:
    return "sk_test_" + secrets.token_urlsafe(32).replace("-", "a").replace("_", "b")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Workspace(Base):
    __tablename__ = "backend_workspaces"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credits: Mapped[int] = mapped_column(Integer)
    webhook_secret: Mapped[str] = mapped_column(String(80))
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    __tablename__ = "backend_api_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("backend_workspaces.id"), index=True)
    hint: Mapped[str] = mapped_column(String(40))  # the first characters, for display
    is_dev: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Project(Base):
    __tablename__ = "backend_projects"
    __table_args__ = (Index("ix_backend_projects_ws_modified", "workspace_id", "last_modified"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("backend_workspaces.id"))
    name: Mapped[str] = mapped_column(String(500))
    origin: Mapped[str] = mapped_column(String(40), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Technique(Base):
    __tablename__ = "backend_techniques"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_id: Mapped[str] = mapped_column(String(100))
    prompt_template: Mapped[str] = mapped_column(Text)
    run_cost: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Run(Base):
    __tablename__ = "backend_runs"
    __table_args__ = (
        Index("ix_backend_runs_ws_created", "workspace_id", "created_at"),
        Index("ix_backend_runs_status_due", "status", "due_at"),
        Index("ix_backend_runs_callback", "callback_state", "callback_next_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("backend_workspaces.id"))
    project_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(20))  # generation | technique | action
    model_id: Mapped[str] = mapped_column(String(100))
    technique_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    media_type: Mapped[str] = mapped_column(String(20))  # image | video | audio | text
    prompt: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    inputs: Mapped[Any] = mapped_column(JSON, nullable=True)
    # pending/running are worked out from the clock; only the final states are stored.
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())  # planned
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())  # planned end
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    estimated_seconds: Mapped[float] = mapped_column(Float)
    planned_error_code: Mapped[str | None] = mapped_column(String(80), nullable=True)
    planned_error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(80), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    quoted_cost: Mapped[int] = mapped_column(Integer)
    charged_cost: Mapped[int] = mapped_column(Integer)
    outputs: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    # none | pending | delivered | failed
    callback_state: Mapped[str] = mapped_column(String(20), default="none")
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class File(Base):
    __tablename__ = "backend_files"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("backend_workspaces.id"))
    run_id: Mapped[str] = mapped_column(String(40), index=True)
    # A name we made: the file's name in the file store (flora_backend/files.py).
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Blob(Base):
    """The bytes of a file, on PostgreSQL (flora_backend/files.py `DatabaseFiles`), by the name
    the file store knows it by (`File.filename`, or a staged upload's name)."""

    __tablename__ = "backend_blobs"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyKey(Base):
    __tablename__ = "backend_idempotency_keys"

    workspace_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Feedback(Base):
    __tablename__ = "backend_feedback"
    __table_args__ = (Index("ix_backend_feedback_ws_created", "workspace_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The key's workspace: feedback is always recorded by someone, whatever it links to.
    workspace_id: Mapped[str] = mapped_column(ForeignKey("backend_workspaces.id"))
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    attempted_tools: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# ---------------------------------------------------------------- assets


class Asset(Base):
    """An uploaded or fetched file. Its bytes are a `File` row (whose `run_id` holds the asset
    id) once the asset is ready; a signed upload waits in `pending_upload` until completed."""

    __tablename__ = "backend_assets"
    __table_args__ = (Index("ix_backend_assets_ws_created", "workspace_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("backend_workspaces.id"))
    project_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    name: Mapped[str | None] = mapped_column(String(500), nullable=True)
    folder: Mapped[str | None] = mapped_column(String(500), nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # pending_upload | ready | failed
    uploaded_via: Mapped[str] = mapped_column(String(20))  # url | signed_url | direct
    source_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    upload_content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    file_id: Mapped[str | None] = mapped_column(String(60), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    failure_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A signed upload: the hash of the token in its upload URL, and when that URL expires.
    upload_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    upload_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# ---------------------------------------------------------------- canvases, folders, library


class Canvas(Base):
    """A project's canvas definition, as FLORA's canvas/definition endpoints carry it, with the
    short ids the graph reports (node UUID -> "n<k>", never reused) and a revision that grows by
    one with every change. It holds every node of the project, whatever placed it: changesets,
    Mermaid updates, generations and technique runs started through the API (result nodes),
    attached assets (static nodes with `data.asset_id`) and action nodes (`codeBlock`, with
    `data.action_id` and `data.params`, fed by edges); a node's latest run is its
    `node_outputs[id].run_id`."""

    __tablename__ = "backend_canvases"

    project_id: Mapped[str] = mapped_column(ForeignKey("backend_projects.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    edges: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    node_inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    node_outputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    layer_editor_documents: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    short_ids: Mapped[dict[str, str]] = mapped_column(JSON)
    next_short: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProjectFolder(Base):
    """A project folder. FLORA's API files projects into folders but makes none: folders are
    made in the app, here by the operator (`Backend.create_project_folder`) and one per
    workspace when it is seeded."""

    __tablename__ = "backend_project_folders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("backend_workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FolderProject(Base):
    """Which folder a project is filed in (a project is in at most one)."""

    __tablename__ = "backend_folder_projects"

    project_id: Mapped[str] = mapped_column(ForeignKey("backend_projects.id"), primary_key=True)
    folder_id: Mapped[str] = mapped_column(ForeignKey("backend_project_folders.id"), index=True)


class LibraryFolder(Base):
    __tablename__ = "backend_library_folders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("backend_workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LibraryItem(Base):
    """A saved library node: a text, or an image fetched into a file. Deleting its folder
    detaches it (folder_id becomes null); the item stays."""

    __tablename__ = "backend_library_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("backend_workspaces.id"))
    folder_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(20))  # image | text
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    file_id: Mapped[str | None] = mapped_column(String(60), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
