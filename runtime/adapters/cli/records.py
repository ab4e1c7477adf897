"""`terrarium records prune|webhook-secret`: execution records, for operators.

    terrarium records prune                      delete records older than TERRARIUM_RETENTION_DAYS
    terrarium records prune --older-than 7d      ... older than 7 days (12h, 30m, 2w also)
    terrarium records prune --dry-run            only count what would be deleted
    terrarium records webhook-secret acme        the secret acme's completion webhooks are
                                                 signed with (give it to the tenant)

Both print JSON. The prune is the one every server runs hourly (runtime/executions/
retention.py): finished records and idempotency keys created before the cutoff are deleted; a
record still running, or whose webhook is still being delivered, is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from runtime.settings import Settings

CANNOT_START = 2


async def _prune(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from runtime.db import create_engine, init_db, utcnow
    from runtime.executions import retention

    if args.older_than is not None:
        before = utcnow() - retention.parse_age(args.older_than)
    else:
        before = retention.cutoff(settings.retention_days)
    engine = create_engine(settings)
    try:
        await init_db(engine)
        pruned = await retention.prune(engine, before, dry_run=args.dry_run)
    finally:
        await engine.dispose()
    return {**pruned.as_json(), "dry_run": bool(args.dry_run)}


def _prune_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.executions.retention import parse_age

    if args.older_than is None and settings.retention_days <= 0:
        print(
            "terrarium records prune: TERRARIUM_RETENTION_DAYS is 0 (records are kept forever); "
            "name an age to prune anyway, like --older-than 30d",
            file=sys.stderr,
        )
        return CANNOT_START
    if args.older_than is not None:
        try:
            parse_age(args.older_than)
        except ValueError as exc:
            print(f"terrarium records prune: --older-than {exc}", file=sys.stderr)
            return CANNOT_START
    print(json.dumps(asyncio.run(_prune(args, settings)), indent=2))
    return 0


async def _tenant_id(settings: Settings, name_or_id: str) -> str | None:
    from sqlalchemy import or_, select

    from runtime.db import create_engine, init_db, session_factory
    from runtime.tenancy.tenants import TenantRow

    engine = create_engine(settings)
    try:
        await init_db(engine)
        async with session_factory(engine)() as s:
            found = await s.scalar(
                select(TenantRow.id).where(
                    or_(TenantRow.name == name_or_id, TenantRow.id == name_or_id)
                )
            )
    finally:
        await engine.dispose()
    return found


def _secret_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.executions.webhooks import SIGNATURE_HEADER, root_secret, webhook_secret

    tenant_id = asyncio.run(_tenant_id(settings, args.tenant))
    if tenant_id is None:
        print(
            f"terrarium records webhook-secret: no tenant {args.tenant!r} (see terrarium "
            "tenants list)",
            file=sys.stderr,
        )
        return CANNOT_START
    answer = {
        "tenant_id": tenant_id,
        "webhook_secret": webhook_secret(root_secret(settings), tenant_id),
        "header": SIGNATURE_HEADER.title(),
        "scheme": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>',
    }
    print(json.dumps(answer, indent=2))
    return 0


def add_parser(sub: Any) -> None:
    records = sub.add_parser("records", help="execution records: prune old ones, webhook secrets")
    records_sub = records.add_subparsers(dest="records_command", required=True)
    prune = records_sub.add_parser(
        "prune",
        help="delete finished execution records (and idempotency keys) older than "
        "TERRARIUM_RETENTION_DAYS or --older-than",
    )
    prune.add_argument("--older-than", help="an age: 7d, 12h, 30m, 2w (a bare number is days)")
    prune.add_argument("--dry-run", action="store_true", help="count them, delete nothing")
    prune.set_defaults(func=_prune_cmd)
    secret = records_sub.add_parser(
        "webhook-secret", help="the secret a tenant's completion webhooks are signed with"
    )
    secret.add_argument("tenant", help="the tenant's name or id")
    secret.set_defaults(func=_secret_cmd)
