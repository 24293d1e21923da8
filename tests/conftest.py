"""Shared fixtures: the repository root, and fresh PostgreSQL databases on the local real server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("PROMPTSALES_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def dsn_for(database: str) -> str:
    """The admin URL with its database replaced."""
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def pg_admin() -> str:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc});"
            " run `make services` or set PROMPTSALES_PG_ADMIN_URL",
            pytrace=False,
        )
    return PG_ADMIN_URL


@pytest.fixture
def make_database(pg_admin: str) -> Iterator[Callable[[], str]]:
    """Factory: each call creates an empty database and returns its URL; all are dropped afterwards."""
    created: list[str] = []

    def create() -> str:
        name = f"ps_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        created.append(name)
        return dsn_for(name)

    yield create
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        for name in created:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def fresh_db(make_database: Callable[[], str]) -> str:
    """An empty database on the real server."""
    return make_database()


@pytest.fixture(scope="module")
def sales_db(pg_admin: str) -> Iterator[str]:
    """One database per test module with the rendered PromptSales schema deployed."""
    from generators.deploy import deploy_postgres

    name = f"ps_sales_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = dsn_for(name)
    try:
        deploy_postgres(dsn, "sales")
        yield dsn
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
