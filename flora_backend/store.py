"""The built-in backend's tables (workspaces, keys, projects, techniques, runs, files,
idempotency keys, feedback) and the small helpers that make IDs and hash keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flora_backend.db import Base, UTCDateTime, utcnow

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 20) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


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
    filename: Mapped[str] = mapped_column(String(200))  # a name we made, under <data_dir>/files
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
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
