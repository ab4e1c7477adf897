"""The console's browser tests: a real `terrarium serve` (the embedded default, as `make run`
starts it) driven by Debian's Chromium through Playwright. Playwright's own browser download
cannot work offline, so the fixture installs Debian's package when it is missing
(scripts/ensure-chromium.sh) and points Playwright at /usr/bin/chromium.

Every page's screenshot goes to tests/console/artifacts/ (ignored); with
TERRARIUM_CONSOLE_SCREENSHOTS=docs/console they are also written there, for docs/console.md.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_browser import new_page, sign_in
from served import ServedTerrarium, clean_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    subprocess.run([str(ROOT / "scripts" / "ensure-chromium.sh")], check=False)
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed and could not be (needs root and apt)")
    return CHROMIUM


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedTerrarium]:
    data = tmp_path_factory.mktemp("console") / "data"
    data.mkdir()
    env = clean_env(TERRARIUM_BACKEND_SPEED="0.005", TERRARIUM_LOG_FORMAT="text")
    with ServedTerrarium(env, data) as served:
        yield served


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and every asyncio test collected after this folder needs the thread free.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Shots:
    """Saves a page's screenshot under artifacts/ (and the docs folder when asked)."""

    def __init__(self) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        docs = os.environ.get("TERRARIUM_CONSOLE_SCREENSHOTS")
        self.docs = (ROOT / docs) if docs else None
        if self.docs:
            self.docs.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Any, name: str, full_page: bool = False) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
        if self.docs:
            page.screenshot(path=str(self.docs / f"{name}.png"), full_page=full_page)


@pytest.fixture(scope="session")
def shots() -> Shots:
    return Shots()


@pytest.fixture
def outside() -> Iterator[list[str]]:
    requests: list[str] = []
    yield requests
    assert requests == [], f"the console asked for something off the server: {requests}"


@pytest.fixture
def operator_page(browser: Any, server: ServedTerrarium, outside: list[str]) -> Iterator[Any]:
    page = new_page(browser, server, outside)
    assert server.key
    sign_in(page, server.key)
    yield page
    page.context.close()
