"""Who is signed in to the console: the runtime key in an http-only cookie, and whether it is
an operator's.

The cookie holds the key itself (http-only, SameSite=Strict, Secure over HTTPS, path /console),
so nothing new is stored on the server and revoking the key signs the console out within the
key cache's seconds, as it would any API client. Never in a URL.

The operator is the default tenant: the one the server makes on first start and whose key
`terrarium serve` prints. Whoever holds that key started the server (or can read its data dir)
and can already run `terrarium tenants` against the same database, so the console gives it no
power it lacks; no second kind of secret has to be made, shown and rotated. A deployment whose
tenants were all made by an operator has no default tenant, and so no console operator: the
CLI stays the way to manage tenants there.

Writes the pages make with fetch() carry `X-Terrarium-Console: 1`, which a cross-site form
cannot send (a belt to SameSite's braces).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from runtime.errors import Refusal, Unauthenticated
from runtime.executions.service import Executions
from runtime.tenancy.tenants import Tenant

COOKIE = "terrarium_console"
COOKIE_PATH = "/console"
COOKIE_MAX_AGE_S = 12 * 3600
WRITE_HEADER = "x-terrarium-console"


class Forbidden(Refusal):
    """The signed-in key is not an operator's, or a write came without the console's header."""


@dataclass(frozen=True)
class ConsoleUser:
    tenant: Tenant
    operator: bool


def service_of(request: Request) -> Executions:
    service: Executions = request.app.state.executions
    return service


async def current_user(request: Request) -> ConsoleUser | None:
    """The signed-in user, or None (no cookie, or a key that no longer works)."""
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    service = service_of(request)
    tenant = await service.auth.tenant(f"Bearer {key}")
    if tenant is None:
        return None
    default = service.default_tenant
    return ConsoleUser(tenant, operator=default is not None and tenant.id == default.id)


async def require_user(request: Request) -> ConsoleUser:
    user = await current_user(request)
    if user is None:
        raise Unauthenticated("sign in to the console with a runtime key")
    if request.method not in ("GET", "HEAD") and request.headers.get(WRITE_HEADER) != "1":
        raise Forbidden("a console write must come from the console's own pages")
    return user


async def require_operator(user: Annotated[ConsoleUser, Depends(require_user)]) -> ConsoleUser:
    if not user.operator:
        raise Forbidden("only the operator's key (the default tenant's) opens the operator views")
    return user


UserDep = Annotated[ConsoleUser, Depends(require_user)]
OperatorDep = Annotated[ConsoleUser, Depends(require_operator)]
