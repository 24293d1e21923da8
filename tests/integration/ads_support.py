"""Helpers of the PromptAds integration tests: what the rendered files promise, the deploy (shared: mssql_support)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators import ads_client
from generators.deploy import ROOT, FileResult
from tests.integration.mssql_support import Deployment, deploy_store, run, scalar, url_or_none

# The result-set helpers and the deployment record moved to mssql_support (the CRM tests share them); the Ads
# tests keep importing them from here.
__all__ = [
    "ADS_SKIP_REASON",
    "CATALOG",
    "Deployment",
    "Expected",
    "ads_url_or_none",
    "deploy_ads",
    "expected_objects",
    "missing_objects",
    "run",
    "scalar",
]

ADS_SKIP_REASON = (
    "PROMPTSALES_ADS_URL is not set: no SQL Server to test against"
    " (the T-SQL is checked by the tsql grammar gate); set it to mssql://user:password@host:1433/PromptAds"
)


def ads_url_or_none() -> str | None:
    return url_or_none(ads_client.ENV_VAR)


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
    return deploy_store(connect, "ads")


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
