"""Every error code of the built-in backend, reached by a real request, in FLORA's envelope."""

from __future__ import annotations

import json

import httpx
import pytest

from client_surface import AsyncFlora, AuthenticationError, RateLimitError

BASE = "http://backend/api/v1"


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


async def gen(raw, creds, project, **body):
    payload = {
        "type": "image",
        "prompt": "a fox",
        "workspace_id": creds[0],
        "project_id": project.project_id,
    }
    payload.update(body)
    return await raw.post("generate", json={k: v for k, v in payload.items() if v is not None})


async def test_request_id_on_every_response(raw):
    ok = await raw.get("models")
    missing = await raw.get("no/such/route")
    assert ok.headers["request-id"] != missing.headers["request-id"]
    assert_error(missing, 404, "not_found")


async def test_unauthorized_and_invalid_key(backend, raw):
    async with httpx.AsyncClient(transport=backend.transport(), base_url=BASE + "/") as anon:
        err = assert_error(await anon.get("workspaces"), 401, "unauthorized")
        assert "Bearer" in err["message"]
        bad = {"authorization": "Bearer sk_live_wrong"}
        err = assert_error(await anon.get("workspaces", headers=bad), 401, "invalid_api_key")
        # The commands it names exist: the dev key file, and `terrarium keys create`.
        assert "dev-key" in err["message"] and "`terrarium keys create`" in err["message"]
    sdk = AsyncFlora(api_key="sk_nope", base_url=BASE, transport=backend.transport())
    with pytest.raises(AuthenticationError) as info:
        await sdk.workspaces.list()
    assert info.value.code == "invalid_api_key" and info.value.request_id.startswith("req_")
    await sdk.close()


async def test_prompt_required(raw, creds, project):
    err = assert_error(await gen(raw, creds, project, prompt=None), 400, "input_validation_error")
    assert err["message"] == "prompt: Required"
    assert err["fields"] == [{"field": "prompt", "message": "Required"}]


async def test_invalid_json(raw):
    r = await raw.post(
        "projects", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(r, 400, "invalid_json")
    assert_error(await raw.post("projects", json=[1, 2]), 400, "invalid_json")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_invalid_json_not_a_500(raw, creds, project, constant):
    # A whole-number param such as `seed` turned Infinity into an unhandled OverflowError.
    payload = {"type": "image", "prompt": "a fox", "workspace_id": creds[0],
               "project_id": project.project_id, "model": "t2i-flux-2-pro",
               "params": {"seed": "SEED"}}  # fmt: skip
    body = json.dumps(payload).replace('"SEED"', constant)
    r = await raw.post("generate", content=body, headers={"content-type": "application/json"})
    err = assert_error(r, 400, "invalid_json")
    assert constant in err["message"]


async def test_unknown_model_lists_valid_ids(raw, creds, project):
    err = assert_error(
        await gen(raw, creds, project, model="flux-pro"), 400, "input_validation_error"
    )
    assert "t2i-flux-2-pro" in err["message"] and "t2i-imagen-4" in err["message"]
    assert "t2v-veo-3" not in err["message"]  # only ids valid for this type
    err = assert_error(
        await gen(raw, creds, project, type="video", model="t2i-flux-2-pro"),
        400,
        "input_validation_error",
    )
    assert "t2v-veo-3" in err["message"]


@pytest.mark.parametrize("family,fixed", [("t2i", "image"), ("i2v", "video"), ("tts", "audio")])
async def test_type_family_says_what_to_pass(raw, creds, project, family, fixed):
    err = assert_error(await gen(raw, creds, project, type=family), 400, "input_validation_error")
    assert err["fields"][0]["field"] == "type"
    assert f"type={fixed!r}" in err["message"]


async def test_param_outside_options_lists_them(raw, creds, project):
    err = assert_error(
        await gen(raw, creds, project, params={"aspect_ratio": "5:4"}),
        400,
        "input_validation_error",
    )
    assert "landscape_4_3" in err["message"] and "square_1_1" in err["message"]
    assert err["fields"][0]["field"] == "params.aspect_ratio"
    ok = await gen(raw, creds, project, params={"aspect_ratio": "4:3"})
    assert ok.status_code == 201
    run = (await raw.get(f"runs/{ok.json()['run_id']}")).json()
    assert run["status"] == "completed"


async def test_insufficient_credits(new_backend, raw_for):
    b = await new_backend(initial_credits=100)
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        prj = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
        body = {"type": "video", "prompt": "waves", "workspace_id": ws}
        body["project_id"] = prj["project_id"]
        err = assert_error(await raw.post("generate", json=body), 402, "insufficient_credits")
        assert "100" in err["message"]
        assert await b.credits(ws) == 100
        body.update(type="image", model="t2i-flux-2-pro")
        assert (await raw.post("generate", json=body)).status_code == 201
        assert await b.credits(ws) == 50


async def test_not_found_missing_and_other_workspace(backend, raw, creds, project):
    assert_error(await raw.get("projects/prj_doesnotexist"), 404, "not_found")
    assert_error(await raw.get("runs/run_doesnotexist"), 404, "not_found")
    assert_error(await raw.get("techniques/no-such-slug"), 404, "not_found")
    start = (await gen(raw, creds, project)).json()
    other_ws = await backend.create_workspace("Other")
    other_key = await backend.create_key(other_ws)
    headers = {"authorization": f"Bearer {other_key}"}
    assert_error(await raw.get(f"projects/{project.project_id}", headers=headers), 404, "not_found")
    assert_error(await raw.get(f"runs/{start['run_id']}", headers=headers), 404, "not_found")
    r = await raw.get("projects", params={"workspace_id": creds[0]}, headers=headers)
    assert_error(r, 404, "not_found")
    mine = await raw.get("workspaces", headers=headers)
    assert [w["workspace_id"] for w in mine.json()["workspaces"]] == [other_ws]


async def test_wrong_id_prefix(raw):
    err = assert_error(await raw.get("projects/abc"), 400, "input_validation_error")
    assert "prj_" in err["message"]


async def test_limit_bounds_and_bad_cursor(raw, creds):
    assert_error(await raw.get("generations", params={"limit": 0}), 400, "input_validation_error")
    assert_error(await raw.get("generations", params={"limit": 101}), 400, "input_validation_error")
    err = assert_error(
        await raw.get("generations", params={"cursor": "garbage!"}), 400, "input_validation_error"
    )
    assert err["fields"][0]["field"] == "cursor"


async def test_unknown_argument_rejected(raw):
    err = assert_error(
        await raw.get("models", params={"kind": "image"}), 400, "input_validation_error"
    )
    assert err["fields"][0]["field"] == "kind"


async def test_rate_limited_per_key(new_backend, raw_for):
    b = await new_backend(rate_limit_per_minute=2)
    ws, key = await b.default_credentials()
    other = await b.create_key(ws)
    async with raw_for(b) as raw:
        auth = {"authorization": f"Bearer {key}"}
        assert (await raw.get("models", headers=auth)).status_code == 200
        assert (await raw.get("models", headers=auth)).status_code == 200
        r = await raw.get("models", headers=auth)
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        ok = await raw.get("models", headers={"authorization": f"Bearer {other}"})
        assert ok.status_code == 200  # the limit is per key


async def test_rate_limited_on_request_and_sdk_error(backend, creds):
    sdk = AsyncFlora(
        api_key=creds[1],
        base_url=BASE,
        transport=backend.transport(),
        max_retries=0,
        default_headers={"terrarium-simulate-error": "rate_limited"},
    )
    with pytest.raises(RateLimitError) as info:
        await sdk.models.list()
    assert info.value.code == "rate_limited" and info.value.headers["retry-after"] == "1"
    await sdk.close()


async def test_unknown_error_never_leaks_traceback(raw):
    r = await raw.get("models", headers={"terrarium-simulate-error": "unknown_error"})
    err = assert_error(r, 500, "unknown_error")
    assert "Traceback" not in r.text and "simulated" not in r.text and "RuntimeError" not in r.text
    assert err["fields"] == []


async def test_idempotency_duplicate_and_release_on_failure(raw, creds, project):
    headers = {"idempotency-key": "idem-1"}
    bad = await gen(raw, creds, project, model="nope")  # fails: the key must stay free
    assert bad.status_code == 400
    bad = await raw.post(
        "generate",
        headers=headers,
        json={"type": "image", "prompt": "x", "workspace_id": creds[0],
              "project_id": "prj_missing"},
    )  # fmt: skip
    assert_error(bad, 404, "not_found")
    first = await raw.post(
        "generate",
        headers=headers,
        json={"type": "image", "prompt": "x", "workspace_id": creds[0],
              "project_id": project.project_id},
    )  # fmt: skip
    assert first.status_code == 201
    again = await raw.post(
        "generate",
        headers=headers,
        json={"type": "image", "prompt": "x", "workspace_id": creds[0],
              "project_id": project.project_id},
    )  # fmt: skip
    err = assert_error(again, 409, "idempotency_duplicate")
    assert first.json()["run_id"] in err["message"]
    body = {
        "inputs": [{"id": "title", "type": "text", "value": "t"}],
        "mode": "async",
        "idempotency_key": "k2",
    }
    assert (await raw.post("techniques/thumbnail-v3/runs", json=body)).status_code == 200
    dup = await raw.post("techniques/thumbnail-v3/runs", json=body)
    assert_error(dup, 409, "idempotency_duplicate")
    other = {**body, "idempotency_key": "k3"}
    other["inputs"] = [{"id": "nope", "type": "text", "value": "t"}]
    assert_error(await raw.post("techniques/thumbnail-v3/runs", json=other), 400,
                 "input_validation_error")  # fmt: skip
    other["inputs"] = body["inputs"]
    assert (await raw.post("techniques/thumbnail-v3/runs", json=other)).status_code == 200
