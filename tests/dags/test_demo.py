"""`make demo` pieces: database URLs, the one-line error when PostgreSQL is down, and the live progress lines."""

from __future__ import annotations

import io
import logging
import uuid
from typing import Any

import psycopg
import pytest
from rich.console import Console

from generators.airflow_deploy import EVENT
from generators.demo import DemoError, Progress, ensure_database, redact, with_database


def test_database_url_keeps_user_host_port_and_options() -> None:
    admin = "postgresql://postgres:pw@db.internal:6432/postgres?sslmode=require"
    assert (
        with_database(admin, "promptsales") == "postgresql://postgres:pw@db.internal:6432/promptsales?sslmode=require"
    )


def test_printed_urls_never_show_a_password() -> None:
    assert redact("postgresql://deployer:s3cret@db:5432/promptsales") == "postgresql://deployer:***@db:5432/promptsales"
    assert (
        redact("postgresql://postgres@127.0.0.1:5432/promptsales") == "postgresql://postgres@127.0.0.1:5432/promptsales"
    )


def test_unreachable_server_is_one_line_that_says_what_to_do() -> None:
    with pytest.raises(DemoError) as err:
        ensure_database("postgresql://postgres:s3cret@127.0.0.1:1/postgres", "promptsales")
    message = str(err.value)
    assert "\n" not in message
    assert "s3cret" not in message
    assert message.startswith("PostgreSQL is not reachable at postgresql://postgres:***@127.0.0.1:1/postgres")
    assert message.endswith("run `make services` or set PROMPTSALES_PG_ADMIN_URL")


@pytest.mark.postgres
def test_database_is_created_once_then_reused(pg_admin: str) -> None:
    name = f"ps_demo_{uuid.uuid4().hex[:10]}"
    try:
        assert ensure_database(pg_admin, name) is True
        assert ensure_database(pg_admin, name) is False
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class FakeStatus:
    def __init__(self) -> None:
        self.text = ""

    def update(self, text: str) -> None:
        self.text = text


def emit(progress: Progress, event: dict[str, Any]) -> None:
    record = logging.LogRecord("generators.airflow_deploy", logging.INFO, __file__, 1, "x", None, None)
    setattr(record, EVENT, event)
    progress.emit(record)


def test_progress_prints_one_line_per_file_and_keeps_counts() -> None:
    out = io.StringIO()
    status = FakeStatus()
    progress = Progress(Console(file=out, width=200, color_system=None), status)
    for rel, status_, ms in (("010_schemas", "changed", 12), ("020_tables", "unchanged", 7)):
        emit(
            progress,
            {"kind": "file", "store": "sales", "file": f"sql/sales/{rel}.sql", "status": status_, "duration_ms": ms},
        )
    emit(progress, {"kind": "skip", "store": "crm", "message": "store 'crm' skipped: set AIRFLOW_CONN_X=[uri]"})
    emit(progress, {"kind": "fail", "store": "sales", "file": "f", "message": 'f: column "a[1]" does not exist'})
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["✓", "sql/sales/010_schemas.sql", "new/changed", "12", "ms"]
    assert lines[1].split() == ["✓", "sql/sales/020_tables.sql", "unchanged", "7", "ms"]
    assert lines[2] == "skip store 'crm' skipped: set AIRFLOW_CONN_X=[uri]"  # brackets are text, not markup
    assert lines[3].strip() == '✗ f: column "a[1]" does not exist'
    assert [f["status"] for f in progress.files] == ["changed", "unchanged"]
    assert len(progress.skipped) == len(progress.failed) == 1
    assert status.text.startswith("deploying sales")


def test_progress_ignores_records_without_an_event() -> None:
    out = io.StringIO()
    progress = Progress(Console(file=out), FakeStatus())
    progress.emit(logging.LogRecord("generators.airflow_deploy", logging.INFO, __file__, 1, "plain", None, None))
    assert out.getvalue() == ""
