"""Completion webhooks on PostgreSQL: the record is POSTed, signed, once the execution ends, and
a delivery is claimed by one sender only, even when two look at once (as two replicas do)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from test_replicas_postgres import database_url  # noqa: F401  (module fixture)
from test_webhooks import Receiver, settled

from flora_backend.webhooks import verify
from runtime.app import create_app
from runtime.executions.webhooks import WebhookSender
from runtime.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


class Api:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.executions = client.app.state.executions

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}


def test_a_delivery_on_postgresql_is_made_once(database_url, tmp_path: Path):  # noqa: F811
    hook = Receiver([200])
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, backend_speed=0, pool_warm=1,
        secret_key=Fernet.generate_key().decode(), webhooks_allow_private=True,
    )  # fmt: skip
    try:
        with TestClient(create_app(settings)) as client:
            api = Api(client)
            service = api.executions
            key = service.default_key
            # a second sender on the same database, as another replica's, racing the first
            rival = WebhookSender(settings, service.sessions, service.recorder.flush)
            queued = client.post(
                "/v1/executions",
                json={"code": "'done'", "webhook_url": hook.url},
                headers=api.auth(key),
            )
            assert queued.status_code == 202, queued.text
            execution_id = queued.json()["execution_id"]

            async def race() -> None:
                await service.recorder.flush()
                await asyncio.gather(rival.deliver(execution_id), rival.deliver(execution_id))

            client.portal.call(race)
            record = settled(api, key, execution_id)
            secret = service.webhooks.secret(service.default_tenant.id)
    finally:
        hook.close()
    assert record["webhook"]["state"] == "delivered"
    assert record["webhook"]["attempts"] == 1
    assert len(hook.requests) == 1
    headers, body = hook.requests[0]
    assert json.loads(body)["result"] == "done"
    assert verify(secret, body, headers["terrarium-signature"])
