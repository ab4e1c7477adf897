"""`check_arguments` against the full check on many argument sets, for every method.

`check_arguments` validates at once when every argument is a known name and none required is
missing, and builds the wording of an unknown or missing name only when there is one. The full
check below walks every name on every call, in the wording the table has always given; both
must answer alike: the same validated values, or the same error word for word.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from client_surface.errors import ArgumentError
from client_surface.table import (
    ID_ARGUMENTS,
    METHODS,
    Method,
    _short,
    check_arguments,
    check_path_value,
    suggest,
)


def full_check(method: Method, arguments: dict[str, Any]) -> BaseModel:
    """Every unknown, missing or invalid argument named, every name walked on every call."""
    for name in method.path_params:
        if name in arguments:
            check_path_value(method.full_name, name, arguments[name])
    call = f"{method.full_name}()"
    fields = method.args.model_fields
    valid = list(fields)
    problems: list[str] = []
    hints: list[str] = []
    for key in arguments:
        if key in fields:
            continue
        guess = suggest(str(key), valid)
        text = f"{call} got an unexpected argument {key!r}."
        if guess:
            text += f" Did you mean {guess!r}?"
            hints.append(f"Did you mean {guess!r}?")
        problems.append(text)
    if problems:
        listed = ", ".join(valid) if valid else "none"
        problems.append(f"Valid arguments: {listed}.")
    guessed = {h.split("'")[1] for h in hints}
    missing = [
        n for n, f in fields.items() if f.is_required() and n not in arguments and n not in guessed
    ]
    if missing:
        problems.append(
            f"{call} is missing required argument{'s' if len(missing) > 1 else ''}: "
            + ", ".join(repr(n) for n in missing)
            + "."
        )
    if problems:
        raise ArgumentError(" ".join(problems), " ".join(hints) or None)
    try:
        validated = method.args.model_validate(arguments)
    except ValidationError as exc:
        for err in exc.errors():
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            loc = loc.lstrip(".")
            kind = err["type"]
            got = _short(err.get("input"))
            if kind == "literal_error":
                expected = err.get("ctx", {}).get("expected", "")
                problems.append(f"Argument {loc!r} must be one of {expected} (got {got}).")
            elif kind == "missing":
                field = loc.split(".")[-1]
                problems.append(f"Argument {loc!r} is missing required field {field!r}.")
            elif kind == "extra_forbidden":
                problems.append(f"Argument {loc!r} is not allowed here.")
            else:
                problems.append(f"Argument {loc!r}: {err['msg']} (got {got}).")
        raise ArgumentError(f"{call}: " + " ".join(problems)) from None
    for name in method.path_params:
        check_path_value(method.full_name, name, getattr(validated, name))
    return validated


def outcome(check: Any, method: Method, arguments: dict[str, Any]) -> tuple[Any, ...]:
    """What a check made of the arguments: each validated value with its type, or the error."""
    try:
        model = check(method, dict(arguments))
    except ArgumentError as exc:
        return ("refused", type(exc), exc.message, exc.hint, str(exc))
    values = [(name, type(value), value) for name, value in model]
    return ("validated", type(model), values, model.model_fields_set, model.model_dump())


class Text(str):
    """A str subclass: the model makes a plain str of it."""


IDS = {
    "workspace": "ws_1",
    "project": "prj_1",
    "run": "run_abc123",
    "asset": "asset_1",
    "feedback": "fb_1",
    "technique": "thumbnail-v3",
    "model": "flux-1.1-pro",
    "folder": "fld_1",
    "node": "n3",
    "action": "rotate-image-browser",
    "output": "out_1",
}

ODD = [
    None, True, 0, 1, -1, 101, 2**70, 1.5, float("nan"), "", " ", "x", "ws_1", "prj_1",
    "run_abc123", "prj_x/nodes", "..", "ws_", "tech_1", "image", "text", "async", "bug",
    "pending", Text("ws_1"), Text("run_abc123"), Text("prj_1/x"), b"ws_1", [], ["n1"], [1],
    {}, {"a": 1}, {"id": "i", "type": "text", "value": "v"}, [{"id": "i", "type": "text",
    "value": "v"}], [{"id": 1}], ("n1",), "a" * 200,
]  # fmt: skip


def example(annotation: Any, name: str = "") -> Any:
    """A value the annotation accepts (an id of the argument's kind where it is one)."""
    if name in ID_ARGUMENTS:
        return IDS[ID_ARGUMENTS[name]]
    origin = get_origin(annotation)
    if annotation is type(None):
        return None
    if origin is Literal:
        return get_args(annotation)[0]
    if origin is Union or isinstance(annotation, types.UnionType):
        return example(next(a for a in get_args(annotation) if a is not type(None)))
    if origin is list:
        return [example(get_args(annotation)[0])]
    if origin is dict or annotation is dict:
        return {"k": example(get_args(annotation)[1])} if get_args(annotation) else {"k": "v"}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {
            (f.alias or n): example(f.annotation, n)
            for n, f in annotation.model_fields.items()
            if f.is_required()
        }
    return {int: 5, float: 1.5, bool: True}.get(annotation, "a1")


def literals(annotation: Any) -> list[Any]:
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    return [v for arg in get_args(annotation) for v in literals(arg)]


def slips(name: str) -> list[str]:
    """Names an agent might type for ``name``: camelCase, a letter dropped, one added."""
    head, *rest = name.split("_")
    camel = head + "".join(p[:1].upper() + p[1:] for p in rest)
    return [camel, name[:-1], name + "s", name.upper()]


def good_arguments(method: Method) -> dict[str, Any]:
    return {
        n: example(f.annotation, n) for n, f in method.args.model_fields.items() if f.is_required()
    }


@st.composite
def argument_sets(draw: st.DrawFn, method: Method) -> dict[str, Any]:
    fields = method.args.model_fields
    arguments: dict[str, Any] = {}
    for name, field in fields.items():
        if draw(st.integers(0, 9)) >= (9 if field.is_required() else 5):
            continue  # a required name is left out one time in ten, another one in two
        good = [example(field.annotation, name), *literals(field.annotation)]
        if draw(st.integers(0, 9)):  # a value of the field's type nine times in ten
            arguments[name] = draw(st.sampled_from(good))
        else:
            arguments[name] = draw(
                st.one_of(st.sampled_from(ODD), st.text(max_size=6), st.integers(-5, 150))
            )
    others = [s for n in fields for s in slips(n)] + ["x", "workspaceId", "limit", "from", "in"]
    if draw(st.booleans()):  # another name, or two, half the time
        for name in draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True)):
            arguments.setdefault(name, draw(st.sampled_from(ODD)))
    return arguments


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name)
def test_good_arguments_validate_alike(method: Method) -> None:
    arguments = good_arguments(method)
    fast = outcome(check_arguments, method, arguments)
    assert fast == outcome(full_check, method, arguments)
    assert fast[0] == "validated", fast


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name)
def test_a_missing_or_unknown_name_is_worded_alike(method: Method) -> None:
    good = good_arguments(method)
    sets = [{**good, "x": 1}, {**good, "workspaceId": "ws_1"}]
    sets += [{k: v for k, v in good.items() if k != name} for name in good]
    sets += [{**{k: v for k, v in good.items() if k != n}, slips(n)[1]: v} for n, v in good.items()]
    for arguments in sets:
        fast = outcome(check_arguments, method, arguments)
        assert fast == outcome(full_check, method, arguments), arguments
        assert fast[0] == "refused", arguments


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_arguments_are_checked_alike(method: Method, data: st.DataObject) -> None:
    arguments = data.draw(argument_sets(method))
    assert outcome(check_arguments, method, arguments) == outcome(full_check, method, arguments)


def test_a_path_id_is_checked_before_and_after_validation() -> None:
    method = next(m for m in METHODS if m.full_name == "generations.retrieve")
    for value in ("prj_1", Text("prj_1"), "run_a/b", 5, None):
        fast = outcome(check_arguments, method, {"run_id": value})
        assert fast == outcome(full_check, method, {"run_id": value})
        assert fast[0] == "refused"
    fast = outcome(check_arguments, method, {"run_id": Text("run_1")})
    assert fast == outcome(full_check, method, {"run_id": Text("run_1")})
    assert fast[2] == [("run_id", str, "run_1")]
