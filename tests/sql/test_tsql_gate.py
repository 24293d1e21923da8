"""The T-SQL gate: every rendered batch parses in full with sqlfluff's tsql grammar, and nothing broken slips by."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generators.deploy import load_manifest, split_batches
from generators.gates import (
    TSQL_PARSE_ALLOWLIST,
    AllowedStatement,
    check_tsql,
    main,
    mask_allowlisted,
    sqlfluff_problems,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "tsql_basic" / "expected"


def tsql_files() -> list[str]:
    """The golden fixture's T-SQL (always there) plus every T-SQL file the manifest lists, deploy and scripts."""
    files = [p.relative_to(ROOT).as_posix() for p in sorted(GOLDEN.glob("*.sql"))]
    for entry in load_manifest(ROOT / "sql" / "manifest.json")["stores"].values():
        if entry["dialect"] == "tsql":
            files.extend([*entry["deploy"], *entry["scripts"]])
    return files


TSQL_FILES = tsql_files()


def test_the_golden_fixture_gives_the_gate_real_batches() -> None:
    batches = [b for rel in TSQL_FILES if rel.startswith("tests/") for b in split_batches((ROOT / rel).read_text())]
    assert len(TSQL_FILES) >= 8
    assert len(batches) >= 15
    assert any("CREATE OR ALTER PROCEDURE shop.SHOPSP_CancelOrder" in b for b in batches)


@pytest.mark.parametrize("rel", TSQL_FILES)
def test_every_rendered_tsql_batch_parses(rel: str) -> None:
    sql = (ROOT / rel).read_text(encoding="utf-8")
    assert list(split_batches(sql)), f"{rel} holds no batch"
    failures = check_tsql(sql, rel)
    assert failures == [], "\n".join(map(str, failures))


# --------------------------------------------------------------------------- broken SQL fails


@pytest.mark.parametrize(
    ("broken", "bad_line"),
    [
        ("CREAT TABLE shop.t (a int);", 4),
        ("CREATE TABLE shop.t (a int;", 4),
        ("IF OBJECT_ID(N'shop.t', N'U') IS NULL\nCREATE TABLE shop.t (a int NOT NULL a);", 4),
        ("SELECT 1 AS ok;\nUPDATE shop.t SET WHERE a = 1;", 5),
        ("IF SCHEMA_ID(N'x') IS NULL\n    EXEC(N'CREATE SCHEMA x AUTHORIZATION');", 5),
        ("EXEC sys.sp_executesql N'SELECT a FROM shop.t WHERE a = (1';", 4),
    ],
)
def test_a_broken_batch_fails_the_gate(broken: str, bad_line: int) -> None:
    sql = f"-- header\nSELECT 1 AS a;\nGO\n{broken}\nGO\nSELECT 2 AS b;\nGO\n"
    failures = check_tsql(sql, "broken.sql")
    assert failures, "the gate let a broken batch through"
    assert {f.file for f in failures} == {"broken.sql"}
    assert {f.where.split(" (")[0] for f in failures} == {"batch 2"}
    assert failures[0].where.startswith(f"batch 2 (line 4: {broken.splitlines()[0][:20]}")
    assert failures[0].message.startswith(f"line {bad_line}: ")


def test_a_broken_golden_file_names_the_batch_and_line() -> None:
    sql = (GOLDEN / "020_tables.sql").read_text()
    broken = sql.replace(
        "    CONSTRAINT pk_orders PRIMARY KEY (order_id),", "    CONSTRAINT pk_orders PRIMARY KEY (order_id", 1
    )
    assert broken != sql
    failures = check_tsql(broken, "020_tables.sql")
    assert len(failures) == 1
    line = broken.splitlines().index("CREATE TABLE shop.orders (") + 1
    assert failures[0].where == f"batch 6 (line {line - 1}: IF OBJECT_ID(N'shop.orders', N'U') IS NULL)"
    assert "unparsable" in failures[0].message


def test_the_command_line_fails_on_a_broken_manifest_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sql" / "shop").mkdir(parents=True)
    for p in GOLDEN.glob("*.sql"):
        (tmp_path / "sql" / "shop" / p.name).write_text(p.read_text())
    bad = tmp_path / "sql" / "shop" / "070_roles.sql"
    bad.write_text(bad.read_text().replace("CREATE ROLE shop_clerk;", "CREATE ROLE;"))
    deploy = [f"sql/shop/{p.name}" for p in sorted(GOLDEN.glob("*.sql"))]
    manifest = {"stores": {"shop": {"dialect": "tsql", "model": "m.yaml", "deploy": deploy, "scripts": []}}}
    (tmp_path / "sql" / "manifest.json").write_text(__import__("json").dumps(manifest))
    assert main(["--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "sql/shop/070_roles.sql: batch 2 (line 10: IF DATABASE_PRINCIPAL_ID(N'shop_reader') IS NULL)"
    )
    assert re.fullmatch(rf"gates: FAILED: {len(deploy)} files, 1 failures in \d+\.\ds", out[-1])


# --------------------------------------------------------------------------- the allowlist

PINNED_ALLOWLIST = [
    "CREATE MASTER KEY",
    "OPEN MASTER KEY",
    "CLOSE MASTER KEY",
    "BACKUP MASTER KEY",
    "CREATE CERTIFICATE",
    "BACKUP CERTIFICATE",
    "CREATE SYMMETRIC KEY",
    "CLOSE SYMMETRIC KEY",
    "CREATE DATABASE ENCRYPTION KEY",
    "BACKUP DATABASE",
    "RESTORE DATABASE",
    "RESTORE FILELISTONLY",
    "EXECUTE AS",
    "REVERT",
]


def test_the_allowlist_is_pinned() -> None:
    """Growing the list is a decision: change this test with it, and say why next to the entry."""
    assert [entry.name for entry in TSQL_PARSE_ALLOWLIST] == PINNED_ALLOWLIST


@pytest.mark.parametrize("entry", TSQL_PARSE_ALLOWLIST, ids=lambda e: e.name)
def test_each_allowlisted_statement_is_really_unparsable_by_sqlfluff(entry: AllowedStatement) -> None:
    """When sqlfluff learns a statement, this fails: take the entry out of TSQL_PARSE_ALLOWLIST."""
    assert re.fullmatch(entry.pattern + r"\s*;", entry.example, re.IGNORECASE)
    assert sqlfluff_problems(entry.example), f"sqlfluff now parses {entry.name}: shrink TSQL_PARSE_ALLOWLIST"


@pytest.mark.parametrize("entry", TSQL_PARSE_ALLOWLIST, ids=lambda e: e.name)
def test_an_allowlisted_statement_passes_alone_and_among_valid_statements(entry: AllowedStatement) -> None:
    assert check_tsql(entry.example + "\n", "alone.sql") == []
    guarded = (
        "-- the key hierarchy, created once\n"
        "IF NOT EXISTS (SELECT 1 FROM sys.certificates WHERE name = N'CrmColumnCert')\n"
        f"BEGIN\n    {entry.example}\n    PRINT N'created';\nEND;\n"
        "SELECT name FROM sys.symmetric_keys;\n"
    )
    assert check_tsql(guarded, "guarded.sql") == []


@pytest.mark.parametrize("entry", TSQL_PARSE_ALLOWLIST, ids=lambda e: e.name)
def test_an_allowlisted_statement_cannot_hide_a_broken_one(entry: AllowedStatement) -> None:
    beside = check_tsql(f"{entry.example}\nCREAT TABLE crm.t (a int);\n", "beside.sql")
    assert [f.message.split(":")[0] for f in beside] == ["line 2"]
    # Glued on before the terminating semicolon, the text no longer matches the strict pattern, so sqlfluff
    # sees all of it (and cannot parse it).
    glued = check_tsql(entry.example[:-1] + " CREAT TABLE crm.t (a int);\n", "glued.sql")
    assert glued, f"{entry.name}: a broken statement glued to an allowlisted one passed"


def test_allowlisted_statements_run_as_dynamic_sql_are_gated_too() -> None:
    ok = "EXEC(N'CREATE CERTIFICATE C WITH SUBJECT = N''c'';');\n"
    assert check_tsql(ok, "dyn.sql") == []
    bad = "EXEC(N'CREATE CERTIFICATE C WITH SUBJEKT = N''c'';');\n"
    assert [f.message.split(":")[1].strip() for f in check_tsql(bad, "dyn.sql")] == ["in the dynamic SQL run by EXEC"]


def test_the_allowlist_ignores_comments_and_string_literals() -> None:
    # Inside a literal the text is data: masking it would change the string, not skip a statement.
    sql = "SELECT N'CLOSE MASTER KEY;' AS s;\n-- CLOSE MASTER KEY;\n"
    assert mask_allowlisted(sql) == sql
    assert check_tsql(sql, "lit.sql") == []
    assert mask_allowlisted("SELECT 1;\nCLOSE MASTER KEY;\n") == "SELECT 1;\nPRINT 0;\n"


def test_a_weak_algorithm_is_not_allowlisted() -> None:
    """The patterns admit only AES keys: a DES key fails the gate instead of reaching the server."""
    failures = check_tsql("CREATE SYMMETRIC KEY k WITH ALGORITHM = DES ENCRYPTION BY CERTIFICATE c;\n", "des.sql")
    assert len(failures) == 1
