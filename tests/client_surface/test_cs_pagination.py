"""Cursor pages: one page, the next page, and iteration across pages."""

from __future__ import annotations

import pytest
from flora_mock import three_page_handler

from client_surface import AsyncPage, FloraError, SyncPage

ALL_IDS = [f"run_id_{i}" for i in range(1, 7)]


def test_sync_iteration_walks_all_three_pages(make_sync):
    rec = three_page_handler()
    ids = [g.run_id for g in make_sync(rec).generations.list(limit=2)]
    assert ids == ALL_IDS
    assert [r.url.params.get("cursor") for r in rec.requests] == [None, "c1", "c2"]
    assert all(r.url.params["limit"] == "2" for r in rec.requests)


async def test_async_for_over_list_call_walks_all_pages(make_async):
    rec = three_page_handler()
    ids = [g.run_id async for g in make_async(rec).generations.list(status="completed")]
    assert ids == ALL_IDS
    assert all(r.url.params["status"] == "completed" for r in rec.requests)


async def test_awaiting_list_returns_only_the_first_page(make_async):
    rec = three_page_handler()
    page = await make_async(rec).generations.list()
    assert isinstance(page, AsyncPage)
    assert [g.run_id for g in page.generations] == ["run_id_1", "run_id_2"]
    assert [g.run_id for g in page.items] == ["run_id_1", "run_id_2"]
    assert page.meta.next_cursor == "c1"
    assert len(rec.requests) == 1


async def test_async_page_get_next_page_follows_the_cursor(make_async):
    rec = three_page_handler()
    page = await make_async(rec).generations.list()
    assert page.has_next_page()
    second = await page.get_next_page()
    third = await second.get_next_page()
    assert [g.run_id for g in third.items] == ["run_id_5", "run_id_6"]
    assert not third.has_next_page()
    with pytest.raises(FloraError, match="no next page"):
        await third.get_next_page()


async def test_async_iteration_of_an_awaited_page_continues_past_it(make_async):
    rec = three_page_handler()
    page = await make_async(rec).generations.list()
    assert [g.run_id async for g in page] == ALL_IDS


def test_sync_page_has_next_and_get_next_page(make_sync):
    rec = three_page_handler("technique_runs")
    page = make_sync(rec).techniques.runs.list(technique_id="tech_1")
    assert isinstance(page, SyncPage)
    assert [r.run_id for r in page.technique_runs] == ["run_id_1", "run_id_2"]
    nxt = page.get_next_page()
    assert nxt.next_cursor == "c2"
    assert nxt.has_next_page()
    assert rec.requests[1].url.params["technique_id"] == "tech_1"
    assert [p.next_cursor for p in page.iter_pages()] == ["c1", "c2", None]


def test_empty_page_with_a_cursor_has_no_next_page(make_sync):
    import httpx
    from flora_mock import Recorder

    rec = Recorder(
        lambda r: httpx.Response(200, json={"projects": [], "meta": {"next_cursor": "x"}})
    )
    page = make_sync(rec).projects.list(workspace_id="ws_1")
    assert not page.has_next_page()
    assert list(page) == []
    assert len(rec.requests) == 1
