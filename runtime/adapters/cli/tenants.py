"""`terrarium tenants create|list|revoke`: tenants and their runtime keys, in the database.

    terrarium tenants create acme                      own workspace on the built-in backend
    terrarium tenants create acme --flora-key-stdin    own upstream FLORA key (read from stdin)
        [--workspace ws_...]... [--max-concurrent N] [--per-minute N]
        [--max-timeout S] [--max-memory MB] [--max-calls N] [--max-cost-usd USD]
    terrarium tenants list
    terrarium tenants revoke acme

The runtime key is printed once, at creation; only its hash is kept. A FLORA key is stored
encrypted and is never printed again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from runtime.settings import Settings

if TYPE_CHECKING:  # imported when a command runs, not when the CLI starts
    from runtime.tenancy.tenants import TenantStore

T = TypeVar("T")


async def _with_store(settings: Settings, work: Callable[[TenantStore], Awaitable[T]]) -> T:
    from runtime.db import create_engine, init_db, session_factory
    from runtime.tenancy.tenants import TenantStore

    engine = create_engine(settings)
    try:
        await init_db(engine)
        return await work(TenantStore(settings, session_factory(engine)))
    finally:
        await engine.dispose()


async def _create(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    flora_key: str | None = None
    workspaces = list(args.workspace or [])
    if args.flora_key_stdin:
        flora_key = sys.stdin.readline().strip()
        if not flora_key:
            raise SystemExit("no FLORA API key on standard input")
        kind = "upstream"
    elif args.server_flora:
        kind = "server"
    else:
        from flora_backend import Backend

        kind = "builtin"
        backend = Backend(settings)
        try:
            workspace_id = await backend.create_workspace(args.name)
            flora_key = await backend.create_key(workspace_id)
        finally:
            await backend.stop()
        workspaces = [workspace_id]

    async def work(store: TenantStore) -> dict[str, Any]:
        tenant, key = await store.create(
            args.name,
            flora_kind=kind,
            flora_key=flora_key,
            workspaces=workspaces,
            max_timeout_s=args.max_timeout,
            max_memory_mb=args.max_memory,
            max_calls=args.max_calls,
            max_concurrent=args.max_concurrent,
            per_minute=args.per_minute,
            max_cost_usd=args.max_cost_usd,
        )
        return {"tenant": tenant.public(), "runtime_key": key}

    return await _with_store(settings, work)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import IntegrityError

    if args.tenants_command == "create":
        try:
            out = asyncio.run(_create(args, settings))
        except IntegrityError:
            print(f"a tenant named {args.name!r} exists already", file=sys.stderr)
            return 1
        print(json.dumps(out, indent=2))
        print("Keep the runtime key: it is not shown again.", file=sys.stderr)
        return 0
    if args.tenants_command == "list":
        rows = asyncio.run(_with_store(settings, lambda store: store.list(args.all)))
        print(json.dumps(rows, indent=2))
        return 0
    if args.tenants_command == "revoke":
        done = asyncio.run(_with_store(settings, lambda store: store.revoke(args.name)))
        if not done:
            print(f"no active tenant {args.name!r}", file=sys.stderr)
            return 1
        print(f"revoked {args.name}: its runtime keys no longer work")
        return 0
    return 2


def add_parser(sub: Any) -> None:
    tenants = sub.add_parser("tenants", help="tenants and their runtime API keys")
    tsub = tenants.add_subparsers(dest="tenants_command", required=True)
    create = tsub.add_parser("create", help="a new tenant; prints its runtime key once")
    create.add_argument("name")
    source = create.add_mutually_exclusive_group()
    source.add_argument(
        "--flora-key-stdin", action="store_true", help="read its upstream FLORA API key from stdin"
    )
    source.add_argument(
        "--server-flora",
        action="store_true",
        help="use the server's own FLORA connection (restrict it with --workspace)",
    )
    create.add_argument(
        "--workspace", action="append", help="a workspace its scripts may use (repeatable)"
    )
    create.add_argument("--max-concurrent", type=int, help="executions running at once")
    create.add_argument("--per-minute", type=int, help="executions started per minute")
    create.add_argument("--max-timeout", type=float, help="most timeout_s a request may ask")
    create.add_argument("--max-memory", type=int, help="most memory_mb a request may ask")
    create.add_argument("--max-calls", type=int, help="most client calls per execution")
    create.add_argument(
        "--max-cost-usd", type=float, help="an execution's max_cost_usd unless it sets its own"
    )
    create.set_defaults(func=_run)
    listing = tsub.add_parser("list", help="tenants (never their keys)")
    listing.add_argument("--all", action="store_true", help="include revoked tenants")
    listing.set_defaults(func=_run)
    revoke = tsub.add_parser("revoke", help="revoke a tenant and all its runtime keys")
    revoke.add_argument("name", help="name or id")
    revoke.set_defaults(func=_run)
