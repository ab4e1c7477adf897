"""FLORA's ``client.*`` surface, declared once in ``table.SURFACE``, and a client built on it."""

from client_surface._client import DEFAULT_BASE_URL, AsyncFlora, Flora
from client_surface.errors import *  # noqa: F403
from client_surface.errors import __all__ as _errors_all
from client_surface.pagination import AsyncPage, SyncPage
from client_surface.table import SURFACE, Method, find

__all__ = [
    "AsyncFlora",
    "Flora",
    "DEFAULT_BASE_URL",
    "SURFACE",
    "Method",
    "find",
    "AsyncPage",
    "SyncPage",
    *_errors_all,
]
