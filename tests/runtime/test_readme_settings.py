"""The README's configuration table names every setting an operator can give, by its full
environment variable, so the table cannot fall behind the code."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from flora_backend.settings import BackendSettings
from runtime.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _variables(cls: type[Settings] | type[BackendSettings]) -> list[list[str]]:
    """Each field's environment names (any one of them documented is enough)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    found = []
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            found.append([c for c in alias.choices if isinstance(c, str)])
        elif isinstance(alias, str):
            found.append([alias])
        else:
            found.append([(prefix + name).upper()])
    return found


def test_every_setting_is_in_the_readmes_configuration_table() -> None:
    text = README.read_text()
    table = text.split("## Configuration (environment)", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    missing = [
        names[0]
        for cls in (Settings, BackendSettings)
        for names in _variables(cls)
        if not documented.intersection(names)
    ]
    assert not missing, f"add a row to the README's configuration table for {missing}"
