"""The console's pages, rendered on the server (Jinja2); the JS under static/ fills them in.

Every page but the sign-in page needs a signed-in user and sends the browser to sign in with a
`next` back to where it was (a path under /console only). Operator pages need the operator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from client_surface.docs import surface_json
from runtime.adapters.console.session import (
    COOKIE,
    COOKIE_MAX_AGE_S,
    COOKIE_PATH,
    ConsoleUser,
    current_user,
    service_of,
)  # fmt: skip

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
EXAMPLES_DIR = HERE.parents[2] / "examples"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)

# Small scripts to load in the playground, after the recipe in examples/.
EXAMPLES: dict[str, tuple[str, str]] = {
    "models": (
        "List image models",
        'async def run(client):\n    models = await client.models.list(type="image")\n'
        '    print(len(models.models), "image models")\n'
        "    return [m.model_id for m in models.models]\n",
    ),
    "inputs": (
        "Use inputs, no calls",
        'import statistics\n\nvalues = inputs.get("values", [3, 1, 4, 1, 5])\n'
        'print("mean", statistics.mean(values))\n'
        '{"n": len(values), "median": statistics.median(values)}\n',
    ),
    "audio": (
        "Generate audio",
        "import asyncio\n\n\nasync def run(client):\n"
        "    ws = (await client.workspaces.list()).workspaces[0].workspace_id\n"
        '    project = await client.projects.create(name="Sounds", workspace_id=ws)\n'
        "    gen = await client.generations.create(\n"
        '        type="audio", prompt=inputs.get("prompt", "rain on a tin roof"),\n'
        "        workspace_id=ws, project_id=project.project_id,\n    )\n"
        "    run = await client.generations.retrieve(gen.run_id)\n"
        '    while run.status not in ("completed", "failed"):\n'
        "        await asyncio.sleep(0.2)\n"
        "        run = await client.generations.retrieve(gen.run_id)\n"
        '    return {"status": run.status, "outputs": [o.url for o in run.outputs or []]}\n',
    ),
    "failing": (
        "A failing script",
        'async def run(client):\n    models = await client.models.list(type="image")\n'
        "    first = models.models[0]\n    return first.model_id / 2\n",
    ),
    "slow": (
        "A long run (async)",
        "import asyncio\n\n\nasync def run(client):\n    for step in range(5):\n"
        '        print("step", step)\n        await asyncio.sleep(1)\n    return "done"\n',
    ),
}


def seed_recipe() -> str:
    path = EXAMPLES_DIR / "generate_without_technique.py"
    try:
        return path.read_text()
    except OSError:  # installed without the repository's examples/
        return EXAMPLES["models"][1]


def example_list() -> list[dict[str, str]]:
    items = [{"id": "recipe", "title": "Generate without a Technique (recipe)", "code": ""}]
    items[0]["code"] = seed_recipe()
    items += [{"id": key, "title": title, "code": code} for key, (title, code) in EXAMPLES.items()]
    return items


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console/playground"


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?next={quote(target, safe='')}", status_code=303)


def _page(request: Request, name: str, user: ConsoleUser | None, **context: Any) -> Response:
    service = service_of(request)
    ctx = {
        "user": user,
        "active": name.removesuffix(".html"),
        "flora_mode": service.connections.mode,
        **context,
    }
    return templates.TemplateResponse(request, name, ctx)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    return RedirectResponse("/console/playground", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _page(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request, key: str = Form(..., max_length=400), next: str = Form("")
) -> Response:
    service = service_of(request)
    key = key.strip()
    tenant = await service.auth.tenant(f"Bearer {key}") if key else None
    if tenant is None:
        error = "That key is not a working runtime key (trk_…). Check it and try again."
        response = _page(request, "login.html", None, next=_safe_next(next), error=error)
        response.status_code = 401
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        max_age=COOKIE_MAX_AGE_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.get("/playground", response_class=HTMLResponse)
async def playground(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _login_redirect(request)
    limits = service_of(request).limits
    return _page(
        request,
        "playground.html",
        user,
        examples=example_list(),
        defaults=limits.defaults,
        maxima=limits.maxima,
    )


@router.get("/executions", response_class=HTMLResponse)
async def executions(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _login_redirect(request)
    return _page(request, "executions.html", user)


@router.get("/executions/{execution_id}", response_class=HTMLResponse)
async def execution(request: Request, execution_id: str) -> Response:
    user = await current_user(request)
    if user is None:
        return _login_redirect(request)
    return _page(request, "execution.html", user, execution_id=execution_id[:80])


@router.get("/surface", response_class=HTMLResponse)
async def surface(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _login_redirect(request)
    methods = surface_json()["methods"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for method in methods:
        groups.setdefault(str(method["name"]).rsplit(".", 1)[0], []).append(method)
    return _page(request, "surface.html", user, groups=groups, count=len(methods))


@router.get("/operators", response_class=HTMLResponse)
async def operators_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _login_redirect(request)
    if not user.operator:
        response = _page(request, "forbidden.html", user)
        response.status_code = 403
        return response
    return _page(request, "operators.html", user)
