"""The settings as an operator sees them: by environment variable, never by Python field.

`load()` reads the settings, or raises `ConfigError` whose lines name each variable at fault,
its value and the form it expects (no pydantic traceback). `effective()` lists every setting's
variable and value, secrets masked (`terrarium config`).
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo

from runtime.settings import Settings

SECRET_FIELDS = frozenset({"flora_api_key", "secret_key", "operator_key"})
ENV_PREFIX = "TERRARIUM_"


class ConfigError(Exception):
    """The environment does not make valid settings; `lines` says which variables and why."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def env_name(name: str, info: FieldInfo) -> str:
    """The environment variable an operator sets for the field `name`."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and alias.choices and isinstance(alias.choices[0], str):
        return alias.choices[0]
    if isinstance(alias, str):
        return alias
    return ENV_PREFIX + name.upper()


def expected_form(info: FieldInfo) -> str:
    """What a value must look like, in words."""
    kinds = [a for a in _flatten(info.annotation) if a is not type(None)]
    words = {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "text",
        Path: "a path",
    }
    form = " or ".join(words.get(k, getattr(k, "__name__", str(k))) for k in kinds) or "a value"
    bounds = []
    for meta in info.metadata:
        for attr, word in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{word} {value}")
    return form + (f", {' and '.join(bounds)}" if bounds else "")


def _flatten(annotation: Any) -> list[Any]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [k for arg in typing.get_args(annotation) for k in _flatten(arg)]
    return [annotation]


def _field_of(loc: tuple[Any, ...]) -> tuple[str, FieldInfo] | None:
    fields = Settings.model_fields
    for part in loc:
        key = str(part)
        if key in fields:
            return key, fields[key]
        for name, info in fields.items():  # an alias (DATABASE_URL), any case
            if env_name(name, info).lower() == key.lower():
                return name, info
    return None


def load(**overrides: Any) -> Settings:
    """The settings from the environment, or `ConfigError` naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            found = _field_of(tuple(err.get("loc", ())))
            value = err.get("input")
            shown = f"={value!r}" if isinstance(value, str | int | float) else ""
            if found is None:
                lines.append(f"configuration: {err.get('msg')}")
                continue
            name, info = found
            variable = env_name(name, info)
            if name in SECRET_FIELDS:
                shown = ""
            lines.append(
                f"configuration: {variable}{shown} is not valid: expected {expected_form(info)} "
                f"({err.get('msg')})"
            )
        raise ConfigError(lines) from None


def mask(name: str, value: Any) -> str:
    """A setting's value as `terrarium config` prints it: secrets hidden, a URL's password too."""
    if value is None:
        return "(unset)"
    if name in SECRET_FIELDS:
        return "(set, hidden)"
    text = str(value)
    if name == "database_url":
        parts = urlsplit(text)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
            text = urlunsplit(parts._replace(netloc=netloc))
    return text


def effective(settings: Settings) -> list[tuple[str, str, bool]]:
    """(variable, shown value, set in the environment?) for every setting, in declared order."""
    rows = []
    for name, info in Settings.model_fields.items():
        rows.append(
            (env_name(name, info), mask(name, getattr(settings, name)),
             name in settings.model_fields_set)
        )  # fmt: skip
    return rows
