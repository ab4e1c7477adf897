"""Completion webhooks: when an asynchronous execution submitted with a `webhook_url` reaches its
final state (ok, error, timeout, cancelled, failed...), its record (the JSON of
`GET /v1/executions/{id}`) is POSTed to that URL, signed.

    Terrarium-Signature: t=<unix seconds>,v1=<hex hmac-sha256 of "<t>.<body>">
    Terrarium-Event: execution.finished
    Terrarium-Webhook-Id: <execution id>         (the same on every attempt)

The signature is the built-in backend's scheme (`flora_backend.webhooks.sign`), keyed with the
tenant's signing secret: `webhook_secret(root, tenant_id)`, an HMAC of the tenant id under the
server's TERRARIUM_SECRET_KEY (or `<data_dir>/secret.key`), so every replica signs alike and
nothing more is stored. `terrarium records webhook-secret TENANT` prints it.

The URL is checked with the backend's callback rules (`flora_backend.callback_urls`: https, no
user info, and a host that resolves only to public addresses) when the execution is submitted
(refused there with 422) and again before every attempt; the connection goes to the address
that was checked. `TERRARIUM_WEBHOOKS_ALLOW_PRIVATE` lifts the address and https rules (tests,
local development).

Deliveries are scheduled in the database, as the backend's are: the row holds the delivery's
state (`webhook_state`: pending, delivered, failed), its attempts, the next attempt's time and
the last outcome. Each replica looks for due deliveries every `POLL_S` and at once when one of
its own executions ends; an attempt claims its row with a lease, so two replicas never send the
same attempt, and a delivery a replica did not finish (stopped, killed) is taken over by any
replica once its lease has run out. A failed attempt (no answer in `webhook_timeout_s`, a
connection error, a status other than 2xx, a URL refused now) is retried after
`webhook_retry_s`, then 4 times longer each time, up to `webhook_attempts` in all; then the
delivery is failed for good. Every outcome is in the row (shown in the record's `webhook`) and
in a log line. No delivery ever delays an answer: they run in this module's own tasks, at most
`MAX_IN_FLIGHT` at once per replica, outside any database session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flora_backend import callback_urls
from flora_backend.webhooks import post, sign
from runtime.db import utcnow
from runtime.errors import WebhookUrlRefused
from runtime.executions.records import (
    FINAL_STATES,
    WEBHOOK_DELIVERED,
    WEBHOOK_FAILED,
    WEBHOOK_PENDING,
    ExecutionRow,
    detail,
)
from runtime.settings import Settings
from runtime.tenancy.tenants import SecretBox

log = logging.getLogger("terrarium.webhooks")

SIGNATURE_HEADER = "terrarium-signature"
EVENT = "execution.finished"
SECRET_PREFIX = "whsec_"
POLL_S = 2.0  # how often a replica looks for due deliveries (its own are started at once)
MAX_IN_FLIGHT = 8  # deliveries at once per replica
BACKOFF_FACTOR = 4.0
LEASE_MARGIN_S = 30.0
OUTCOME_CHARS = 300
MAX_URL_CHARS = callback_urls.MAX_URL_CHARS  # a longer webhook_url is refused as it arrives


# ---------------------------------------------------------------- the tenant's secret


def root_secret(settings: Settings) -> str:
    """The server's secret every tenant's signing secret is derived from: TERRARIUM_SECRET_KEY,
    else `<data_dir>/secret.key` (made, 0600, when there is none yet)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        SecretBox(settings)  # makes the file, as the tenant store does on start
    return path.read_text().strip()


def webhook_secret(root: str, tenant_id: str) -> str:
    """The tenant's webhook signing secret: the same on every replica sharing the secret key,
    different for every tenant, and no use for anything else (an HMAC, not the key itself)."""
    digest = hmac.new(
        root.encode(), b"terrarium webhook signing secret\0" + tenant_id.encode(), hashlib.sha256
    ).hexdigest()
    return SECRET_PREFIX + digest


# ---------------------------------------------------------------- the URL


async def check_url(
    url: str, settings: Settings, resolver: callback_urls.Resolver = callback_urls.system_resolver
) -> callback_urls.CallbackTarget:
    """The URL's target, resolved and checked with the backend's callback rules; raises
    `WebhookUrlRefused` naming the rule it breaks."""
    try:
        return await callback_urls.check(
            url, allow_private=settings.webhooks_allow_private, resolver=resolver
        )
    except callback_urls.CallbackUrlRefused as exc:
        raise WebhookUrlRefused(f"webhook_url is refused: {exc.reason}", "webhook_url") from None


# ---------------------------------------------------------------- delivering


@dataclass(frozen=True)
class Delivery:
    """What one attempt needs, read when its row is claimed."""

    execution_id: str
    tenant_id: str
    url: str
    attempts: int  # attempts made before this one
    body: bytes


def record_body(row: ExecutionRow) -> bytes:
    """The record as `GET /v1/executions/{id}` answers it (the delivery's own state aside)."""
    record = detail(row)
    record.pop("webhook", None)
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def retry_delay_s(settings: Settings, attempts: int) -> float:
    """The wait after the `attempts`-th failed attempt: webhook_retry_s, then 4 times longer."""
    return settings.webhook_retry_s * BACKOFF_FACTOR ** (attempts - 1)


class WebhookSender:
    """Finds due deliveries in the database and makes them, at most MAX_IN_FLIGHT at once."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        flush: Callable[[], Awaitable[None]],
        resolver: callback_urls.Resolver = callback_urls.system_resolver,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.flush = flush  # the record writer's: a final state is in the database before a look
        self.resolver = resolver
        self.root = root_secret(settings)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._timers: set[asyncio.TimerHandle] = set()

    @property
    def lease(self) -> timedelta:
        limit = self.settings.webhook_timeout_s + callback_urls.RESOLVE_TIMEOUT_S
        return timedelta(seconds=limit + LEASE_MARGIN_S)

    def secret(self, tenant_id: str) -> str:
        return webhook_secret(self.root, tenant_id)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="terrarium-webhooks")
        self._wake.set()  # deliveries a stopped process left pending

    def kick(self, delay_s: float = 0.0) -> None:
        """Look for due deliveries now (an execution with a webhook ended), or after delay_s."""
        if delay_s <= 0:
            self._wake.set()
            return
        loop = asyncio.get_running_loop()
        handle = loop.call_later(delay_s, self._timer_fired)
        self._timers.add(handle)

    def _timer_fired(self) -> None:
        now = asyncio.get_running_loop().time()
        self._timers = {t for t in self._timers if not t.cancelled() and t.when() > now}
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()
            try:
                await self.flush()
                await self.start_due()
            except Exception:
                log.exception("looking for due webhook deliveries failed")

    def _due(self) -> ColumnElement[bool]:
        return (
            (ExecutionRow.webhook_state == WEBHOOK_PENDING)
            & ExecutionRow.state.in_(FINAL_STATES)
            & or_(ExecutionRow.webhook_next_at.is_(None), ExecutionRow.webhook_next_at <= utcnow())
        )

    async def start_due(self) -> int:
        """Start the deliveries that are due, as many as there are free slots; how many."""
        free = MAX_IN_FLIGHT - len(self._tasks)
        if free <= 0:
            return 0
        async with self.sessions() as s:
            found = await s.execute(
                select(ExecutionRow.id).where(self._due()).limit(free + len(self._tasks))
            )
            ids = [i for i in found.scalars() if i not in self._tasks][:free]
        for execution_id in ids:
            task = asyncio.create_task(self.deliver(execution_id), name=f"webhook {execution_id}")
            self._tasks[execution_id] = task
            task.add_done_callback(functools.partial(self._forget, execution_id))
        return len(ids)

    def _forget(self, execution_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(execution_id, None)

    async def idle(self) -> None:
        """Return once no delivery is in flight on this replica (cancelled, this leaves them
        running: `stop` hands them back)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    async def deliver(self, execution_id: str) -> None:
        """One attempt at an execution's webhook, if it is due and no replica holds it."""
        delivery = await self._claim(execution_id)
        if delivery is None:
            return
        try:
            ok, outcome = await self._attempt(delivery)
        except Exception as exc:  # a bug here still counts as an attempt, never wedges one
            log.exception("webhook attempt failed", extra={"execution_id": execution_id})
            ok, outcome = False, f"{type(exc).__name__}: {exc}"
        await self._record(delivery, ok, outcome)

    async def _claim(self, execution_id: str) -> Delivery | None:
        async with self.sessions() as s, s.begin():
            claimed: Any = await s.execute(
                update(ExecutionRow)
                .where(ExecutionRow.id == execution_id, self._due())
                .values(webhook_next_at=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                return None
            row = await s.get(ExecutionRow, execution_id)
            if row is None or not row.webhook_url:
                return None
            return Delivery(
                execution_id=row.id,
                tenant_id=row.tenant_id,
                url=row.webhook_url,
                attempts=row.webhook_attempts or 0,
                body=record_body(row),
            )

    async def _attempt(self, delivery: Delivery) -> tuple[bool, str]:
        try:
            target = await check_url(delivery.url, self.settings, self.resolver)
        except WebhookUrlRefused as exc:
            return False, f"refused: {exc.message}"
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(self.secret(delivery.tenant_id), delivery.body),
            "terrarium-event": EVENT,
            "terrarium-webhook-id": delivery.execution_id,
            "user-agent": "terrarium-webhooks",
        }
        try:
            status = await post(target, delivery.body, headers, self.settings.webhook_timeout_s)
        except TimeoutError:
            return False, f"no answer within {self.settings.webhook_timeout_s:g} s"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return 200 <= status < 300, f"answered {status}"

    async def _record(self, delivery: Delivery, ok: bool, outcome: str) -> None:
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {
            "webhook_attempts": attempts,
            "webhook_outcome": outcome[:OUTCOME_CHARS],
        }
        extra = {"execution_id": delivery.execution_id, "attempts": attempts, "outcome": outcome}
        delay = None
        if ok:
            values.update(webhook_state=WEBHOOK_DELIVERED, webhook_next_at=None)
            log.info("webhook delivered", extra=extra)
        elif attempts >= self.settings.webhook_attempts:
            values.update(webhook_state=WEBHOOK_FAILED, webhook_next_at=None)
            log.warning("webhook failed for good", extra=extra)
        else:
            delay = retry_delay_s(self.settings, attempts)
            values["webhook_next_at"] = utcnow() + timedelta(seconds=delay)
            log.info("webhook attempt failed; retrying", extra={**extra, "retry_in_s": delay})
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(ExecutionRow)
                .where(
                    ExecutionRow.id == delivery.execution_id,
                    ExecutionRow.webhook_state == WEBHOOK_PENDING,
                    ExecutionRow.webhook_attempts == delivery.attempts,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if delay is not None:
            self.kick(delay)

    async def stop(self) -> None:
        """Stop looking; cancel deliveries in flight and hand them back (due now) to whichever
        replica, or the next start, looks first."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        self._tasks.clear()
        if not tasks:
            return
        try:
            async with self.sessions() as s, s.begin():
                await s.execute(
                    update(ExecutionRow)
                    .where(
                        ExecutionRow.id.in_(list(tasks)),
                        ExecutionRow.webhook_state == WEBHOOK_PENDING,
                    )
                    .values(webhook_next_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.warning(
                "could not hand back webhook deliveries; they resume once their lease ran out",
                exc_info=True,
                extra={"count": len(tasks)},
            )
