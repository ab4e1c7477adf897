"""Cursor pagination for the built-in backend's list routes: newest first, keyset on
(timestamp, id), with an opaque base64 cursor and `limit` 1..100."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from flora_backend.errors import invalid

DEFAULT_LIMIT = 20

Row = TypeVar("Row")


def encode_cursor(sort_value: datetime, row_id: str) -> str:
    raw = json.dumps([sort_value.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, row_id = json.loads(raw)
        return datetime.fromisoformat(stamp), str(row_id)
    except (ValueError, TypeError, binascii.Error):
        raise invalid(
            "cursor", "Invalid cursor; pass meta.next_cursor from a previous page"
        ) from None


async def page(
    session: AsyncSession,
    stmt: Select[Row],
    sort_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[str],
    cursor: str | None,
    limit: int | None,
) -> tuple[list[Row], str | None]:
    """One page of rows and the cursor of the next page (None on the last one)."""
    size = limit or DEFAULT_LIMIT
    if cursor:
        stamp, row_id = decode_cursor(cursor)
        stmt = stmt.where(or_(sort_col < stamp, and_(sort_col == stamp, id_col < row_id)))
    stmt = stmt.order_by(sort_col.desc(), id_col.desc()).limit(size + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, sort_col.key), getattr(last, id_col.key))
