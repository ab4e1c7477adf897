"""Host-side dispatcher for ``client.*`` calls made by a sandboxed script.

The sandbox sends a method name and a kwargs dict (plain JSON). This module checks
them against the table, performs exactly one HTTP request, and returns plain JSON.
"""

from __future__ import annotations

from typing import Any

from client_surface._client import AsyncFlora
from client_surface.errors import ArgumentError
from client_surface.table import Method, check_arguments, find, suggest, suggest_method

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


MAX_KEYS_NAMED = 10  # unknown params keys named in one warning; more are counted


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


def unknown_params_warning(
    spec: Method, arguments: dict[str, Any], model_params: dict[str, tuple[str, ...]]
) -> str | None:
    """The warning for a call whose open ``params`` map holds keys the chosen model does not list
    (``Method.model_params``): the keys, the model, its params, a did-you-mean for a close one.
    None when every key is a param of the model, or the model is not named or not known."""
    if spec.model_params is None:
        return None
    model_arg, params_arg = spec.model_params
    model_id, params = arguments.get(model_arg), arguments.get(params_arg)
    if not isinstance(model_id, str) or not isinstance(params, dict) or not params:
        return None
    valid = model_params.get(model_id)
    if valid is None:
        return None  # not a model FLORA listed: the call itself says so
    unknown = [str(k) for k in params if k not in valid]
    if not unknown:
        return None
    named = []
    for key in unknown[:MAX_KEYS_NAMED]:
        guess = suggest(key, valid)
        named.append(_quoted(key) + (f" (did you mean {guess!r}?)" if guess else ""))
    if len(unknown) > MAX_KEYS_NAMED:
        named.append(f"and {len(unknown) - MAX_KEYS_NAMED} more")
    one = len(unknown) == 1
    return (
        f"{spec.full_name}: {params_arg} {'key' if one else 'keys'} {', '.join(named)} "
        f"{'is not a param' if one else 'are not params'} of model {_quoted(model_id)}; "
        f"{'it was' if one else 'they were'} sent anyway and the model may ignore "
        f"{'it' if one else 'them'}. Its params: {', '.join(valid) or 'none'}"
    )


def _quoted(text: str) -> str:
    """``text`` quoted, cut to 60 characters (a script chooses it)."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


async def dispatch_call(
    client: AsyncFlora,
    method: str,
    arguments: dict[str, Any],
    warnings: list[str] | None = None,
) -> Any:
    """Run one ``client.<method>(**arguments)`` call and return its result as plain JSON.

    Bad method names or arguments raise ``ArgumentError`` before any request; FLORA
    failures raise the matching ``APIError`` subclass. A paged list returns the one
    page asked for, ``{items_key: [...], "meta": {"next_cursor": ...}}``. An argument the table
    fills when omitted is added, with its warning appended to ``warnings``.
    """
    if not isinstance(method, str):
        raise ArgumentError("The method name must be a string such as 'generations.create'.")
    spec = find(method)
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
    bad_keys = [k for k in arguments if not isinstance(k, str)]
    if bad_keys:
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
            spec.items_key: [item.model_dump(mode="json", exclude_unset=True) for item in items],
            "meta": {"next_cursor": getattr(meta, "next_cursor", None)},
        }
    return response.model_dump(mode="json", exclude_unset=True)
