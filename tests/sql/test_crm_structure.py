"""PromptCrm T-SQL, structurally: the key hierarchy, encryption calls, indexed views and the procedures' skeleton.

No SQL Server runs here: the grammar gate proves every batch parses (tests/sql/test_tsql_gate.py); these tests
read what the rendered files do - through sqlfluff's parse tree where a construct must be SQL, not a comment.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

from generators.model import StoreModel, load_model
from tests.sql.tsql_tree import arguments, code, crawl, functions, ordered, procedures, tree_of_text

ROOT = Path(__file__).resolve().parents[2]
CRM = ROOT / "sql" / "crm"
MANIFEST = json.loads((ROOT / "sql" / "manifest.json").read_text(encoding="utf-8"))["stores"]["crm"]
# The PromptCrm tables the delta ETL reads (docs/crm.md, "What feeds PromptSales").
ETL_SOURCES = ["crm.clients", "crm.client_campaigns", "sales.sales"]
ANOMALIES = ["AddSaleUnits", "GetCampaignSales", "SummarizeCampaignSales", "TransferSaleAmount"]


@pytest.fixture(scope="module")
def model() -> StoreModel:
    return load_model(ROOT / "model" / "crm.yaml", root=ROOT)


@pytest.fixture(scope="module")
def functions_sql() -> str:
    return (CRM / "050_functions.sql").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def procs(functions_sql: str) -> dict[str, str]:
    return procedures(functions_sql)


def code_lines(text: str) -> list[str]:
    """The lines that carry SQL (comments and blank lines dropped)."""
    return [line for line in text.splitlines() if line.strip() and not line.strip().startswith("--")]


# --------------------------------------------------------------------------- deploy order and scope


def test_manifest_deploys_crm_in_kind_order_with_server_security_in_master() -> None:
    names = [Path(p).name for p in MANIFEST["deploy"]]
    assert names == [
        "005_database.sql",
        "007_server_security.sql",
        "010_schemas.sql",
        "012_partitions.sql",
        "020_tables.sql",
        "030_foreign_keys.sql",
        "040_indexes.sql",
        "045_security.sql",
        "050_functions.sql",
        "070_roles.sql",
        "080_grants.sql",
        "090_reference_data.sql",
    ]
    server = (CRM / "007_server_security.sql").read_text()
    assert "USE PromptCrm;" not in server and "\nUSE master;\nGO\n" in server
    for name in names[2:]:
        assert (CRM / name).read_text().split("\n\n", 1)[1].startswith("USE PromptCrm;\nGO\n"), name
    # Key DDL cannot run inside a user transaction in a useful way (and CREATE DATABASE refuses one).
    for name in ("005_database.sql", "007_server_security.sql", "045_security.sql"):
        assert "-- deploy: no-transaction" in (CRM / name).read_text().splitlines(), name


@pytest.mark.parametrize("qualified", ETL_SOURCES)
def test_every_etl_source_has_a_rowversion_and_an_index_leading_on_it(model: StoreModel, qualified: str) -> None:
    table = model.table_map[qualified]
    assert [c.name for c in table.columns if c.type.lower() == "rowversion"] == ["row_ver"]
    leading = [i for i in table.indexes if i.columns[0] == "row_ver"]
    assert len(leading) == 1
    assert re.search(
        rf"CREATE NONCLUSTERED INDEX {leading[0].name}\s+ON {re.escape(qualified)} \(row_ver\)",
        (CRM / "040_indexes.sql").read_text(),
    )


def test_the_large_fact_tables_are_partitioned_by_month(model: StoreModel) -> None:
    (part,) = model.partitions
    assert len(part.boundaries) == 30 and part.boundaries[0] == "2024-07-01" and part.boundaries[-1] == "2026-12-01"
    tables = (CRM / "020_tables.sql").read_text()
    for qualified, column in (("sales.sales", "sale_date"), ("crm.interactions", "occurred_on")):
        assert model.table_map[qualified].partition_by is not None
        body = tables[tables.index(f"CREATE TABLE {qualified} (") :]
        assert re.match(rf"(?s)CREATE TABLE {re.escape(qualified)} \(.*?\) ON {part.scheme} \({column}\);", body)


# --------------------------------------------------------------------------- encryption


def test_the_key_hierarchy_is_master_key_then_certificate_then_aes_256_key(model: StoreModel) -> None:
    enc = model.encryption
    assert enc is not None
    security = (CRM / "045_security.sql").read_text()
    ordered(
        security,
        r"SESSION_CONTEXT\(N'" + enc.database_master_key.password_secret + r"'\)",
        r"CREATE MASTER KEY ENCRYPTION BY PASSWORD = N''' \+ REPLACE\(@Password",
        rf"CREATE CERTIFICATE {enc.certificate.name}\n",
        rf"CREATE SYMMETRIC KEY {enc.symmetric_key.name}\n\s+WITH ALGORITHM = AES_256\n"
        rf"\s+ENCRYPTION BY CERTIFICATE {enc.certificate.name};",
    )
    # No KEY_SOURCE / IDENTITY_VALUE: the key material is random and exists only inside this database.
    assert "KEY_SOURCE" not in "\n".join(code_lines(security))
    server = (CRM / "007_server_security.sql").read_text()
    assert f"CREATE CERTIFICATE {enc.server_certificate.name}\n" in server


def test_every_encryption_uses_the_certificate_protected_key_with_an_authenticator(model: StoreModel) -> None:
    """ENCRYPTBYKEY(KEY_GUID(key), clear, 1, client id) and DECRYPTBYKEYAUTOCERT(CERT_ID(cert), NULL, ..., 1, id)."""
    enc = model.encryption
    assert enc is not None
    encrypts = decrypts = 0
    for path in [*sorted(CRM.glob("*.sql")), *sorted((CRM / "scripts").glob("*.sql"))]:
        text = path.read_text()
        if "ENCRYPTBYKEY" not in text and "DECRYPTBYKEY" not in text:
            continue
        tree = tree_of_text(text, path.name)
        for call in functions(tree, "ENCRYPTBYKEY"):
            args = arguments(call)
            assert args[0] == f"KEY_GUID ( N'{enc.symmetric_key.name.upper()}' )", f"{path.name}: {args}"
            assert len(args) == 4 and args[2] == "1", f"{path.name}: ENCRYPTBYKEY without an authenticator: {args}"
            encrypts += 1
        for call in functions(tree, "DECRYPTBYKEYAUTOCERT"):
            args = arguments(call)
            assert args[0] == f"CERT_ID ( N'{enc.certificate.name.upper()}' )", f"{path.name}: {args}"
            assert args[1] == "NULL" and len(args) == 5 and args[3] == "1", f"{path.name}: {args}"
            decrypts += 1
    assert encrypts >= 3 and decrypts >= 4


def test_sensitive_columns_exist_only_encrypted(model: StoreModel) -> None:
    clients = model.table_map["crm.clients"]
    assert clients.column("national_id") is None and clients.column("context") is None
    enc_national = clients.column("national_id_enc")
    enc_context = clients.column("context_enc")
    hmac = clients.column("national_id_hmac")
    assert enc_national is not None and enc_national.type.startswith("varbinary")
    assert enc_context is not None and enc_context.type.startswith("varbinary")
    assert hmac is not None and hmac.type == "binary(32)"
    # One client per national ID, enforced on the HMAC (the ciphertext is randomized, so it cannot be unique).
    assert ["national_id_hmac"] in clients.unique


def test_only_the_decrypt_roles_get_the_key_permissions(model: StoreModel) -> None:
    enc = model.encryption
    assert enc is not None
    rendered = "\n".join(code_lines("".join(p.read_text() for p in sorted(CRM.glob("*.sql")))))
    cert_grants = re.findall(rf"GRANT CONTROL ON CERTIFICATE::{enc.certificate.name} TO (\w+);", rendered)
    key_grants = re.findall(rf"GRANT VIEW DEFINITION ON SYMMETRIC KEY::{enc.symmetric_key.name} TO (\w+);", rendered)
    assert cert_grants == key_grants == enc.decrypt_roles == ["crm_pii_reader"]
    assert "TO crm_app" not in "\n".join(ln for ln in rendered.splitlines() if "CERTIFICATE::" in ln or "KEY::" in ln)


def test_no_rendered_file_carries_a_password_literal() -> None:
    """A PASSWORD = is a parameter or fed from the session context through dynamic SQL, never a literal."""
    found = 0
    for path in sorted((ROOT / "sql").rglob("*.sql")):
        for line in code_lines(path.read_text()):
            for match in re.finditer(r"PASSWORD\s*=\s*(N?'.{0,24})", line, re.I):
                found += 1
                assert match.group(1).startswith("N''' + REPLACE(@"), f"{path.relative_to(ROOT)}: {line.strip()}"
    assert found >= 2


# --------------------------------------------------------------------------- indexed views


def test_the_analytics_views_are_indexed_views(model: StoreModel, functions_sql: str) -> None:
    views = [r for r in model.routines if r.schema_ == "rpt" and r.kind == "view"]
    assert len(views) >= 2
    tree = tree_of_text(functions_sql, "050_functions.sql")
    created = {code(s).split(" AS ", 1)[0]: s for s in crawl(tree, "create_view_statement")}
    for view in views:
        (statement,) = [
            s for name, s in created.items() if name.endswith(f"VIEW {view.qualified.upper()} WITH SCHEMABINDING")
        ]
        body = code(statement)
        assert "COUNT_BIG ( * )" in body and " GROUP BY " in body, view.qualified
        # Schema-bound views must name their tables with two parts.
        tables = {code(r).lower() for r in statement.recursive_crawl("table_reference")}
        assert tables and all(t.count(".") == 1 for t in tables), tables
        assert re.search(
            rf"CREATE UNIQUE CLUSTERED INDEX cx_{view.name}\n\s+ON {re.escape(view.qualified)} \(", functions_sql
        ), view.qualified
    # The SET options an indexed view needs precede the first index on a view.
    first_index = functions_sql.index("CREATE UNIQUE CLUSTERED INDEX")
    for option in ("ANSI_NULLS ON", "QUOTED_IDENTIFIER ON", "ARITHABORT ON", "NUMERIC_ROUNDABORT OFF"):
        assert functions_sql.rfind(f"SET {option};", 0, first_index) > 0, option


# --------------------------------------------------------------------------- procedures


def test_crmsp_write_log_never_touches_the_transaction(procs: dict[str, str]) -> None:
    body = "\n".join(code_lines(procs["ops.CRMSP_WriteLog"]))
    assert "INSERT INTO ops.log" in body
    assert not re.search(r"\b(BEGIN TRAN|COMMIT|ROLLBACK|SAVE TRAN)", body, re.I)


def transactional(procs: dict[str, str]) -> dict[str, str]:
    return {name: body for name, body in procs.items() if "BEGIN TRANSACTION" in body}


def test_every_transactional_crm_procedure_follows_the_course_skeleton(procs: dict[str, str]) -> None:
    checked = transactional(procs)
    assert len(checked) >= 9
    for name, body in checked.items():
        header = body.split("CREATE OR ALTER PROCEDURE", 1)[0]
        for field in ("Author:", "Created:", "Description:", "Parameters:"):
            assert f"-- {field}" in header, name
        ordered(
            body,
            r"^    SET NOCOUNT ON;",
            r"^    DECLARE @StartedTransaction BIT = 0;",
            r"^    BEGIN TRY",
            r"^        IF @@TRANCOUNT = 0\n        BEGIN\n            SET @StartedTransaction = 1;",
            r"SET TRANSACTION ISOLATION LEVEL [A-Z ]+;\n            BEGIN TRANSACTION;",
            r"^        IF @StartedTransaction = 1\n            COMMIT TRANSACTION;",
            r"^    BEGIN CATCH",
            r"SET @ErrorNumber = ERROR_NUMBER\(\);",
            r"IF @StartedTransaction = 1 AND XACT_STATE\(\) <> 0\n\s+ROLLBACK TRANSACTION;",
            r"EXEC ops\.CRMSP_WriteLog",
            r"THROW @CustomError, @ErrorMessage, 1;",
            r"^    END CATCH;",
        )


def test_each_procedure_raises_its_own_error_numbers(procs: dict[str, str]) -> None:
    owners: dict[int, str] = {}
    for name, body in transactional(procs).items():
        numbers = {int(n) for n in re.findall(r"THROW (\d{5}),", body)}
        numbers |= {int(n) for n in re.findall(r"SET @CustomError = (\d{5});", body)}
        for number in numbers:
            assert number not in owners, f"{name} reuses {number} of {owners.get(number)}"
            owners[number] = name
    assert len(owners) >= 20


def normalized_pair(procs: dict[str, str], anomaly: str) -> list[str]:
    """The code lines in which the Fixed procedure differs from the Unsafe one, names and error numbers aside."""

    def norm(name: str) -> list[str]:
        text = procs[f"ops.CRMSP_{anomaly}{name}"].replace(f"CRMSP_{anomaly}{name}", "CRMSP_X")
        return [re.sub(r"\b5\d{4}\b", "5xxxx", line) for line in code_lines(text)]

    diff = difflib.unified_diff(norm("Unsafe"), norm("Fixed"), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize(
    ("anomaly", "fix"),
    [
        ("AddSaleUnits", [r"^\+\s+FROM sales\.sales AS s WITH \(UPDLOCK\)$"]),
        ("GetCampaignSales", [r"^\+\s+SET TRANSACTION ISOLATION LEVEL READ COMMITTED;$"]),
        (
            "SummarizeCampaignSales",
            [
                r"^\+\s+SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;$",
                r"^\+\s+FROM sales\.sales AS s WITH \(TABLOCK\)$",
            ],
        ),
        ("TransferSaleAmount", [r"^\+\s+DECLARE @LowerSaleId BIGINT = IIF\(@FromSaleId < @ToSaleId"]),
    ],
)
def test_the_fixed_procedure_differs_from_the_unsafe_one_only_by_the_fix(
    procs: dict[str, str], anomaly: str, fix: list[str]
) -> None:
    """Same parameters, same work; the diff is the fix (a lock hint, an isolation level, a lock order)."""
    changed = normalized_pair(procs, anomaly)
    for pattern in fix:
        assert any(re.match(pattern, line) for line in changed), f"{anomaly}: fix {pattern} missing in {changed}"
    # Only the fix and the lines describing the isolation level in results differ: a handful of lines.
    assert len(changed) <= 14, changed
    params = [
        re.findall(
            r"^    (@\w+ [\w(), ]+?)(?: = [^,\n]+)?,?$", procs[f"ops.CRMSP_{anomaly}{v}"].split("AS\nBEGIN")[0], re.M
        )
        for v in ("Unsafe", "Fixed")
    ]
    assert params[0] == params[1] and params[0]
    assert any(p.startswith("@PauseSeconds INT") for p in params[0])
