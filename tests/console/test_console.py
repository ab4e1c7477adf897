"""The console in a real browser: sign in, run the recipe and see its images, a failing script's
line and hint, an async run finishing in the list, the surface's search, an operator making a
tenant and seeing its key once, and /docs offline with "Authorize"."""

from __future__ import annotations

from typing import Any

import pytest
from console_browser import new_page, sign_in
from served import ServedTerrarium

pytestmark = pytest.mark.timeout(90)

FAILING = """async def run(client):
    models = await client.models.list(type="image")
    found = await client.models.lst(type="image")
    return found
"""

SLOW = """import asyncio

print("waiting")
await asyncio.sleep(1.5)
"slept"
"""


def set_code(page: Any, code: str) -> None:
    page.get_by_label("Script (Python)").fill(code)


def test_sign_in_and_run_the_recipe(operator_page: Any, shots: Any) -> None:
    page = operator_page
    assert "/console/playground" in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == "terrarium_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "trk_" not in page.url
    assert "def run(client)" in page.get_by_label("Script (Python)").input_value()
    page.wait_for_selector(".check-status.ok")  # the pre-flight passed while loading
    page.get_by_role("button", name="Run", exact=False).first.click()
    page.wait_for_selector(".media img", timeout=30_000)
    images = page.locator(".media img")
    assert images.count() == 3
    page.wait_for_function(
        "[...document.querySelectorAll('.media img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator(".output .badge.ok").count() >= 1
    assert page.locator("table.calls tbody tr").count() >= 8
    shots(page, "playground")


def test_failing_script_shows_its_line_and_hint(operator_page: Any, shots: Any) -> None:
    page = operator_page
    set_code(page, FAILING)
    # While typing: the pre-flight (in a sandbox child, nothing runs) marks line 3.
    page.wait_for_selector("#problems li")
    assert "did you mean client.models.list" in page.locator("#problems").inner_text()
    assert page.locator(".editor .gutter div.bad").inner_text() == "3"
    page.get_by_role("button", name="Run", exact=False).first.click()
    page.wait_for_selector(".error-panel")
    assert "did you mean client.models.list" in page.locator(".error-panel .hint").inner_text()
    assert page.locator(".editor .gutter div.bad").inner_text() == "3"
    assert page.locator(".editor .line.bad").inner_text().strip().startswith("found = await")
    shots(page, "playground-error")


def test_async_run_finishes_in_the_list(operator_page: Any, shots: Any) -> None:
    page = operator_page
    set_code(page, SLOW)
    page.get_by_role("button", name="Run async").click()
    page.wait_for_selector("#run-status a")
    execution_id = page.locator("#run-status a").inner_text()
    page.goto("/console/executions")
    row = page.locator(f'tr[data-id="{execution_id}"]')
    row.wait_for()
    assert row.get_attribute("data-state") in ("queued", "running")
    shots(page, "executions-running")
    page.wait_for_selector(f'tr[data-id="{execution_id}"][data-state="done"]', timeout=20_000)
    assert "ok" in row.locator(".badge").inner_text()
    shots(page, "executions")
    row.get_by_role("link").click()
    page.wait_for_selector("#body .json")
    assert "slept" in page.locator("#body").inner_text()
    assert page.get_by_role("link", name="Run again in the playground").is_visible()
    shots(page, "execution")


def test_surface_search(operator_page: Any, shots: Any) -> None:
    page = operator_page
    page.goto("/console/surface")
    total = page.locator(".method").count()
    assert total >= 30
    page.get_by_label("Search methods, arguments and return fields").fill("generations retrieve")
    visible = page.locator(".method:visible")
    assert 0 < visible.count() < total
    for name in visible.locator("h3").all_inner_texts():
        assert "generations" in name
    assert any("client.generations.retrieve(" in h for h in visible.locator("h3").all_inner_texts())
    shots(page, "surface")


def test_operator_makes_a_tenant_and_sees_its_key_once(
    operator_page: Any, browser: Any, server: ServedTerrarium, outside: list[str], shots: Any
) -> None:
    page = operator_page
    page.goto("/console/operators")
    page.wait_for_selector("#health .layers li")
    page.wait_for_selector("#metrics .stats")
    page.get_by_label("Name").fill("acme-console")
    page.get_by_label("At once").fill("4")
    page.get_by_role("button", name="Create tenant").click()
    page.wait_for_selector("#new-key:not([hidden])")
    key = page.locator("#new-key-value").inner_text()
    assert key.startswith("trk_")
    page.wait_for_selector("#tenants-body >> text=acme-console")
    shots(page, "operators")
    page.reload()
    page.wait_for_selector("#tenants-body >> text=acme-console")
    assert key not in page.content()
    # The new tenant's key signs in, but opens no operator view.
    other = new_page(browser, server, outside)
    sign_in(other, key)
    assert other.get_by_role("link", name="Operators").count() == 0
    assert other.goto("/console/operators").status == 403
    other.context.close()


def test_sign_out_and_docs_offline(operator_page: Any, shots: Any) -> None:
    page = operator_page
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .info")
    page.get_by_role("button", name="Authorize").first.wait_for()
    shots(page, "docs")
    page.goto("/console/playground")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/login")
    shots(page, "login")
    page.goto("/console/executions")
    assert "/console/login" in page.url
