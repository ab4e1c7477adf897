"""A throwaway PostgreSQL server for one test module, from the distribution's binaries
(scripts/ensure-postgres.sh installs them): `with throwaway_postgres() as url:` (None when
PostgreSQL is not installed), and `fresh_database(url, name)` for an empty database on it."""

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


def fresh_database(url: str, name: str) -> str:
    """A new empty database `name` on the server at `url`; its URL."""
    import asyncio

    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return url.rsplit("/", 1)[0] + "/" + name
