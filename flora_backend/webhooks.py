"""Signed webhook delivery of the built-in backend, built so that no delivery can hurt anything
else: what a delivery needs is read (and the delivery claimed) in one short database session,
the POST happens outside any session, at most `backend_webhook_concurrency` deliveries run at
once, every failure of any kind is one failed attempt, and the next attempt's time lives in the
run's row (`callback_next_at`), so a restart resumes where the last process stopped.

Retries are scheduled in the database rather than by an in-process retry library (stamina,
tenacity): those sleep inside a task, which a restart forgets and which holds a slot while it
waits; a time in the row survives restarts, is shared by replicas and costs nothing while due.

A claim moves `callback_next_at` forward by a lease (the delivery's own time limit and a margin),
so another replica or a restarted process takes the delivery over only once the lease has run
out; the result is recorded only if nobody else recorded an attempt in between.

The connection goes to an address that `callback_urls.check` resolved and accepted (no second
resolution), while the Host header and TLS server name stay the URL's host.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpcore
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flora_backend import callback_urls
from flora_backend.db import rows_matched, utcnow
from flora_backend.settings import BackendSettings
from flora_backend.store import Run, Workspace

log = logging.getLogger("terrarium.backend.webhooks")

WEBHOOK_API_VERSION = "2026-06-11"
RETRY_DELAYS_S = (10.0, 60.0, 300.0)  # FLORA's schedule, scaled by backend_speed
LEASE_MARGIN_S = 30.0


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`Flora-Signature` value: t=<unix>,v1=<hex hmac-sha256 of "{t}.{body}">."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, body: bytes, header: str, tolerance_s: int = 300) -> bool:
    """Whether a `Flora-Signature` header matches body (and is recent)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance_s:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# ---------------------------------------------------------------- sending


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Dials the checked addresses, in order, whatever host name the connection pool asks for."""

    def __init__(self, addresses: tuple[str, ...]) -> None:
        self._addresses = addresses
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        error: Exception = httpcore.ConnectError("no address to connect to")
        for address in self._addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Webhooks are delivered over TCP only.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def post(
    target: callback_urls.CallbackTarget,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    """POST body to target over a fresh connection; the response status (its body is not read).
    Redirects are not followed; the whole exchange is bounded by timeout_s."""
    url = httpcore.URL(
        scheme=target.url.raw_scheme,
        host=target.host.encode("ascii"),
        port=target.port,
        target=target.url.raw_path,
    )
    all_headers = [
        (b"host", target.url.netloc),
        *((k.encode(), v.encode()) for k, v in headers.items()),
    ]
    all_headers.append((b"content-length", str(len(body)).encode()))
    timeouts = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
    async with asyncio.timeout(timeout_s):
        async with httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=1,
            retries=0,
            network_backend=PinnedNetworkBackend(target.addresses),
        ) as pool:
            async with pool.stream(
                "POST", url, headers=all_headers, content=body, extensions={"timeout": timeouts}
            ) as response:
                return response.status


# ---------------------------------------------------------------- delivering


@dataclass(frozen=True)
class Delivery:
    """Everything one attempt needs, read in the claiming session."""

    run_id: str
    url: str
    attempts: int  # attempts made before this one
    secret: str
    event: str
    delivery_id: str
    body: bytes


def event_body(run: Run) -> tuple[str, str, bytes]:
    """(event type, delivery id, JSON body) of a finished run's webhook; stable across retries."""
    event = "run.completed" if run.status == "completed" else "run.failed"
    delivery_id = "whd_" + hashlib.sha256(run.id.encode()).hexdigest()[:24]
    data: dict[str, Any] = {
        "run_id": run.id,
        "run_type": run.kind,
        "workspace_id": run.workspace_id,
        "status": run.status,
    }
    if run.error_code:
        data["error_code"] = run.error_code
        data["error_message"] = run.error_message
    stamp_ms = int(run.completed_at.timestamp() * 1000) if run.completed_at else 0
    envelope = {
        "id": delivery_id,
        "type": event,
        "api_version": WEBHOOK_API_VERSION,
        "created_at": stamp_ms,
        "data": data,
    }
    return event, delivery_id, json.dumps(envelope, separators=(",", ":")).encode()


class WebhookDeliverer:
    """Picks due deliveries from the database and makes them, a bounded number at a time."""

    def __init__(
        self,
        settings: BackendSettings,
        sessions: async_sessionmaker[AsyncSession],
        resolver: callback_urls.Resolver = callback_urls.system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.resolver = resolver
        self.ssl_context = ssl_context
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def lease(self) -> timedelta:
        limit = self.settings.webhook_timeout_s + callback_urls.RESOLVE_TIMEOUT_S
        return timedelta(seconds=limit + LEASE_MARGIN_S)

    async def check(self, url: str) -> callback_urls.CallbackTarget:
        return await callback_urls.check(
            url,
            allow_private=self.settings.callbacks_allow_private,
            resolver=self.resolver,
        )

    async def start_due(self) -> int:
        """Start deliveries that are due, as many as there are free slots; how many started."""
        free = max(1, self.settings.webhook_concurrency) - len(self._tasks)
        if free <= 0:
            return 0
        async with self.sessions() as session:
            stmt = (
                select(Run.id)
                .where(Run.callback_state == "pending", Run.callback_next_at <= utcnow())
                .order_by(Run.callback_next_at)
                .limit(free + len(self._tasks))
            )
            ids = [i for i in (await session.execute(stmt)).scalars() if i not in self._tasks]
        for run_id in ids[:free]:
            task = asyncio.create_task(self.deliver(run_id), name=f"webhook-{run_id}")
            self._tasks[run_id] = task
            task.add_done_callback(functools.partial(self._forget, run_id))
        return min(len(ids), free)

    def _forget(self, run_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(run_id, None)

    async def deliver(self, run_id: str) -> None:
        """One attempt at a run's webhook, if it is due and nobody else holds it."""
        delivery = await self._claim(run_id)
        if delivery is None:
            return
        try:
            ok, outcome = await self._attempt(delivery)
        except Exception as exc:  # a bug here must still count as an attempt, never wedge
            log.exception("webhook attempt for %s failed unexpectedly", run_id)
            ok, outcome = False, f"{type(exc).__name__}: {exc}"
        await self._record(delivery, ok, outcome)

    async def _claim(self, run_id: str) -> Delivery | None:
        now = utcnow()
        async with self.sessions() as session, session.begin():
            claimed = await session.execute(
                update(Run)
                .where(
                    Run.id == run_id,
                    Run.callback_state == "pending",
                    Run.callback_next_at <= now,
                )
                .values(callback_next_at=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            if rows_matched(claimed) != 1:
                return None
            run = await session.get(Run, run_id)
            if run is None or not run.callback_url:
                return None
            secret = await session.scalar(
                select(Workspace.webhook_secret).where(Workspace.id == run.workspace_id)
            )
            event, delivery_id, body = event_body(run)
            return Delivery(
                run_id=run.id,
                url=run.callback_url,
                attempts=run.callback_attempts,
                secret=secret or "",
                event=event,
                delivery_id=delivery_id,
                body=body,
            )

    async def _attempt(self, delivery: Delivery) -> tuple[bool, str]:
        try:
            target = await self.check(delivery.url)
        except callback_urls.CallbackUrlRefused as exc:
            return False, f"refused: {exc.reason}"
        headers = {
            "content-type": "application/json",
            "flora-signature": sign(delivery.secret, delivery.body),
            "flora-webhook-id": delivery.delivery_id,
            "flora-event": delivery.event,
            "user-agent": "terrarium-webhooks",
        }
        try:
            status = await post(
                target,
                delivery.body,
                headers,
                self.settings.webhook_timeout_s,
                self.ssl_context,
            )
        except TimeoutError:
            return False, "no answer in time"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return 200 <= status < 300, f"answered {status}"

    async def _record(self, delivery: Delivery, ok: bool, outcome: str) -> None:
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {"callback_attempts": attempts}
        if ok:
            values["callback_state"] = "delivered"
        elif attempts > len(RETRY_DELAYS_S):
            values["callback_state"] = "failed"
            log.info("webhook for %s failed for good: %s", delivery.run_id, outcome)
        else:
            delay = RETRY_DELAYS_S[attempts - 1] * self.settings.speed
            values["callback_next_at"] = utcnow() + timedelta(seconds=delay)
            log.info("webhook for %s failed (%s); retrying", delivery.run_id, outcome)
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Run)
                .where(
                    Run.id == delivery.run_id,
                    Run.callback_state == "pending",
                    Run.callback_attempts == delivery.attempts,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def stop(self) -> None:
        """Cancel deliveries in flight and hand them back (due now) for the next process."""
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        self._tasks.clear()
        if not tasks:
            return
        try:
            async with self.sessions() as session, session.begin():
                await session.execute(
                    update(Run)
                    .where(Run.id.in_(list(tasks)), Run.callback_state == "pending")
                    .values(callback_next_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.warning(
                "could not hand back %d webhook deliveries; they resume after their lease",
                len(tasks),
                exc_info=True,
            )
