"""Completion webhooks: an asynchronous execution's record is POSTed, signed with its tenant's
secret, to a real HTTP receiver on loopback once it ends; a failed attempt is retried, and the
delivery's outcome is in the record. URLs that lead to non-public addresses are refused at
submit time with the rule they break."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from flora_backend.webhooks import verify
from runtime.executions.webhooks import webhook_secret

FAST = {"webhooks_allow_private": True, "webhook_retry_s": 0.05}


class Receiver:
    """A local HTTP server that keeps every POST and answers the given statuses in turn (the
    last one from then on)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.changed:
                    receiver.requests.append((headers, body))
                    statuses = receiver.statuses
                    status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                    receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int) -> list[tuple[dict[str, str], bytes]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.requests) >= count, timeout=30)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(*statuses: int) -> Receiver:
        made.append(Receiver(list(statuses)))
        return made[-1]

    yield make
    for each in made:
        each.close()


def settled(api: Any, key: str, execution_id: str) -> dict[str, Any]:
    """The record once its webhook is no longer pending."""
    deadline = time.monotonic() + 30
    while True:
        record = api.client.get(f"/v1/executions/{execution_id}", headers=api.auth(key)).json()
        if record.get("webhook", {}).get("state") != "pending" or time.monotonic() > deadline:
            return record
        time.sleep(0.05)


def test_the_record_is_posted_signed_and_retried_until_it_is_taken(api_with, receiver):
    hook = receiver(503, 200)
    with api_with(**FAST) as api:
        key = api.default_key
        queued = api.client.post(
            "/v1/executions",
            json={"code": "print('hi')\n6 * 7", "webhook_url": hook.url},
            headers=api.auth(key),
        )
        assert queued.status_code == 202, queued.text
        execution_id = queued.json()["execution_id"]
        requests = hook.wait_for(2)
        assert len(requests) == 2
        record = settled(api, key, execution_id)
        tenant_id = api.executions.default_tenant.id
        root = api.executions.webhooks.root
        other = api.tenant("other")[0]

    assert record["webhook"] == {
        "url": hook.url, "state": "delivered", "attempts": 2, "last_outcome": "answered 200",
    }  # fmt: skip
    for headers, body in requests:
        sent = json.loads(body)
        assert sent["execution_id"] == execution_id
        assert (sent["state"], sent["status"], sent["result"]) == ("done", "ok", 42)
        assert sent["stdout"] == "hi\n"
        assert "webhook" not in sent
        assert headers["terrarium-event"] == "execution.finished"
        assert headers["terrarium-webhook-id"] == execution_id
        signature = headers["terrarium-signature"]
        assert verify(webhook_secret(root, tenant_id), body, signature)
        assert not verify(webhook_secret(root, other.id), body, signature)
        assert not verify(webhook_secret(root, tenant_id), body + b" ", signature)
    # the same record both times: a retry is the same delivery
    assert requests[0][1] == requests[1][1]


def test_failed_and_cancelled_executions_are_posted_and_attempts_are_bounded(api_with, receiver):
    failing, taking = receiver(500), receiver(200)
    with api_with(**FAST, webhook_attempts=3) as api:
        key = api.default_key

        def submit(code: str, url: str) -> str:
            body = {"code": code, "webhook_url": url}
            queued = api.client.post("/v1/executions", json=body, headers=api.auth(key))
            assert queued.status_code == 202, queued.text
            return str(queued.json()["execution_id"])

        raised = submit("raise ValueError('no')", failing.url)
        sleeping = submit("import time\ntime.sleep(20)", taking.url)
        stopped = api.client.delete(f"/v1/executions/{sleeping}", headers=api.auth(key))
        assert stopped.json()["status"] == "cancelled", stopped.text
        gave_up = settled(api, key, raised)
        taken = settled(api, key, sleeping)
    assert gave_up["status"] == "error"
    assert gave_up["webhook"]["state"] == "failed"
    assert gave_up["webhook"]["attempts"] == 3
    assert gave_up["webhook"]["last_outcome"] == "answered 500"
    assert len(failing.requests) == 3
    assert json.loads(failing.requests[-1][1])["error"]["type"] == "ValueError"
    assert taken["webhook"]["state"] == "delivered"
    assert json.loads(taking.requests[0][1])["status"] == "cancelled"


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://example.com/hook", "Must use https"),
        ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("https://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("https://169.254.169.254/latest", "is a link-local address"),
        ("https://[::1]/hook", "::1 is a loopback address"),
        ("https://localhost/hook", "localhost resolves to"),
        ("https://user:pw@example.com/hook", "Must not contain a user name or password"),
        ("not a url", "Must be an absolute https URL"),
    ],
)
def test_non_public_urls_are_refused_at_submit_time(api, url, rule):
    answer = api.client.post(
        "/v1/executions",
        json={"code": "1", "webhook_url": url},
        headers=api.auth(api.default_key),
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "webhook_url_refused"
    assert rule in error["message"]
    assert error["fields"][0]["field"] == "webhook_url"


def test_synchronous_runs_take_no_webhook(api):
    answer = api.execute(api.default_key, "1", webhook_url="https://example.com/hook")
    assert answer.status_code == 422
    assert "webhook_url" in answer.json()["error"]["message"]


def test_the_field_is_documented(api):
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]
    field = schema["SubmitRequest"]["properties"]["webhook_url"]
    assert "Terrarium-Signature" in field["description"]


def test_mcp_submit_takes_a_webhook_url_as_http_does(api_with, receiver):
    from runtime.adapters.mcp.tools import call_submit

    hook = receiver(200)
    with api_with(**FAST) as api:
        tenant = api.executions.default_tenant
        args = {"code": "6 * 7", "webhook_url": hook.url}
        queued = api.call(call_submit, api.executions, args, tenant)
        assert not queued.is_error, queued.content
        execution_id = queued.structured_content["execution_id"]
        headers, body = hook.wait_for(1)[0]
        root = api.executions.webhooks.root
        refused = api.call(
            call_submit, api.executions, {**args, "webhook_url": "ftp://example.com/hook"}, tenant
        )
    sent = json.loads(body)
    assert sent["execution_id"] == execution_id and sent["result"] == 42
    assert verify(webhook_secret(root, tenant.id), body, headers["terrarium-signature"])
    assert refused.is_error and "webhook_url" in refused.content[0].text


def test_a_host_that_resolves_elsewhere_by_delivery_time_is_refused_then(tmp_path, monkeypatch):
    """The URL is checked again before every attempt, and the connection goes to the address
    that check found: a host that resolved to a public address at submit time and to a private
    one now is refused, nothing sent."""
    import asyncio

    from runtime.executions import webhooks
    from runtime.executions.webhooks import Delivery, WebhookSender
    from tests.operators.conftest import make_settings

    answers = {"hooks.example.com": ["93.184.216.34"]}

    async def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    sent: list[tuple[str, ...]] = []

    async def post(target: Any, body: bytes, headers: dict[str, str], timeout: float) -> int:
        sent.append(target.addresses)
        return 200

    monkeypatch.setattr(webhooks, "post", post)
    settings = make_settings(tmp_path)

    async def attempts() -> list[tuple[bool, str]]:
        async def flush() -> None:
            pass

        sender = WebhookSender(settings, None, flush, resolver=resolver)  # type: ignore[arg-type]
        delivery = Delivery("exe_1", "ten_1", "https://hooks.example.com/h", 0, b"{}")
        first = await sender._attempt(delivery)
        answers["hooks.example.com"] = ["10.0.0.7"]  # the DNS answer changed meanwhile
        second = await sender._attempt(delivery)
        return [first, second]

    first, second = asyncio.run(attempts())
    assert first == (True, "answered 200") and sent == [("93.184.216.34",)]
    assert not second[0] and second[1].startswith("refused: webhook_url is refused")
    assert "10.0.0.7 is a private address" in second[1] and len(sent) == 1


def test_http_and_mcp_take_webhook_urls_of_the_same_length(api):
    """One limit on a webhook_url's length, the URL check's own, in both schemas."""
    from flora_backend.callback_urls import MAX_URL_CHARS
    from runtime.adapters.mcp.tools import async_tools

    schema = api.client.get("/openapi.json").json()["components"]["schemas"]
    http_field = schema["SubmitRequest"]["properties"]["webhook_url"]
    (submit,) = [tool for tool in async_tools() if tool.name == "submit"]
    mcp_field = submit.input_schema["properties"]["webhook_url"]
    limits = [
        option.get("maxLength") for field in (http_field, mcp_field) for option in field["anyOf"]
    ]
    assert [n for n in limits if n is not None] == [MAX_URL_CHARS, MAX_URL_CHARS]
