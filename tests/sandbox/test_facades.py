"""The facades themselves, in this process: members only, imports by name, wrapped walkers."""

from __future__ import annotations

import pytest

from sandbox import facades
from sandbox.facades import FACADES, guarded_import
from sandbox.policy import compile_script


def test_no_facade_answers_an_underscore_name_but_strptimes_entry_points() -> None:
    for name, facade in FACADES.items():
        members = dir(facade)
        if name == "_strptime":
            assert members == ["_strptime_datetime", "_strptime_time"]
            continue
        assert not [m for m in members if m.startswith("_")], name
        with pytest.raises(AttributeError):
            facade.__name__  # noqa: B018 - IMPORT_FROM would look `<name>.<attr>` up with it


def test_dotted_imports_bind_the_package_or_the_module() -> None:
    assert guarded_import("urllib.parse") is FACADES["urllib"]
    assert guarded_import("urllib.parse", fromlist=("quote",)) is FACADES["urllib.parse"]
    assert FACADES["urllib"].parse is FACADES["urllib.parse"]


@pytest.mark.parametrize("name", ["os", "json.decoder", "urllib.request", "", "_collections_abc"])
def test_anything_else_is_an_import_error_with_the_allowed_list(name: str) -> None:
    with pytest.raises(ImportError, match="Allowed modules: .*json"):
        guarded_import(name)


def test_import_names_must_be_exact_strings() -> None:
    class S(str):
        pass

    with pytest.raises(ImportError):
        guarded_import(S("json"))
    with pytest.raises(ImportError):
        guarded_import("json", level=1)


def test_refused_imports_compile_with_a_warning_and_a_did_you_mean() -> None:
    compiled = compile_script("try:\n    import jsn\nexcept ImportError:\n    pass\n")
    assert compiled.code is not None and not compiled.problems
    assert compiled.warnings and "line 2" in compiled.warnings[0]
    assert "Did you mean 'json'?" in compiled.warnings[0]
    assert not compile_script(
        "import json, urllib.parse\nfrom __future__ import annotations"
    ).warnings


def test_star_imports_stay_refused() -> None:
    assert compile_script("from json import *").problems


def test_zones_are_loaded_before_confinement() -> None:
    zone = FACADES["zoneinfo"].ZoneInfo("Europe/Paris")
    assert str(zone) == "Europe/Paris"
    assert "UTC" in FACADES["zoneinfo"].available_timezones()
    with pytest.raises(FACADES["zoneinfo"].ZoneInfoNotFoundError, match="Did you mean"):
        FACADES["zoneinfo"].ZoneInfo("Europe/Pariss")


def test_get_type_hints_and_attribute_walkers_are_left_out() -> None:
    for module, name in [("typing", "get_type_hints"), ("string", "Formatter"),
                         ("pprint", "PrettyPrinter"), ("io", "open"), ("csv", "register_dialect"),
                         ("dataclasses", "sys"), ("enum", "EnumMeta")]:  # fmt: skip
        with pytest.raises(AttributeError):
            getattr(FACADES[module], name)
    assert FACADES["operator"].attrgetter is facades._AttrGetter
    assert FACADES["operator"].methodcaller is facades._MethodCaller
