"""Pages for the console's browser tests: a laptop-sized page that refuses anything off the
server, and signing in. (Its own module, not conftest: every test folder has a conftest.)"""

from __future__ import annotations

from typing import Any

from served import ServedTerrarium


def new_page(browser: Any, server: ServedTerrarium, outside: list[str]) -> Any:
    """A page at a laptop's size that refuses (and notes) any request off this server."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=server.base)

    def route(r: Any) -> None:
        if r.request.url.startswith(server.base) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context.new_page()


def sign_in(page: Any, key: str, path: str = "/console") -> None:
    page.goto(path)
    page.get_by_label("Runtime key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/**")
