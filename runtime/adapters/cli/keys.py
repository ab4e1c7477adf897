"""`terrarium keys create|list|revoke|rotate`: runtime keys, several per tenant, each labelled.

    terrarium keys create --tenant acme --label ci [--expires-in 30d]   prints the key once
    terrarium keys list [--tenant acme]                  ids, prefixes, labels, states; no secret
    terrarium keys revoke KEY_ID_OR_PREFIX
    terrarium keys rotate KEY_ID [--grace 1h]            a new key, same tenant and label; the
                                                         old one revoked after the grace (or now)
    terrarium keys create                                another key of the built-in backend

Durations: a number and s, m, h, d or w (90s, 15m, 1h, 30d, 2w). A revocation reaches running
servers within TERRARIUM_KEY_CACHE_S.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from runtime.adapters.cli.tenants import refused, with_store
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.tenancy.tenants import TenantStore

KEEP_IT = "Keep the runtime key: it is not shown again."


async def _backend_key(settings: Settings) -> str:
    from flora_backend import Backend

    backend = Backend(settings)
    await backend.start()
    try:
        return await backend.create_key()
    finally:
        await backend.stop()


def _create(args: argparse.Namespace, settings: Settings) -> int:
    if args.tenant is None:
        if args.label is not None or args.expires_in is not None:
            print(
                "terrarium keys create: --label and --expires-in need --tenant NAME "
                "(without it, the command makes a key of the built-in backend)",
                file=sys.stderr,
            )
            return 2
        print(asyncio.run(_backend_key(settings)))
        return 0

    def create() -> int:
        from runtime.tenancy.tenants import DEFAULT_LABEL, parse_duration

        expires_in = parse_duration(args.expires_in) if args.expires_in else None

        async def work(store: TenantStore) -> dict[str, Any]:
            info, key = await store.create_key(args.tenant, args.label or DEFAULT_LABEL, expires_in)
            return {"key": info.public(), "runtime_key": key}

        print(json.dumps(asyncio.run(with_store(settings, work)), indent=2))
        print(KEEP_IT, file=sys.stderr)
        return 0

    return refused("keys create", create)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    def listing() -> int:
        async def work(store: TenantStore) -> list[dict[str, Any]]:
            return [info.public() for info in await store.keys(args.tenant)]

        print(json.dumps(asyncio.run(with_store(settings, work)), indent=2))
        return 0

    return refused("keys list", listing)


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    def revoke() -> int:
        async def work(store: TenantStore) -> tuple[Any, bool, str]:
            info, was_working = await store.revoke_key(args.key)
            return info, was_working, store.revocation_effect(here=False)

        info, was_working, effect = asyncio.run(with_store(settings, work))
        name = f"{info.id} ({info.prefix}..., label {info.label!r}, tenant {info.tenant})"
        if not was_working:
            print(f"{name} was not working already ({info.state()}); it is revoked now")
            return 0
        print(f"revoked {name}: it stops working {effect}")
        return 0

    return refused("keys revoke", revoke)


def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    def rotate() -> int:
        from runtime.tenancy.tenants import parse_duration

        grace = parse_duration(args.grace, "grace") if args.grace else None

        async def work(store: TenantStore) -> tuple[Any, Any, str, str]:
            old, new, key = await store.rotate_key(args.key, grace)
            return old, new, key, store.rotation_effect(old, here=False)

        old, new, key, effect = asyncio.run(with_store(settings, work))
        print(json.dumps({"key": new.public(), "runtime_key": key, "old": old.public()}, indent=2))
        print(KEEP_IT, file=sys.stderr)
        print(f"The old key {old.id} {effect}.", file=sys.stderr)
        return 0

    return refused("keys rotate", rotate)


def add_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="runtime keys of tenants (and the built-in backend's)")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    create = ksub.add_parser(
        "create",
        help="a runtime key for a tenant, printed once (without --tenant: a backend key)",
    )
    create.add_argument("--tenant", help="the tenant's name or id")
    create.add_argument("--label", help="what the key is for, like 'ci' (default: 'default')")
    create.add_argument("--expires-in", help="a lifetime like 30d or 12h (default: never)")
    create.set_defaults(func=_create)
    listing = ksub.add_parser("list", help="keys: id, prefix, label, dates, state; no secret")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.set_defaults(func=_list)
    revoke = ksub.add_parser("revoke", help="revoke one key now")
    revoke.add_argument("key", metavar="KEY_ID_OR_PREFIX")
    revoke.set_defaults(func=_revoke)
    rotate = ksub.add_parser(
        "rotate", help="a new key with the same tenant and label; revoke the old one"
    )
    rotate.add_argument("key", metavar="KEY_ID")
    rotate.add_argument("--grace", help="keep the old key working this long, like 1h (default: 0)")
    rotate.set_defaults(func=_rotate)
