"""Apply the rendered SQL of a store, file by file in manifest order, idempotently and with a ledger."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
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


SECRETS_MARK = "-- deploy: secrets"
"""A rendered T-SQL file lists the environment variables it needs on this line (`NAME?` = optional).

The values go into the session context (sys.sp_set_session_context, sent as parameters), where the T-SQL reads
them with SESSION_CONTEXT(N'NAME'); they never appear in a rendered file, a statement text or a log line."""

_SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,127}\??$")


def secret_names(sql: str) -> list[tuple[str, bool]]:
    """The (name, required) pairs a file declares on its `-- deploy: secrets` lines, in order, without repeats."""
    names: list[tuple[str, bool]] = []
    for line in sql.splitlines():
        if not line.startswith(SECRETS_MARK):
            continue
        for word in line[len(SECRETS_MARK) :].split():
            if not _SECRET_NAME.match(word):
                raise DeployError(f"invalid name {word!r} on a {SECRETS_MARK!r} line (upper case, digits, _)")
            entry = (word.rstrip("?"), not word.endswith("?"))
            if entry[0] not in {n for n, _ in names}:
                names.append(entry)
    return names


def session_secrets(sql: str, env: Mapping[str, str], where: str) -> dict[str, str]:
    """The declared values from `env`; a missing required one is a DeployError naming every missing variable."""
    names = secret_names(sql)
    missing = [name for name, required in names if required and not env.get(name)]
    if missing:
        raise DeployError(
            f"{where}: needs the environment variable(s) {', '.join(missing)} (the values are never stored in the"
            " repository: set them from your secret store, e.g. a Kubernetes Secret, and run again)"
        )
    return {name: env[name] for name, _ in names if env.get(name)}


def set_session_context(cur: Any, values: Mapping[str, str | None]) -> None:
    """Put each value into the session context under its name (None clears it); values travel as parameters."""
    for name, value in values.items():
        cur.execute("EXEC sys.sp_set_session_context @key = %s, @value = %s;", (name, value))


def set_autocommit(conn: Any, on: bool) -> None:
    """Switch autocommit on a DB-API connection: pymssql has a method, pytds and pyodbc a property."""
    current = getattr(conn, "autocommit", None)
    if callable(current):
        current(on)
    else:
        conn.autocommit = on


def apply_tsql_file(
    conn: Any, store: str, rel: str, root: Path = ROOT, env: Mapping[str, str] | None = None
) -> FileResult:
    """Apply one rendered T-SQL file batch by batch inside one transaction (DB-API connection).

    Files marked with NO_TRANSACTION_MARK run batch by batch with autocommit; each of their statements is
    guarded, so a failure part-way is fixed by running the file again. The secrets a file declares
    (SECRETS_MARK) are read from `env` (the process environment by default) before anything is sent, put into
    the session context for the file's batches, and cleared again afterwards, whatever happened.
    """
    path = root / rel
    sql = path.read_text(encoding="utf-8")
    digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
    secrets = session_secrets(sql, os.environ if env is None else env, f"{store}: {rel}")
    transactional = NO_TRANSACTION_MARK not in sql.splitlines()
    started = time.perf_counter()
    if not transactional:
        set_autocommit(conn, True)
    cur = conn.cursor()
    try:
        set_session_context(cur, secrets)
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
        # After a rollback too: the session (and a pooled connection) must not keep a secret. A broken
        # connection takes its session context with it.
        with contextlib.suppress(Exception):
            set_session_context(cur, dict.fromkeys(secrets))
            if transactional and secrets:
                conn.commit()
        cur.close()
        if not transactional:
            set_autocommit(conn, False)
    return FileResult(store, rel, digest, True, int((time.perf_counter() - started) * 1000))
