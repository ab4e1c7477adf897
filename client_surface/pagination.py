"""Cursor pages: one page of a list method, iterable across all pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from client_surface.errors import FloraError

if TYPE_CHECKING:
    from client_surface.table import Method

__all__ = ["AsyncPage", "AsyncPageRequest", "SyncPage"]


class _Page:
    """One page of results: ``items``, ``meta`` and the items key (e.g. ``page.generations``)."""

    def __init__(self, method: Method, args: BaseModel, response: BaseModel) -> None:
        self._method = method
        self._args = args
        self._response = response

    @property
    def items(self) -> list[Any]:
        return list(getattr(self._response, self._method.items_key or "", None) or [])

    @property
    def meta(self) -> Any:
        return getattr(self._response, "meta", None)

    @property
    def next_cursor(self) -> str | None:
        return getattr(self.meta, "next_cursor", None)

    @property
    def response(self) -> BaseModel:
        return self._response

    def has_next_page(self) -> bool:
        return bool(self.next_cursor) and bool(self.items)

    def _next_args(self) -> BaseModel:
        if not self.has_next_page():
            raise FloraError("There is no next page; check has_next_page() first.")
        return self._args.model_copy(update={"cursor": self.next_cursor})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._response, name)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._method.full_name}, {len(self.items)} "
            f"{self._method.items_key}, next_cursor={self.next_cursor!r})"
        )


class SyncPage(_Page):
    """A page from the sync client; ``for item in page`` walks every page."""

    def __init__(
        self,
        method: Method,
        args: BaseModel,
        response: BaseModel,
        fetch: Callable[[Method, BaseModel], SyncPage],
    ) -> None:
        super().__init__(method, args, response)
        self._fetch = fetch

    def get_next_page(self) -> SyncPage:
        return self._fetch(self._method, self._next_args())

    def iter_pages(self) -> Iterator[SyncPage]:
        page = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = page.get_next_page()

    def __iter__(self) -> Iterator[Any]:
        for page in self.iter_pages():
            yield from page.items


class AsyncPage(_Page):
    """A page from the async client; ``async for item in page`` walks every page."""

    def __init__(
        self,
        method: Method,
        args: BaseModel,
        response: BaseModel,
        fetch: Callable[[Method, BaseModel], Awaitable[AsyncPage]],
    ) -> None:
        super().__init__(method, args, response)
        self._fetch = fetch

    async def get_next_page(self) -> AsyncPage:
        return await self._fetch(self._method, self._next_args())

    async def iter_pages(self) -> AsyncIterator[AsyncPage]:
        page = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = await page.get_next_page()

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item


class AsyncPageRequest:
    """What an async list method returns: ``await`` it for the first page,
    or ``async for`` over it for every item of every page."""

    def __init__(self, fetch_first: Callable[[], Awaitable[AsyncPage]]) -> None:
        self._fetch_first = fetch_first

    def __await__(self) -> Generator[Any, None, AsyncPage]:
        return self._fetch_first().__await__()

    async def __aiter__(self) -> AsyncIterator[Any]:
        page = await self._fetch_first()
        async for item in page:
            yield item
