"""`terrarium tenants create|list|update|revoke`: tenants and their runtime keys, in the database.

    terrarium tenants create acme                      own workspace on the built-in backend
    terrarium tenants create acme --flora-key-stdin    own upstream FLORA key (read from stdin)
        [--workspace ws_...]... [--max-concurrent N] [--per-minute N]
        [--max-timeout S] [--max-memory MB] [--max-calls N] [--max-cost-usd USD]
    terrarium tenants list [--all]
    terrarium tenants update acme [--max-concurrent N ...] [--unset LIMIT]...
        [--workspace ws_...]... | [--add-workspace ws_...]... [--remove-workspace ws_...]...
        | --any-workspace
    terrarium tenants revoke acme

A tenant name is 1 to 63 lowercase letters, digits, '_' and '-', starting with a letter or digit.
The runtime key is printed once, at creation; only its hash is kept. A FLORA key is stored
encrypted and is never printed again. More keys: `terrarium keys` (keys.py).
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

# Option name (as `create` takes it) -> the tenant's limit it sets.
LIMIT_OPTIONS = {
    "max_concurrent": "max_concurrent",
    "per_minute": "per_minute",
    "max_timeout": "max_timeout_s",
    "max_memory": "max_memory_mb",
    "max_calls": "max_calls",
    "max_cost_usd": "max_cost_usd",
}


async def with_store(settings: Settings, work: Callable[[TenantStore], Awaitable[T]]) -> T:
    from runtime.db import create_engine, init_db, session_factory
    from runtime.tenancy.tenants import TenantStore

    engine = create_engine(settings)
    try:
        await init_db(engine)
        return await work(TenantStore(settings, session_factory(engine)))
    finally:
        await engine.dispose()


def refused(command: str, work: Callable[[], int]) -> int:
    """Run `work`; a refusal (a bad name, an unknown tenant, ...) is one line and exit 1."""
    from runtime.errors import Refusal

    try:
        return work()
    except Refusal as exc:
        print(f"terrarium {command}: {exc.message}", file=sys.stderr)
        return 1


async def _create(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from runtime.tenancy.tenants import check_tenant_name

    check_tenant_name(args.name)  # before a workspace is made for it
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
            **{limit: getattr(args, option) for option, limit in LIMIT_OPTIONS.items()},
        )
        return {"tenant": tenant.public(), "runtime_key": key}

    return await with_store(settings, work)


async def _update(args: argparse.Namespace, settings: Settings) -> tuple[dict[str, Any], str]:
    changes: dict[str, Any] = {}
    for option, limit in LIMIT_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            changes[limit] = value
    for option in args.unset or []:
        changes[LIMIT_OPTIONS[option.replace("-", "_")]] = None
    if args.remove_workspace and (args.workspace is not None or args.any_workspace):
        raise SystemExit(
            "terrarium tenants update: --remove-workspace goes with --add-workspace or alone; "
            "--workspace and --any-workspace replace the whole list (leave out the ones to drop)"
        )

    async def work(store: TenantStore) -> tuple[dict[str, Any], str]:
        from runtime.tenancy.errors import TenantNotFound

        if args.any_workspace:
            changes["workspaces"] = None
        elif args.workspace is not None:
            changes["workspaces"] = list(args.workspace)
        elif args.add_workspace or args.remove_workspace:
            tenant = await store.get(args.name)
            if tenant is None:
                raise TenantNotFound(f"no active tenant {args.name[:80]!r}")
            kept = [w for w in tenant.workspaces if w not in set(args.remove_workspace or [])]
            changes["workspaces"] = kept + list(args.add_workspace or [])
        if not changes:
            raise SystemExit(
                "terrarium tenants update: nothing to change: give a limit option, --unset, "
                "or workspaces (see --help)"
            )
        tenant = await store.update(args.name, changes)
        return tenant.public(), store.revocation_effect(here=False)

    return await with_store(settings, work)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    command = f"tenants {args.tenants_command}"
    if args.tenants_command == "create":

        def create() -> int:
            out = asyncio.run(_create(args, settings))
            print(json.dumps(out, indent=2))
            print("Keep the runtime key: it is not shown again.", file=sys.stderr)
            return 0

        return refused(command, create)
    if args.tenants_command == "list":
        rows = asyncio.run(with_store(settings, lambda store: store.list(args.all)))
        print(json.dumps(rows, indent=2))
        return 0
    if args.tenants_command == "update":

        def change() -> int:
            tenant, effect = asyncio.run(_update(args, settings))
            print(json.dumps(tenant, indent=2))
            print(f"The new settings apply {effect}.", file=sys.stderr)
            return 0

        return refused(command, change)
    if args.tenants_command == "revoke":

        async def revoke(store: TenantStore) -> tuple[bool, str]:
            return await store.revoke(args.name), store.revocation_effect(here=False)

        done, effect = asyncio.run(with_store(settings, revoke))
        if not done:
            print(f"no active tenant {args.name!r}", file=sys.stderr)
            return 1
        print(f"revoked {args.name}: its runtime keys stop working {effect}")
        return 0
    return 2


def _limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-concurrent", type=int, help="executions running at once")
    parser.add_argument("--per-minute", type=int, help="executions started per minute")
    parser.add_argument("--max-timeout", type=float, help="most timeout_s a request may ask")
    parser.add_argument("--max-memory", type=int, help="most memory_mb a request may ask")
    parser.add_argument("--max-calls", type=int, help="most client calls per execution")
    parser.add_argument(
        "--max-cost-usd", type=float, help="an execution's max_cost_usd unless it sets its own"
    )


def add_parser(sub: Any) -> None:
    tenants = sub.add_parser("tenants", help="tenants and their runtime API keys")
    tsub = tenants.add_subparsers(dest="tenants_command", required=True)
    create = tsub.add_parser("create", help="a new tenant; prints its runtime key once")
    create.add_argument("name", help="1 to 63 of a-z 0-9 _ - (first a letter or digit)")
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
    _limit_options(create)
    create.set_defaults(func=_run)
    listing = tsub.add_parser("list", help="tenants (never their keys)")
    listing.add_argument("--all", action="store_true", help="include revoked tenants")
    listing.set_defaults(func=_run)
    change = tsub.add_parser(
        "update", help="change a tenant's limits or workspaces (its keys keep working)"
    )
    change.add_argument("name", help="name or id")
    _limit_options(change)
    change.add_argument(
        "--unset",
        action="append",
        choices=[o.replace("_", "-") for o in LIMIT_OPTIONS],
        help="a limit back to the server's default (repeatable)",
    )
    spaces = change.add_mutually_exclusive_group()
    spaces.add_argument(
        "--workspace",
        action="append",
        help="the workspaces its scripts may use, replacing the list (repeatable)",
    )
    spaces.add_argument("--add-workspace", action="append", help="allow one more workspace")
    spaces.add_argument(
        "--any-workspace",
        action="store_true",
        help="no allow-list: every workspace its FLORA connection reaches",
    )
    change.add_argument("--remove-workspace", action="append", help="stop allowing a workspace")
    change.set_defaults(func=_run)
    revoke = tsub.add_parser("revoke", help="revoke a tenant and all its runtime keys")
    revoke.add_argument("name", help="name or id")
    revoke.set_defaults(func=_run)
