"""FLORA's official TypeScript SDK (npm `@flora-ai/flora`, pinned in package-lock.json) against the
built-in backend served by a real `terrarium serve`: every one of the SDK's methods called once,
after FLORA's recipe "Generate without a Technique", each answer validated against the JSON
Schema generated from the SDK's own response type (contract.mjs prints one line per method).

Setup, all from this module's fixture: Node from Debian's packages when missing
(scripts/ensure-node.sh), `npm ci` into tests/sdk/node_modules when it is missing or the
lockfile changed, the schemas into tests/sdk/.schemas when the SDK or schema-types.ts changed.

What is asserted, per method: a method the table (`client_surface.table`) does not have yet must
answer `not_implemented` (the route is missing), so adding one without it passing the SDK's
schema fails here; a method the table has must be `ok`, except the ones in KNOWN_VIOLATIONS,
which must still be schema violations (fixing one means removing it from the dict).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from served import ServedTerrarium, clean_env

from client_surface.table import method_names
from flora_backend import Backend
from flora_backend.settings import BackendSettings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODULES = HERE / "node_modules"
SCHEMAS = HERE / ".schemas" / "schemas.json"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a first run installs Node and npm ci

# The SDK's 40 methods (0.11.0). contract.mjs lists the client's own methods at run time and
# test_every_sdk_method_is_called checks this tuple against that list.
SDK_METHODS = (
    "workspaces.list",
    "workspaces.projects.create",
    "workspaces.projects.graph",
    "workspaces.projects.runNodes",
    "workspaces.projects.canvas.retrieveDefinition",
    "workspaces.projects.canvas.replaceDefinition",
    "workspaces.projects.canvas.applyChangeset",
    "workspaces.folders.createProject",
    "workspaces.library.folders.create",
    "workspaces.library.folders.addItem",
    "workspaces.library.folders.delete",
    "projects.list",
    "projects.create",
    "projects.retrieve",
    "projects.listNodes",
    "projects.assets.attachAsset",
    "projects.canvas.retrieve",
    "projects.canvas.update",
    "projects.actions.create",
    "projects.actions.run",
    "assets.create",
    "assets.retrieve",
    "assets.list",
    "assets.complete",
    "assets.retry",
    "actions.list",
    "actions.retrieve",
    "actions.run",
    "models.list",
    "generations.create",
    "generations.retrieve",
    "generations.list",
    "techniques.list",
    "techniques.retrieve",
    "techniques.runs.create",
    "techniques.runs.retrieve",
    "techniques.runs.list",
    "runs.startGeneration",
    "runs.startTechnique",
    "feedback.record",
)

# Checks beyond single methods, and the table methods each one needs.
CHECKS: dict[str, tuple[str, ...]] = {
    "pagination": ("generations.list", "projects.list"),
    "errors.400": ("generations.create",),
    "errors.401": ("workspaces.list",),
    "errors.404": ("projects.retrieve",),
    "errors.409": ("generations.create",),
    "errors.429": ("workspaces.list",),
    "assets.upload": ("assets.create", "assets.complete", "assets.retrieve"),
    "webhooks.unwrap": ("generations.create",),
}

# Methods the table has whose answers still break the SDK's response types. Each must still be a
# schema violation: when one is fixed, remove it here.
KNOWN_VIOLATIONS: dict[str, str] = {}


def snake(sdk_name: str) -> str:
    """`projects.listNodes` -> `projects.list_nodes`: the table's name for an SDK method."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", sdk_name).lower()


def in_table(sdk_name: str) -> bool:
    return snake(sdk_name) in set(method_names())


# ---------------------------------------------------------------- setup: node, npm ci, schemas


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _run(cmd: list[str], timeout: float) -> None:
    done = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-4000:]}")


def prepare_node() -> None:
    """Node and npm present; node_modules as the lockfile says; the schemas generated."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        _run([str(ROOT / "scripts" / "ensure-node.sh")], timeout=600)
    with open(HERE / ".setup.lock", "w") as lock:  # one installer at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = MODULES / ".terrarium-lock.sha256"
        want = _digest(HERE / "package.json", HERE / "package-lock.json")
        if not stamp.exists() or stamp.read_text() != want:
            _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], timeout=600)
            stamp.write_text(want)
        schema_stamp = SCHEMAS.with_suffix(".sha256")
        inputs = ("schema-types.ts", "gen-schemas.mjs", "tsconfig.json", "package-lock.json")
        want = _digest(*(HERE / name for name in inputs))
        if not SCHEMAS.exists() or not schema_stamp.exists() or schema_stamp.read_text() != want:
            SCHEMAS.parent.mkdir(exist_ok=True)
            _run(["node", "gen-schemas.mjs", str(SCHEMAS)], timeout=300)
            schema_stamp.write_text(want)


def webhook_secret(data_dir: Path) -> str:
    """The default workspace's `whsec_` secret, read from the served instance's data."""
    settings = BackendSettings(
        data_dir=data_dir,
        database_url=os.environ.get("DATABASE_URL") or os.environ.get("TERRARIUM_DATABASE_URL"),
    )

    async def read() -> str:
        backend = Backend(settings)
        try:
            return await backend.webhook_secret()
        finally:
            await backend.stop()

    return asyncio.run(read())


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """{method: {status, detail}} from one run of contract.mjs against a served Terrarium."""
    prepare_node()
    tmp = tmp_path_factory.mktemp("sdk")
    env = clean_env(TERRARIUM_BACKEND_SPEED="0", TERRARIUM_BACKEND_CALLBACKS_ALLOW_PRIVATE="1")
    limited_env = clean_env(
        TERRARIUM_BACKEND_SPEED="0", TERRARIUM_BACKEND_RATE_LIMIT_PER_MINUTE="2"
    )
    with (
        ServedTerrarium(env, tmp / "served") as served,
        ServedTerrarium(limited_env, tmp / "limited") as limited,
    ):
        key = (served.data_dir / "dev-key").read_text().strip()
        limited_key = (limited.data_dir / "dev-key").read_text().strip()
        done = subprocess.run(
            [
                "node",
                "contract.mjs",
                served.base + "/api/v1",
                key,
                str(SCHEMAS),
                webhook_secret(served.data_dir),
            ],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=240,
            env={
                **os.environ,
                "CONTRACT_RATE_LIMITED_BASE": limited.base + "/api/v1",
                "CONTRACT_RATE_LIMITED_KEY": limited_key,
            },
        )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    results = {line["method"]: line for line in lines}
    if "sdk:fatal" in results or "sdk:methods" not in results:
        pytest.fail(f"contract.mjs stopped: {done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    (tmp / "contract.jsonl").write_text(done.stdout)
    yield results


# ---------------------------------------------------------------- the assertions


def test_every_sdk_method_is_called(contract):
    found = contract["sdk:methods"]["detail"]
    assert sorted(found) == sorted(SDK_METHODS), "the SDK's methods differ from SDK_METHODS"
    not_called = [m for m in SDK_METHODS if m not in contract]
    assert not not_called, f"contract.mjs never called {not_called}"


def test_known_violations_are_table_methods():
    stale = [m for m in KNOWN_VIOLATIONS if m not in SDK_METHODS or not in_table(m)]
    assert not stale, f"KNOWN_VIOLATIONS names methods the table does not have: {stale}"


@pytest.mark.parametrize("method", SDK_METHODS)
def test_sdk_method(contract, method):
    line = contract.get(method, {"status": "missing", "detail": "no line from contract.mjs"})
    status, detail = line["status"], line["detail"]
    if not in_table(method):
        assert status == "not_implemented", (
            f"{method} ({snake(method)}) is not in the table, so its route should be missing; "
            f"got {status}: {detail}. Add it to the table and make it pass the SDK's schema."
        )
    elif method in KNOWN_VIOLATIONS:
        assert status == "schema_violation", (
            f"{method} is listed in KNOWN_VIOLATIONS ({KNOWN_VIOLATIONS[method]}) but is now "
            f"{status}: {detail}. If it is fixed, remove it from KNOWN_VIOLATIONS."
        )
    else:
        assert status == "ok", f"{method}: {status}: {detail}"


@pytest.mark.parametrize("check", list(CHECKS))
def test_sdk_check(contract, check):
    line = contract.get(f"check:{check}", {"status": "missing", "detail": "no line"})
    missing = [m for m in CHECKS[check] if not in_table(m)]
    expected = "not_implemented" if missing else "ok"
    assert line["status"] == expected, f"{check}: {line['status']}: {line['detail']}"
