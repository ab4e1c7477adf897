"""An in-process request's query string is the one httpx writes for the same parameters, and a
GET's request reaches the in-process route with it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from flora_mock import API_KEY
from hypothesis import given, settings
from hypothesis import strategies as st

from client_surface import AsyncFlora
from client_surface._client import query_string
from client_surface.table import Method

SCALARS = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="abcXYZ019_.-~ +&=%/?#é\u2028\U0001f600", max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.tuples(SCALARS, SCALARS))
PARAMS = st.dictionaries(st.text(max_size=8), VALUES, min_size=1, max_size=5)


def _httpx(params: dict[str, Any]) -> bytes:
    """What the in-process route was handed before: httpx's own query string."""
    return str(httpx.QueryParams(params)).encode("ascii")


@pytest.mark.parametrize(
    "params",
    [
        {"workspace_id": "ws_123", "limit": 10},
        {"cursor": "a b&c=d/é", "limit": 0},
        {"flag": True, "other": False, "none": None},
        {"ids": ["a", "b c"], "pair": ("x", 1.5)},
        {"empty": [], "text": ""},
        {"k y": "~-._", "float": 1e-7},
    ],
)
def test_query_string_is_httpx(params: dict[str, Any]) -> None:
    assert query_string(params) == _httpx(params)


@settings(max_examples=300, deadline=None)
@given(PARAMS)
def test_drawn_params_give_httpx_query_string(params: dict[str, Any]) -> None:
    assert query_string(params) == _httpx(params)


async def test_get_query_reaches_the_in_process_route() -> None:
    seen: list[bytes] = []

    async def route(
        method: Method,
        path: str,
        path_params: dict[str, str],
        query: bytes,
        body: bytes | None,
        headers: list[tuple[bytes, bytes]],
    ) -> tuple[int, dict[str, str], bytes]:
        seen.append(query)
        return 200, {}, b'{"projects": [], "meta": {"next_cursor": null}}'

    flora = AsyncFlora(api_key=API_KEY, base_url="http://flora.test/api/v1", in_process=route)
    await flora._call("projects.list", {"workspace_id": "ws_a b", "limit": 5})
    assert seen == [_httpx({"workspace_id": "ws_a b", "limit": 5})]
