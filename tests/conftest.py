"""Fixtures every test directory may use: one throwaway PostgreSQL server for the session.

Starting a server (initdb, then pg_ctl) takes seconds; every module that needs PostgreSQL takes
an empty database of its own on this one instead (tests/helpers/throwaway_pg.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from throwaway_pg import throwaway_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """`postgresql://terrarium@127.0.0.1:<port>/postgres`; skips when PostgreSQL is missing."""
    with throwaway_postgres() as url:
        if url is None:
            pytest.skip("PostgreSQL is not installed (scripts/ensure-postgres.sh adds it)")
        yield url
