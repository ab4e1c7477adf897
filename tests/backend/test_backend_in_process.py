"""The SDK's requests answered in-process (`Backend.in_process()`) against the same requests over
the app (`Backend.transport()`): the same answers, the same errors, a request id on each; and
the key cache both share."""

from __future__ import annotations

import ast
import json

import pytest
from sqlalchemy import delete

from client_surface import (
    AsyncFlora,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)
from client_surface._client import bind_arguments
from client_surface.errors import APIError
from client_surface.table import SURFACE, find
from flora_backend import routes
from flora_backend.store import ApiKey, hash_key

BASE = "http://backend/api/v1"


def clients(backend, key, **extra):
    http = AsyncFlora(api_key=key, base_url=BASE, transport=backend.transport(), **extra)
    direct = AsyncFlora(
        api_key=key,
        base_url=BASE,
        transport=backend.transport(),
        in_process=backend.in_process(),
        **extra,
    )
    return http, direct


def stable(value):
    """An answer without what differs between two runs: ids, times, URLs."""
    if isinstance(value, dict):
        return {
            k: stable(v)
            for k, v in value.items()
            if not (k.endswith(("_id", "_at", "url")) or k == "last_modified")
        }
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


async def test_same_answers_as_over_http(backend, creds):
    ws, key = creds
    http, direct = clients(backend, key, max_retries=0)
    for name, arguments in [
        ("workspaces.list", {}),
        ("models.list", {"type": "image"}),
        ("techniques.list", {"limit": 2}),
        ("actions.list", {}),
    ]:
        a = await http._call(name, arguments)
        b = await direct._call(name, arguments)
        assert a.model_dump(exclude_unset=True) == b.model_dump(exclude_unset=True), name
    # writes, a query string, a path parameter, an idempotency key in the header
    made = [await c.projects.create(name="In process", workspace_id=ws) for c in (http, direct)]
    assert stable(made[0].model_dump()) == stable(made[1].model_dump())
    pages = [
        await c.projects.list(workspace_id=ws, query="in proc", limit=1) for c in (http, direct)
    ]
    assert len(pages[0].projects) == len(pages[1].projects) == 1
    assert pages[0].meta.next_cursor and pages[1].meta.next_cursor
    runs = []
    for c, p in zip((http, direct), made, strict=True):
        gen = await c.generations.create(
            type="image", prompt="a fox", workspace_id=ws, project_id=p.project_id,
            model="t2i-flux-2-pro", params={"aspect_ratio": "landscape_4_3"},
        )  # fmt: skip
        runs.append(await c.generations.retrieve(gen.run_id))
    assert runs[1].status == runs[0].status == "completed"
    assert stable(runs[0].model_dump()) == stable(runs[1].model_dump())
    await http.close()
    await direct.close()


async def test_same_errors_as_over_http(backend, creds, project):
    ws, key = creds
    cases = [
        (NotFoundError, "not_found", "generations.retrieve", {"run_id": "run_missing"}),
        (BadRequestError, "input_validation_error", "generations.create",
         {"type": "image", "prompt": "a fox", "workspace_id": ws, "model": "no-such-model",
          "project_id": project.project_id}),
    ]  # fmt: skip
    http, direct = clients(backend, key, max_retries=0)
    for cls, code, name, arguments in cases:
        errors = []
        for c in (http, direct):
            with pytest.raises(cls) as info:
                await c._call(name, arguments)
            errors.append(info.value)
        assert [e.code for e in errors] == [code, code]
        assert errors[0].message == errors[1].message and errors[0].fields == errors[1].fields
        assert errors[1].request_id.startswith("req_")
    http, direct = clients(backend, "sk_test_nobody", max_retries=0)
    for c in (http, direct):
        with pytest.raises(AuthenticationError) as info:
            await c.workspaces.list()
        assert info.value.code == "invalid_api_key" and info.value.request_id.startswith("req_")
    simulated_errors = (("rate_limited", RateLimitError), ("unknown_error", InternalServerError))
    for simulated, cls in simulated_errors:
        headers = {routes.SIMULATE_HEADER: simulated}
        _, direct = clients(backend, key, max_retries=0, default_headers=headers)
        with pytest.raises(cls) as info:
            await direct.models.list()
        assert info.value.request_id.startswith("req_")
        if cls is RateLimitError:
            assert info.value.headers["retry-after"] == "1"


async def test_a_failing_endpoint_answers_the_envelope(backend, creds, monkeypatch):
    in_process = backend.in_process()

    async def broken(request):
        raise RuntimeError("boom")

    monkeypatch.setitem(in_process.endpoints, "models.list", broken)
    direct = AsyncFlora(api_key=creds[1], base_url=BASE, in_process=in_process, max_retries=0)
    with pytest.raises(InternalServerError) as info:
        await direct.models.list()
    assert info.value.code == "unknown_error" and "boom" not in info.value.message


async def test_latency_applies_in_process(new_backend, monkeypatch):
    backend = await new_backend(latency_ms=30)
    _, key = await backend.default_credentials()
    slept: list[float] = []
    real_sleep = routes.asyncio.sleep

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(routes.asyncio, "sleep", sleep)
    _, direct = clients(backend, key)
    await direct.workspaces.list()
    assert slept == [0.03]


async def test_a_known_key_is_trusted_for_a_while_an_unknown_one_never(backend, creds):
    ws, key = creds
    _, direct = clients(backend, key, max_retries=0)
    assert (await direct.workspaces.list()).workspaces[0].workspace_id == ws
    async with backend.sessions() as s, s.begin():
        await s.execute(delete(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    # removed from the database by hand: still trusted until the cache entry expires
    assert (await direct.workspaces.list()).workspaces[0].workspace_id == ws
    backend.routes.keys.ttl_s = 0
    backend.routes.keys._entries.clear()
    with pytest.raises(AuthenticationError):
        await direct.workspaces.list()
    # a refused key is not remembered: made afterwards, it works at once
    backend.routes.keys.ttl_s = routes.KEY_CACHE_S
    other = "sk_test_made_later"
    _, late = clients(backend, other, max_retries=0)
    with pytest.raises(AuthenticationError):
        await late.workspaces.list()
    async with backend.sessions() as s, s.begin():
        s.add(backend._key_row(other, ws))
    assert (await late.workspaces.list()).workspaces[0].workspace_id == ws


def test_every_table_method_has_an_in_process_endpoint(backend):
    in_process = backend.in_process()
    assert set(in_process.endpoints) == set(backend.routes.endpoints)
    assert find("workspaces.list").full_name in in_process.endpoints


def example_arguments(method) -> tuple[tuple, dict]:
    """The literal arguments of a table method's example call."""
    call = ast.parse(method.example, mode="eval").body
    assert isinstance(call, ast.Call), method.full_name
    args = tuple(ast.literal_eval(a) for a in call.args)
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    return args, kwargs


def seen(request) -> dict:
    """What an endpoint reads of a request, minus what differs between two requests."""
    skip = {"user-agent", "host", "accept", "accept-encoding", "connection", "content-length"}
    skip.add("idempotency-key")  # drawn for each call
    return {
        "method": request.method,
        "path": request.url.path,
        "path_params": dict(request.path_params),
        "query": sorted(request.query_params.multi_items()),
        "headers": sorted((k, v) for k, v in request.headers.items() if k not in skip),
    }


async def test_every_table_method_reaches_its_endpoint_alike_in_process(
    backend, creds, monkeypatch
):
    """Every method of the table, called with its example's arguments: the endpoint reads the
    same request (path, parameters, query, headers, body) and the SDK gets the same answer's
    status and error code, over HTTP and in-process."""
    _, key = creds
    requests: list[dict] = []
    real = routes.read_arguments

    async def recording(method, request):
        entry = seen(request)
        body = json.loads(await request.body() or b"{}") if method.verb != "GET" else {}
        body.pop("idempotency_key", None)  # drawn for each call
        entry["body"] = body
        requests.append(entry)
        return await real(method, request)

    monkeypatch.setattr(routes, "read_arguments", recording)
    http, direct = clients(backend, key, max_retries=0)
    for method in SURFACE:
        assert method.example and method.full_name in routes.HANDLERS, method.full_name
        args, kwargs = example_arguments(method)
        answers = []
        for c in (http, direct):
            requests.clear()
            try:
                await c._request(method, bind_arguments(method, args, kwargs))
                answers.append(("ok", None))
            except APIError as exc:
                answers.append((exc.status, exc.code))
            answers.append(list(requests))
        assert answers[0] == answers[2] and answers[1] == answers[3], method.full_name
        assert answers[1], f"{method.full_name}: its endpoint was not reached"
    await http.close()
    await direct.close()


async def test_an_answer_is_checked_once_and_a_misfit_every_time(backend, creds, monkeypatch):
    """The same answer bytes of a method are checked against its response model once (a poll of
    a finished run, `workspaces.list`); an answer outside its type is refused every time."""
    ws, key = creds
    _, direct = clients(backend, key, max_retries=0)
    checks: list[str] = []
    original = routes.response_problems

    def counted(model, body):
        checks.append(model.__name__)
        return original(model, body)

    monkeypatch.setattr(routes, "response_problems", counted)
    first = await direct.workspaces.list()
    again = await direct.workspaces.list()
    assert first == again and checks == ["WorkspaceList"]
    await direct.models.list(type="image")
    await direct.models.list(type="video")
    assert checks == ["WorkspaceList", "ModelList", "ModelList"]  # another answer: checked

    async def misfit(ctx, args):
        return routes.Items([{"workspace_id": ws, "name": "x", "created_at": 1, "extra": 1}])

    monkeypatch.setitem(routes.HANDLERS, "workspaces.list", misfit)
    method = find("workspaces.list")
    endpoint = routes.make_endpoint(backend, method, backend.routes.keys, backend.routes.checked)
    monkeypatch.setitem(backend.routes.endpoints, "workspaces.list", endpoint)
    for _ in range(2):
        with pytest.raises(InternalServerError):
            await direct.workspaces.list()
    assert checks[-2:] == ["WorkspaceList", "WorkspaceList"]


def test_answers_kept_as_checked_are_bounded():
    checked = routes.CheckedAnswers()
    checked.add("m", b"x" * (routes.CHECKED_MAX_BYTES + 1))
    assert not checked.holds("m", b"x" * (routes.CHECKED_MAX_BYTES + 1))
    for i in range(routes.CHECKED_MAX):
        checked.add("m", str(i).encode())
    assert checked.holds("m", b"0") and not checked.holds("n", b"0")
    checked.add("m", b"one more")
    assert checked.holds("m", b"one more") and not checked.holds("m", b"0")


def test_answer_bytes_are_the_ones_json_response_renders():
    from fastapi.responses import JSONResponse

    body = {"a": "ünï", "b": [1, 2.5, None, True], "c": {"d": "\u2028"}}
    assert routes.json_bytes(body) == JSONResponse(body).body
