"""An answer's bytes become the same model whichever parser reads them, and in-process requests
carry the headers an HTTP request would."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from flora_mock import API_KEY
from pydantic import ValidationError

from client_surface import AsyncFlora
from client_surface._client import _BaseClient, _in_process_headers
from client_surface.errors import APIError
from client_surface.table import Method, find


def _method(name: str) -> Method:
    found = find(name)
    assert found is not None
    return found


WORKSPACES = _method("workspaces.list")

# Numbers and strings where two JSON parsers could disagree.
TOKENS = [
    "-0", "1E5", "1e-400", "0.1", "123456789012345678901234567890", "-1.5e308",
    "1.7976931348623157e308", "5e-324", '"\\u00e9\\u2028"', '"\\ud83d\\ude00"', '"\\u0000"',
    "[]", "{}", "true", "null", "2.2250738585072014e-308", "0.30000000000000004",
    "9007199254740993", "-9223372036854775809", "1.0", "100e-2", "1e400", "NaN", "-Infinity",
]  # fmt: skip


def _standard(content: bytes) -> Any:
    """What the answer was parsed into before: json.loads, then the response model."""
    return WORKSPACES.response.model_validate(json.loads(content))


def _typed(value: Any) -> Any:
    """`value` with the exact type of every part (NaN, -0.0 and infinities told apart)."""
    if isinstance(value, dict):
        return {(type(k), k): _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, float):
        return (float, repr(value))
    return (type(value), value)


def _dumped(model: Any) -> Any:
    """The model's values as Python has them (not JSON mode, which writes NaN and infinities
    as null), with their types, and the fields the answer set."""
    return _typed(model.model_dump(exclude_unset=True)), sorted(model.model_fields_set)


@pytest.mark.parametrize("token", TOKENS)
def test_an_answer_parses_as_json_loads_and_the_model_parse_it(token: str) -> None:
    item = '{"workspace_id":"ws_1","name":"n","role":"owner","created_at":1767225600000'
    content = f'{{"workspaces":[{item},"added":{token}}}],"meta_added":{token}}}'.encode()
    parsed = _BaseClient._parse_answer(WORKSPACES, 200, {}, content)
    assert _dumped(parsed) == _dumped(_standard(content))


def _outcome(content: bytes) -> Any:
    """The parsed answer, or the wording of the error the agent sees."""
    try:
        return _dumped(_BaseClient._parse_answer(WORKSPACES, 200, {}, content))
    except APIError as exc:
        return (exc.code, exc.message)


def _outcome_before(content: bytes) -> Any:
    """The same, as json.loads and the response model give it."""
    try:
        data = json.loads(content) if content else {}
    except (ValueError, RecursionError):  # too deep or too many digits: not JSON to read
        return (
            "invalid_response",
            "workspaces.list: the API answered 200 with a body that is not JSON.",
        )
    try:
        return _dumped(WORKSPACES.response.model_validate(data))
    except ValidationError as exc:
        return (
            "invalid_response",
            "workspaces.list: the API response did not have the expected shape "
            f"({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}).",
        )


@pytest.mark.parametrize(
    "number",
    [
        "1" + "0" * 308,  # 1e308 as an integer: a float, as before
        "17976931348623157" + "0" * 292,  # the largest float, as an integer
        "2" + "0" * 308,  # over the largest float: refused, as before (not infinity)
        "-" + "9" * 400,
        "1" * 1000,
    ],
)
def test_an_integer_too_large_for_a_float_field_is_refused_as_before(number: str) -> None:
    item = f'{{"workspace_id":"ws_1","name":"n","role":"r","created_at":{number}}}'
    content = f'{{"workspaces":[{item}],"added":{number}}}'.encode()
    assert _outcome(content) == _outcome_before(content)


_ITEM = b'{"workspace_id":"ws_1","name":"n","role":"r","created_at":1}'


@pytest.mark.parametrize(
    "content",
    [
        b'{"workspaces":[],"x":1,"x":2}',  # duplicate keys: the last one, as json.loads
        b'{"workspaces":[1],"workspaces":[]}',
        b'{"workspaces":[],"workspaces":[1]}',
        b'{"workspaces":[{"workspace_id":1,"workspace_id":"ws_2","name":"n","role":"r",'
        b'"created_at":null}]}',
        b'{"workspaces":[],"x":{"a":1,"b":2,"a":3}}',
        b'{"workspaces":[]} x',  # trailing data
        b'{"workspaces":[]}{}',
        b'{"workspaces":[]}\x00',
        b'{"workspaces":[]} \n\t\r',
        b'{"workspaces":[],}',  # not JSON: trailing comma, comments, quotes, numbers
        b'{"workspaces":[] /* c */}',
        b"{'workspaces':[]}",
        b'{"workspaces":[],"x":01}',
        b'{"workspaces":[],"x":1.}',
        b'{"workspaces":[],"x":.5}',
        b'{"workspaces":[],"x":+1}',
        b'{"workspaces":[],"x":0x10}',
        b'{"workspaces":[],"x":Infinity,"y":-Infinity,"z":NaN}',
        b'{"workspaces":[],"x":"a\tb"}',  # a raw control character in a string
        b'{"workspaces":[],"x":"\\x41"}',
        b'{"workspaces":[],"x":"\\ud800\\u0041","\\udc00":1}',
        b'{"workspaces":[],"x":"\xed\xa0\x80"}',  # a surrogate written in UTF-8
        b'{"workspaces":[],"x":"\xff"}',  # not UTF-8
        b'{"workspaces":[],"x":"\xc0\xaf"}',
        b'{"workspaces":[],"x":' + b"[" * 3000 + b"]" * 3000 + b"}",  # deep
        b'{"workspaces":[' + _ITEM + b'],"x":' + b"1" * 4300 + b"}",  # long integers
        b'{"workspaces":[' + _ITEM + b'],"x":' + b"1" * 4301 + b"}",
        b'{"workspaces":[' + _ITEM.replace(b":1}", b':"1e400"}') + b"]}",
        b'{"workspaces":[' + _ITEM.replace(b":1}", b":true}") + b"]}",
        b'{"workspaces":[' + _ITEM.replace(b":1}", b':" 12 "}') + b"]}",
        b'{"workspaces":[' + _ITEM.replace(b'"n"', b"5") + b"]}",
        b"null",
        b"[]",
        b"",
    ],
)
def test_what_parsers_could_disagree_on_reads_and_is_refused_as_before(content: bytes) -> None:
    assert _outcome(content) == _outcome_before(content)


@pytest.mark.parametrize(
    "content",
    [
        '\ufeff{"workspaces": []}'.encode(),  # a byte order mark
        '{"workspaces": []}'.encode("utf-16"),  # json.loads reads UTF-16 and UTF-32 too
        b'{"workspaces": [{"workspace_id": "\\ud800", "name": "n", "role": "r",'
        b' "created_at": null}]}',  # a lone surrogate, kept as json.loads keeps it
    ],
)
def test_an_answer_only_the_standard_parser_reads_is_still_read(content: bytes) -> None:
    parsed = _BaseClient._parse_answer(WORKSPACES, 200, {}, content)
    assert _dumped(parsed) == _dumped(_standard(content))


def test_a_body_that_is_not_json_is_worded_as_before() -> None:
    with pytest.raises(APIError) as info:
        _BaseClient._parse_answer(WORKSPACES, 200, {"Request-Id": "req_1"}, b'{"workspaces": [')
    assert str(info.value.message) == (
        "workspaces.list: the API answered 200 with a body that is not JSON."
    )
    assert (info.value.code, info.value.request_id) == ("invalid_response", "req_1")


@pytest.mark.parametrize(
    "content",
    [
        b'{"workspaces": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deeper than recursion
        b'{"workspaces": [], "n": ' + b"7" * 5_000 + b"}",  # more digits than int() reads
    ],
)
def test_a_body_json_loads_cannot_read_is_an_api_error_not_a_crash(content: bytes) -> None:
    with pytest.raises(APIError) as info:
        _BaseClient._parse_answer(WORKSPACES, 200, {"request-id": "req_3"}, content)
    assert str(info.value.message) == (
        "workspaces.list: the API answered 200 with a body that is not JSON."
    )
    assert (info.value.code, info.value.request_id) == ("invalid_response", "req_3")


def test_an_answer_of_the_wrong_shape_is_worded_as_before() -> None:
    with pytest.raises(APIError) as info:
        _BaseClient._parse_answer(WORKSPACES, 200, {"REQUEST-ID": "req_2"}, b'{"workspaces": 1}')
    assert str(info.value.message) == (
        "workspaces.list: the API response did not have the expected shape (1 problem(s), "
        "first: Input should be a valid list)."
    )
    assert (info.value.code, info.value.request_id) == ("invalid_response", "req_2")


class _Route:
    """An in-process API that records the headers each request carries."""

    def __init__(self) -> None:
        self.headers: list[list[tuple[bytes, bytes]]] = []

    async def __call__(
        self,
        method: Method,
        path: str,
        path_params: dict[str, str],
        query: bytes,
        body: bytes | None,
        headers: list[tuple[bytes, bytes]],
    ) -> tuple[int, Mapping[str, str], bytes]:
        self.headers.append(headers)
        if method.full_name == "workspaces.list":
            return 200, {}, b'{"workspaces": []}'
        return 201, {}, json.dumps({"project_id": "prj_1", "name": "p", "workspace_id": "ws_1",
                                    "created_at": 1, "last_modified": None,
                                    "origin": None}).encode()  # fmt: skip


async def test_in_process_requests_carry_the_headers_http_would() -> None:
    route = _Route()
    client = AsyncFlora(API_KEY, in_process=route, default_headers={"X-Extra": "1"})
    await client.workspaces.list()
    await client.workspaces.list()
    await client.projects.create(name="p", workspace_id="ws_1")
    expected = _in_process_headers(client._headers(), None)
    assert route.headers[0] == expected
    assert route.headers[1] == expected
    assert route.headers[0] is not route.headers[1]  # each request its own list
    created = route.headers[2]
    assert created[: len(expected)] == expected
    assert [k for k, _ in created[len(expected) :]] == [b"content-length", b"content-type"]
    assert created[-1] == (b"content-type", b"application/json")


async def test_a_header_idempotency_key_is_sent_in_process() -> None:
    route = _Route()
    client = AsyncFlora(API_KEY, in_process=route)
    spec = _method("generations.create")
    assert spec.idempotency == "header"
    args = spec.args.model_validate(
        {"type": "text", "prompt": "p", "workspace_id": "ws_1", "project_id": "prj_1"}
    )
    await client._exchange(spec, args, "idem_abc")
    await client._exchange(spec, args, "idem_def")
    keys = [dict(h)[b"idempotency-key"] for h in route.headers]
    assert keys == [b"idem_abc", b"idem_def"]
