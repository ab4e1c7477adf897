"""Cursor pagination for the built-in backend's list routes: newest first, `limit` 1..100, and
FLORA's cursor format: base64 of a JSON object with the offset of the next page
(`eyJvZmZzZXQiOjIwfQ` is `{"offset":20}`). The cursors issued here also carry the sort key of
the last row given (`"after": [<sort value>, <id>]`), so a page walk neither repeats nor skips
rows when new ones arrive meanwhile; a cursor with only an offset is honoured as an offset."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from flora_backend.errors import invalid

DEFAULT_LIMIT = 20

Row = TypeVar("Row")


def encode_cursor(offset: int, after: tuple[datetime, str] | None = None) -> str:
    body: dict[str, Any] = {"offset": offset}
    if after is not None:
        body["after"] = [after[0].isoformat(), after[1]]
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> Exception:
    return invalid("cursor", "Invalid cursor; pass meta.next_cursor from a previous page")


def decode_cursor(cursor: str) -> tuple[int, tuple[datetime, str] | None]:
    """(offset, the sort key of the last row given, if the cursor carries it)."""
    try:
        text = cursor.strip()
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise _bad_cursor() from None
    if not isinstance(body, dict):
        raise _bad_cursor()
    offset = body.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise _bad_cursor()
    after = body.get("after")
    if after is None:
        return offset, None
    try:
        stamp, row_id = after
        if not isinstance(stamp, str) or not isinstance(row_id, str):
            raise TypeError
        return offset, (datetime.fromisoformat(stamp), row_id)
    except (ValueError, TypeError):
        raise _bad_cursor() from None


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
    offset, after = decode_cursor(cursor) if cursor else (0, None)
    stmt = stmt.order_by(sort_col.desc(), id_col.desc())
    if after is not None:
        stamp, row_id = after
        stmt = stmt.where(or_(sort_col < stamp, and_(sort_col == stamp, id_col < row_id)))
    elif offset:
        stmt = stmt.offset(offset)
    rows = list((await session.execute(stmt.limit(size + 1))).scalars().all())
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    last = rows[-1]
    key = (getattr(last, sort_col.key), getattr(last, id_col.key))
    return rows, encode_cursor(offset + size, key)
