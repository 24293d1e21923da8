"""Helpers of the PromptAds integration tests: result sets over pytds, what the rendered files promise, the deploy."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators import ads_client
from generators.deploy import NO_TRANSACTION_MARK, ROOT, FileResult, apply_tsql_file, store_files

ADS_SKIP_REASON = (
    "PROMPTSALES_ADS_URL is not set: no SQL Server to test against"
    " (the T-SQL is checked by the tsql grammar gate); set it to mssql://user:password@host:1433/PromptAds"
)


def ads_url_or_none() -> str | None:
    return os.environ.get(ads_client.ENV_VAR, "").strip() or None


def run(conn: Any, sql: str, params: tuple[Any, ...] | None = None) -> list[list[tuple[Any, ...]]]:
    """Execute one batch and return every result set; draining them all surfaces an error in a later statement.

    pytds stops reading a response at the first result set or row count and cancels the unread rest when the
    next request starts, so a batch whose tail is not read could fail silently. Batches here open with
    SET NOCOUNT ON so that only real result sets stop the reader.
    """
    sets: list[list[tuple[Any, ...]]] = []
    with conn.cursor() as cur:
        if params is None:
            cur.execute(sql)  # no parameters: sent as a plain batch, so a "%" in the text stays as it is
        else:
            cur.execute(sql, params)
        while True:
            if cur.description is not None:
                sets.append([tuple(row) for row in cur.fetchall()])
            if not cur.nextset():
                return sets


def scalar(conn: Any, sql: str, params: tuple[Any, ...] | None = None) -> Any:
    sets = run(conn, "SET NOCOUNT ON;\n" + sql, params)
    assert sets and sets[-1], f"no row from: {sql}"
    return sets[-1][0][0]


# --------------------------------------------------------------------------- what the rendered files promise


@dataclass(frozen=True)
class Expected:
    """Objects the rendered sql/ads files create, read from the files themselves."""

    tables: tuple[str, ...]
    types: tuple[str, ...]
    procedures: tuple[str, ...]
    indexes: tuple[tuple[str, str], ...]
    foreign_keys: tuple[str, ...]
    roles: tuple[str, ...]
    reference_rows: dict[str, tuple[str, int]]
    """table -> (key column, number of rows its MERGE declares)."""


def expected_objects(files: list[str], root: Path = ROOT) -> Expected:
    text = "\n".join((root / rel).read_text(encoding="utf-8") for rel in files)
    reference: dict[str, tuple[str, int]] = {}
    for table, values, columns in re.findall(
        r"^MERGE (\w+\.\w+) AS t\s+USING \(VALUES\n(.*?)\n\) AS s \((.*?)\)", text, re.MULTILINE | re.DOTALL
    ):
        reference[table] = (columns.split(",")[0].strip(), len(re.findall(r"^\s*\(", values, re.MULTILINE)))
    return Expected(
        tables=tuple(re.findall(r"^CREATE TABLE (\w+\.\w+)", text, re.MULTILINE)),
        types=tuple(re.findall(r"^CREATE TYPE (\w+\.\w+) AS TABLE", text, re.MULTILINE)),
        procedures=tuple(re.findall(r"^CREATE OR ALTER PROCEDURE (\w+\.\w+)", text, re.MULTILINE)),
        indexes=tuple(
            (table, name)
            for name, table in re.findall(
                r"CREATE (?:UNIQUE )?(?:NON)?(?:CLUSTERED )?INDEX (\w+)\s+ON (\w+\.\w+)", text, re.MULTILINE
            )
        ),
        foreign_keys=tuple(
            f"{schema}.{name}" for schema, name in re.findall(r"ALTER TABLE (\w+)\.\w+ ADD CONSTRAINT (fk_\w+)", text)
        ),
        roles=tuple(re.findall(r"CREATE ROLE (\w+)", text)),
        reference_rows=reference,
    )


_EXISTS = {
    "table": "OBJECT_ID(%s, 'U')",
    "type": "TYPE_ID(%s)",
    "procedure": "OBJECT_ID(%s, 'P')",
    "foreign key": "OBJECT_ID(%s, 'F')",
    "role": "DATABASE_PRINCIPAL_ID(%s)",
}


def missing_objects(conn: Any, expected: Expected) -> list[str]:
    """What the rendered files create but the database lacks (empty after a complete deploy)."""
    missing = []
    by_kind = {
        "table": expected.tables,
        "type": expected.types,
        "procedure": expected.procedures,
        "foreign key": expected.foreign_keys,
        "role": expected.roles,
    }
    for kind, names in by_kind.items():
        for name in names:
            if scalar(conn, f"SELECT CASE WHEN {_EXISTS[kind]} IS NULL THEN 0 ELSE 1 END", (name,)) != 1:
                missing.append(f"{kind} {name}")
    for table, name in expected.indexes:
        sql = "SELECT COUNT(*) FROM sys.indexes WHERE object_id = OBJECT_ID(%s) AND name = %s"
        if scalar(conn, sql, (table, name)) != 1:
            missing.append(f"index {name} on {table}")
    for table, (_, rows) in expected.reference_rows.items():
        found = scalar(conn, f"SELECT COUNT(*) FROM {table}")
        if found < rows:
            missing.append(f"reference rows of {table}: {found} < {rows}")
    return missing


# --------------------------------------------------------------------------- deploy


def deploy_ads(connect: Callable[..., Any]) -> list[FileResult]:
    """Every sql/ads file in manifest order with apply_tsql_file: the database step on master, the rest in it."""
    results = []
    master = connect(autocommit=False, database="master")
    in_database = None
    for rel in store_files("ads"):
        if NO_TRANSACTION_MARK in (ROOT / rel).read_text(encoding="utf-8").splitlines():
            results.append(apply_tsql_file(master, "ads", rel))
        else:
            # The database exists from here on; every file opens with USE PromptAds anyway.
            in_database = in_database or connect(autocommit=False)
            results.append(apply_tsql_file(in_database, "ads", rel))
    return results


@dataclass(frozen=True)
class Deployment:
    first: list[FileResult]
    second: list[FileResult]
    catalog_after_first: list[tuple[Any, ...]]
    catalog_after_second: list[tuple[Any, ...]]
    sentinel_survived: bool


CATALOG = """
SET NOCOUNT ON;
SELECT s.name, o.type, COUNT(*) FROM sys.objects AS o JOIN sys.schemas AS s ON s.schema_id = o.schema_id
WHERE s.name IN (N'ads', N'perf', N'ops') GROUP BY s.name, o.type
UNION ALL SELECT N'indexes', N'', COUNT(*) FROM sys.indexes AS i JOIN sys.objects AS o ON o.object_id = i.object_id
WHERE SCHEMA_NAME(o.schema_id) IN (N'ads', N'perf', N'ops') AND i.name IS NOT NULL
UNION ALL SELECT N'types', N'', COUNT(*) FROM sys.table_types WHERE SCHEMA_NAME(schema_id) = N'ads'
UNION ALL SELECT N'channels', N'', COUNT(*) FROM ads.channels
UNION ALL SELECT N'markets', N'', COUNT(*) FROM ads.markets
ORDER BY 1, 2;
"""
