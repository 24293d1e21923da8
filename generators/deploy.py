"""Apply the rendered SQL of a store, file by file in manifest order, idempotently and with a ledger."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "sql" / "manifest.json"

LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS deploy;
COMMENT ON SCHEMA deploy IS 'Deploy ledger: which rendered file (by SHA-256) was applied when.';
CREATE TABLE IF NOT EXISTS deploy.applied_files (
    store       varchar(40)  NOT NULL,
    file        varchar(200) NOT NULL,
    sha256      char(64)     NOT NULL,
    applied_at  timestamptz  NOT NULL DEFAULT now(),
    duration_ms integer      NOT NULL,
    CONSTRAINT pk_applied_files PRIMARY KEY (store, file, sha256)
);
REVOKE ALL ON SCHEMA deploy FROM PUBLIC;
"""


class DeployError(Exception):
    """A file failed to apply; the message names the store, the file and the database error."""


@dataclass(frozen=True)
class FileResult:
    store: str
    file: str
    sha256: str
    changed: bool
    """True when this content had not been applied before (a new or edited file)."""
    duration_ms: int


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def store_files(store: str, manifest: dict[str, Any] | None = None) -> list[str]:
    """The store's deploy files, relative to the repository root, in deploy order."""
    manifest = manifest if manifest is not None else load_manifest()
    try:
        return list(manifest["stores"][store]["deploy"])
    except KeyError:
        raise DeployError(f"store {store!r} is not in sql/manifest.json (run make render)") from None


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- PostgreSQL


def apply_postgres_file(conn: Any, store: str, rel: str, root: Path = ROOT) -> FileResult:
    """Apply one rendered file in its own transaction (PostgreSQL DDL is transactional: all or nothing).

    `conn` is a psycopg 3 connection. Every rendered statement is idempotent, so the file is always
    applied; the ledger records each distinct content once, which is how a re-run shows "unchanged".
    """
    path = root / rel
    sql = path.read_text(encoding="utf-8")
    digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
    started = time.perf_counter()
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(LEDGER_DDL)
            cur.execute(sql)
            elapsed = int((time.perf_counter() - started) * 1000)
            cur.execute(
                "INSERT INTO deploy.applied_files (store, file, sha256, duration_ms) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (store, file, sha256) DO NOTHING",
                (store, rel, digest, elapsed),
            )
            changed = cur.rowcount == 1
    except Exception as exc:  # the database error is the useful part; the traceback is not
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeployError(f"{store}: {rel}: {detail}") from exc
    return FileResult(store, rel, digest, changed, elapsed)


def deploy_postgres(
    dsn: str, store: str = "sales", *, root: Path = ROOT, progress: Callable[[FileResult], None] | None = None
) -> list[FileResult]:
    """Apply every deploy file of a PostgreSQL store, in manifest order."""
    import psycopg  # local import: DAG files import this module at parse time

    files = store_files(store, load_manifest(root / "sql" / "manifest.json"))
    results = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for rel in files:
            result = apply_postgres_file(conn, store, rel, root)
            results.append(result)
            if progress:
                progress(result)
    return results


# --------------------------------------------------------------------------- SQL Server

_GO = re.compile(r"^[ \t]*GO[ \t]*(?:--.*)?$", re.IGNORECASE | re.MULTILINE)


def split_batches(sql: str) -> Iterator[str]:
    """Split a T-SQL script on its GO separators (a client-side convention, not T-SQL)."""
    for batch in _GO.split(sql):
        if batch.strip() and not all(line.strip().startswith("--") or not line.strip() for line in batch.splitlines()):
            yield batch.strip() + "\n"


NO_TRANSACTION_MARK = "-- deploy: no-transaction"
"""A rendered T-SQL file that opens with this line runs with autocommit (CREATE/ALTER DATABASE refuse transactions)."""


def set_autocommit(conn: Any, on: bool) -> None:
    """Switch autocommit on a DB-API connection: pymssql has a method, pytds and pyodbc a property."""
    current = getattr(conn, "autocommit", None)
    if callable(current):
        current(on)
    else:
        conn.autocommit = on


def apply_tsql_file(conn: Any, store: str, rel: str, root: Path = ROOT) -> FileResult:
    """Apply one rendered T-SQL file batch by batch inside one transaction (DB-API connection).

    Files marked with NO_TRANSACTION_MARK run batch by batch with autocommit; each of their statements is
    guarded, so a failure part-way is fixed by running the file again.
    """
    path = root / rel
    sql = path.read_text(encoding="utf-8")
    digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
    transactional = NO_TRANSACTION_MARK not in sql.splitlines()
    started = time.perf_counter()
    if not transactional:
        set_autocommit(conn, True)
    cur = conn.cursor()
    try:
        for batch in split_batches(sql):
            cur.execute(batch)
            # Drain every result of the batch: some drivers (pytds) report an error in a later statement only
            # when its result is read, and would otherwise drop it silently on the next execute.
            while cur.nextset():
                pass
        if transactional:
            conn.commit()
    except Exception as exc:
        if transactional:
            conn.rollback()
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeployError(f"{store}: {rel}: {detail}") from exc
    finally:
        cur.close()
        if not transactional:
            set_autocommit(conn, False)
    return FileResult(store, rel, digest, True, int((time.perf_counter() - started) * 1000))
