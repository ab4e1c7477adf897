"""A throwaway PostgreSQL server from the distribution's binaries (scripts/ensure-postgres.sh
installs them): `with throwaway_postgres() as url:` (None when PostgreSQL is not installed).
The suite starts one for the whole session (`postgres_server` in tests/conftest.py); each
module or test takes an empty database of its own on it with `fresh_database(url, prefix)`
(or `await new_database(url, prefix)` from async code), so no test sees another's tables."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from served import free_port


def _binaries() -> tuple[str, str] | None:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(f"{bindir}/initdb") and os.path.exists(f"{bindir}/pg_ctl"):
            return f"{bindir}/initdb", f"{bindir}/pg_ctl"
    return None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """`postgresql://terrarium@127.0.0.1:<port>/postgres`, trust auth, fsync off; None when the
    binaries are missing (or running as root without runuser)."""
    binaries = _binaries()
    if binaries is None or (os.geteuid() == 0 and not shutil.which("runuser")):
        yield None
        return
    initdb, pg_ctl = binaries
    prefix: list[str] = []
    root = tempfile.mkdtemp(prefix="terrarium-pg-")
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = "postgres" if _user_exists("postgres") else "nobody"
        prefix = ["runuser", "-u", user, "--"]
        shutil.chown(root, user)
    data, port = os.path.join(root, "data"), free_port()

    def run(*cmd: str) -> None:
        out = subprocess.DEVNULL  # a pipe would be held open by the server
        subprocess.run([*prefix, *cmd], check=True, stdout=out, stderr=out, timeout=60)

    run(initdb, "-D", data, "-U", "terrarium", "--auth=trust")
    options = f"-p {port} -k {root} -h 127.0.0.1 -c fsync=off"
    run(pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-o", options, "-w", "start")
    try:
        yield f"postgresql://terrarium@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


async def new_database(url: str, prefix: str) -> str:
    """A new empty database named `prefix` plus a random suffix, on the server at `url`."""
    import uuid

    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.rsplit("/", 1)[0] + "/" + name


def fresh_database(url: str, prefix: str) -> str:
    """`new_database` for code that runs no event loop."""
    import asyncio

    return asyncio.run(new_database(url, prefix))
