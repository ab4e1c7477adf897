"""Host-side dispatcher for ``client.*`` calls made by a sandboxed script.

The sandbox sends a method name and a kwargs dict (plain JSON). This module checks
them against the table, performs exactly one HTTP request, and returns plain JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from client_surface._client import AsyncFlora
from client_surface.errors import ArgumentError
from client_surface.table import Method, check_arguments, find, suggest_method

__all__ = ["ArgumentError", "dispatch_call"]


def fill_omitted(spec: Method, arguments: dict[str, Any], warnings: list[str] | None) -> None:
    """Add to ``arguments`` each argument the table fills when it is omitted (FLORA requires it;
    ``Method.filled``), and its warning to ``warnings`` once: the same rule as the sandbox's."""
    for fill in spec.filled:
        if fill.name not in arguments:
            arguments[fill.name] = fill.value
            text = fill.warning(spec.full_name)
            if warnings is not None and text not in warnings:
                warnings.append(text)


def model_params_of(models_page: Any) -> dict[str, tuple[str, ...]]:
    """``{model_id: (param names...)}`` from a ``models.list`` answer (plain JSON)."""
    out: dict[str, tuple[str, ...]] = {}
    models = models_page.get("models") if isinstance(models_page, dict) else None
    for model in models if isinstance(models, list) else []:
        if isinstance(model, dict) and isinstance(model.get("model_id"), str):
            params = model.get("params")
            out[model["model_id"]] = tuple(
                p["name"]
                for p in (params if isinstance(params, list) else [])
                if isinstance(p, dict) and isinstance(p.get("name"), str)
            )
    return out


async def dispatch_call(
    client: AsyncFlora,
    method: str,
    arguments: dict[str, Any],
    warnings: list[str] | None = None,
    found: Method | None = None,
) -> Any:
    """Run one ``client.<method>(**arguments)`` call and return its result as plain JSON.

    Bad method names or arguments raise ``ArgumentError`` before any request; FLORA
    failures raise the matching ``APIError`` subclass. A paged list returns the one
    page asked for, ``{items_key: [...], "meta": {"next_cursor": ...}}``. An argument the table
    fills when omitted is added, with its warning appended to ``warnings``. ``found``: the
    table's entry for ``method`` when the caller has already looked it up (``find(method)``).
    """
    if not isinstance(method, str):
        raise ArgumentError("The method name must be a string such as 'generations.create'.")
    spec = found or find(method)
    if spec is None:
        shown = method.removeprefix("client.")
        guess = suggest_method(shown)
        hint = f"Did you mean client.{guess}?" if guess else None
        text = f"client.{shown} is not a method."
        text += f" {hint}" if hint else " Use search_docs to list the available methods."
        raise ArgumentError(text, hint)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ArgumentError(f"{spec.full_name}() takes keyword arguments only.")
    for key in arguments:
        if not isinstance(key, str):
            raise ArgumentError(f"{spec.full_name}(): argument names must be strings.")
    if spec.filled:
        arguments = dict(arguments)
        fill_omitted(spec, arguments, warnings)
    validated = check_arguments(spec, arguments)
    response = await client._request(spec, validated)
    if spec.paged and spec.items_key:
        items = getattr(response, spec.items_key) or []
        meta = getattr(response, "meta", None)
        return {
            spec.items_key: [_dump(item) for item in items],
            "meta": {"next_cursor": getattr(meta, "next_cursor", None)},
        }
    return _dump(response)


def _dump(model: BaseModel) -> Any:
    """``model.model_dump(mode="json", exclude_unset=True)``, without its Python wrapper."""
    return type(model).__pydantic_serializer__.to_python(model, mode="json", exclude_unset=True)
