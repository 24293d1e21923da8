"""Helpers of the PromptCrm integration tests: the test deployment's secrets, the deploy, scripts, and the scenarios.

Every name the SQL Server tests use comes from the rendered files: procedure parameters are read from
sql/crm/050_functions.sql (a call with a parameter the procedure does not declare fails before anything is sent),
the demo rows from the result set of sql/crm/scripts/ops_02_concurrency_demo_setup.sql.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from generators import scenarios as sc
from generators.deploy import ROOT, FileResult, secret_names, store_files
from generators.model import StoreModel, load_model
from generators.tsql_script import STORE_URL_VARS, BatchResult, run_script
from tests.integration.mssql_support import deploy_store, run, url_or_none

CRM_ENV_VAR = STORE_URL_VARS["crm"]
CRM_SKIP_REASON = (
    "PROMPTSALES_CRM_URL is not set: no SQL Server to test against"
    " (the T-SQL is checked by the tsql grammar gate); set it to mssql://user:password@host:1433/PromptCrm"
)
FUNCTIONS_FILE = "sql/crm/050_functions.sql"
SCRIPTS_DIR = "sql/crm/scripts"


def crm_url_or_none() -> str | None:
    return url_or_none(CRM_ENV_VAR)


@functools.cache
def crm_model() -> StoreModel:
    return load_model(ROOT / "model" / "crm.yaml", root=ROOT)


# --------------------------------------------------------------------------- secrets of the test deployment


@dataclass(frozen=True)
class DeploySecrets:
    """The values the deploy files ask for (`-- deploy: secrets`); never shown: repr hides them."""

    values: Mapping[str, str] = field(repr=False)
    generated: frozenset[str]
    """Names that were not in the environment, so this test run made them up."""


def _generated_secret() -> str:
    # 48 random URL-safe characters (288 bits) plus one of each character class: SQL Server's password policy
    # wants three of four classes, and the HMAC secret must be 32 to 64 bytes (52 ASCII bytes here).
    return secrets.token_urlsafe(36) + "-Aa1"


def deploy_secrets(environ: Mapping[str, str] | None = None) -> DeploySecrets:
    """Each secret the crm deploy files declare: from the environment when set, otherwise random for this run."""
    environ = os.environ if environ is None else environ
    names: list[str] = []
    for rel in store_files("crm"):
        for name, _ in secret_names((ROOT / rel).read_text(encoding="utf-8")):
            if name not in names:
                names.append(name)
    values = {name: environ.get(name) or _generated_secret() for name in names}
    return DeploySecrets(values, frozenset(name for name in names if not environ.get(name)))


def deployed_hmac_key_exists(conn: Any) -> bool:
    """True when the server's PromptCrm already holds the national-ID HMAC key of an earlier deployment."""
    model = crm_model()
    assert model.encryption is not None and model.encryption.hmac is not None
    database, table, key = model.database, model.encryption.hmac.key_table, model.encryption.hmac.key_name
    # Dynamic SQL: a three-part name of a database that does not exist fails the whole batch at compile time.
    sets = run(
        conn,
        f"""
        SET NOCOUNT ON;
        IF DB_ID(N'{database}') IS NOT NULL AND OBJECT_ID(N'{database}.{table}', N'U') IS NOT NULL
            EXEC (N'SELECT COUNT(*) FROM {database}.{table} WHERE key_name = ''{key}'';');
        ELSE
            SELECT 0;
        """,
    )
    return bool(sets and sets[-1] and sets[-1][0][0])


def stale_hmac_key_message() -> str:
    model = crm_model()
    assert model.encryption is not None and model.encryption.hmac is not None
    name = model.encryption.hmac.secret
    return (
        f"{model.database} on this server already holds an HMAC key from an earlier deployment, and {name} is not"
        f" set: a random one would be refused (error 55015). Set {name} to the secret that deployment used, or"
        f" drop the {model.database} database of this test server, and run again"
    )


def deploy_crm(connect: Callable[..., Any], deploy_env: DeploySecrets) -> list[FileResult]:
    return deploy_store(connect, "crm", env=deploy_env.values)


def catalog_sql() -> str:
    """Object counts a re-deploy must leave as they are: per schema and type, indexes, keys, roles, rows."""
    model = crm_model()
    assert model.encryption is not None and model.encryption.hmac is not None
    hmac_table, backup_cert = model.encryption.hmac.key_table, model.encryption.server_certificate.name
    schemas = ", ".join(f"N'{s.name}'" for s in model.schemas)
    return f"""
SET NOCOUNT ON;
SELECT s.name, o.type, COUNT(*) FROM sys.objects AS o JOIN sys.schemas AS s ON s.schema_id = o.schema_id
WHERE s.name IN ({schemas}) GROUP BY s.name, o.type
UNION ALL SELECT N'indexes', N'', COUNT(*) FROM sys.indexes AS i JOIN sys.objects AS o ON o.object_id = i.object_id
WHERE SCHEMA_NAME(o.schema_id) IN ({schemas}) AND i.name IS NOT NULL
UNION ALL SELECT N'partition boundaries', N'', COUNT(*) FROM sys.partition_range_values
UNION ALL SELECT N'certificates', N'', COUNT(*) FROM sys.certificates
UNION ALL SELECT N'symmetric keys', N'', COUNT(*) FROM sys.symmetric_keys
UNION ALL SELECT N'roles', N'', COUNT(*) FROM sys.database_principals WHERE type = 'R' AND is_fixed_role = 0
UNION ALL SELECT N'permissions', N'', COUNT(*) FROM sys.database_permissions
UNION ALL SELECT N'extended properties', N'', COUNT(*) FROM sys.extended_properties
UNION ALL SELECT N'hmac keys', N'', COUNT(*) FROM {hmac_table}
UNION ALL SELECT N'lead_sources', N'', COUNT(*) FROM crm.lead_sources
UNION ALL SELECT N'markets', N'', COUNT(*) FROM crm.markets
UNION ALL SELECT N'backup certificate', N'', COUNT(*) FROM master.sys.certificates WHERE name = N'{backup_cert}'
ORDER BY 1, 2;
"""


# --------------------------------------------------------------------------- procedures, as rendered


@functools.cache
def procedure_parameters(rel: str = FUNCTIONS_FILE) -> dict[str, tuple[str, ...]]:
    """schema.procedure -> its parameter names, read from the rendered CREATE OR ALTER PROCEDURE headers."""
    text = (ROOT / rel).read_text(encoding="utf-8")
    found = {}
    for match in re.finditer(r"^CREATE OR ALTER PROCEDURE (\w+\.\w+)\n((?:    @\w+ [^\n]*\n)*)", text, re.MULTILINE):
        found[match[1]] = tuple(re.findall(r"^    (@\w+) ", match[2], re.MULTILINE))
    return found


def exec_sql(procedure: str, **params: Any) -> tuple[str, tuple[Any, ...]]:
    """`EXEC procedure @Name = %s, ...` and its values; refuses names 050_functions.sql does not declare."""
    known = procedure_parameters()
    if procedure not in known:
        raise KeyError(f"{FUNCTIONS_FILE} creates no procedure {procedure} (it has: {', '.join(sorted(known))})")
    unknown = [f"@{name}" for name in params if f"@{name}" not in known[procedure]]
    if unknown:
        raise KeyError(f"{procedure} declares no {', '.join(unknown)} (it has: {', '.join(known[procedure])})")
    assignments = ", ".join(f"@{name} = %s" for name in params)
    return f"SET NOCOUNT ON; EXEC {procedure} {assignments};", tuple(params.values())


def exec_step(procedure: str, *, label: str | None = None, **params: Any) -> sc.Step:
    sql, values = exec_sql(procedure, **params)
    return sc.execute(sql, values, label=label or f"EXEC {procedure}")


# --------------------------------------------------------------------------- scripts


def script_path(name: str) -> str:
    rel = f"{SCRIPTS_DIR}/{name}.sql"
    assert (ROOT / rel).is_file(), f"{rel} is not rendered (is {name} in model/crm.yaml scripts?)"
    return rel


def run_crm_script(conn: Any, name: str, env: Mapping[str, str] | None = None) -> list[BatchResult]:
    rel = script_path(name)
    return run_script(conn, (ROOT / rel).read_text(encoding="utf-8"), rel, env=env)


LINKED_SERVER_REQUIRED = ("PROMPTADS_LINKED_DATASRC", "PROMPTADS_LINKED_PASSWORD")


# --------------------------------------------------------------------------- the demo rows


@dataclass(frozen=True)
class DemoRows:
    """The rows ops_02_concurrency_demo_setup creates, as its first result set lists them (role -> sale)."""

    client_id: int
    sale_ids: Mapping[str, int]
    campaign_ids: Mapping[str, int]
    quantities: Mapping[str, int]
    amounts: Mapping[str, Decimal]


DEMO_COLUMNS = ("role", "sale_id", "campaign_id", "quantity", "amount_usd")


def demo_rows_from(results: list[BatchResult]) -> tuple[str, ...] | None:
    """Find the setup script's result set of demo rows; returns its roles (None when it is missing)."""
    table = _demo_table(results)
    return tuple(str(row[0]) for row in table) if table is not None else None


def _demo_table(results: list[BatchResult]) -> list[tuple[Any, ...]] | None:
    for result in results:
        for columns, rows in result.result_sets:
            if tuple(c.lower() for c in columns[: len(DEMO_COLUMNS)]) == DEMO_COLUMNS:
                return rows
    return None


def reset_demo_rows(conn: Any) -> DemoRows:
    """Run the setup script (it puts the demo rows back to their starting values) and read what it created."""
    table = _demo_table(run_crm_script(conn, "ops_02_concurrency_demo_setup"))
    assert table, "ops_02_concurrency_demo_setup returned no (role, sale_id, campaign_id, quantity, amount_usd) rows"
    sale_ids = {str(r[0]): int(r[1]) for r in table}
    # The buyer of the demo sales is the demo client; the script lists sales, so ask one of them who bought it.
    client_id = run(
        conn, "SET NOCOUNT ON; SELECT client_id FROM sales.sales WHERE sale_id = %s;", (sale_ids["dirty_read"],)
    )[0][0][0]
    return DemoRows(
        client_id=int(client_id),
        sale_ids=sale_ids,
        campaign_ids={str(r[0]): int(r[2]) for r in table},
        quantities={str(r[0]): int(r[3]) for r in table},
        amounts={str(r[0]): Decimal(r[4]) for r in table},
    )


# --------------------------------------------------------------------------- the concurrency scenarios

PAUSE_SECONDS = 3
"""The procedures' @PauseSeconds: the race window; the second session starts LAG seconds into it."""
LAG = 1.0


def lost_update(demo: DemoRows, variant: str) -> sc.Scenario:
    procedure = f"ops.CRMSP_AddSaleUnits{variant}"
    sale = demo.sale_ids["lost_update"]
    return sc.Scenario(
        f"lost update ({variant.lower()})",
        sessions=[
            sc.Session(
                "agent 1",
                [
                    sc.barrier("start"),
                    exec_step(
                        procedure,
                        label="add 2 units",
                        SaleId=sale,
                        AddedUnits=2,
                        AddedAmountUsd=Decimal("20.00"),
                        PauseSeconds=PAUSE_SECONDS,
                    ),
                ],
            ),
            sc.Session(
                "agent 2",
                [
                    sc.barrier("start"),
                    sc.pause(LAG),
                    exec_step(
                        procedure,
                        label="add 3 units",
                        SaleId=sale,
                        AddedUnits=3,
                        AddedAmountUsd=Decimal("30.00"),
                        PauseSeconds=PAUSE_SECONDS,
                    ),
                ],
            ),
        ],
        final_query="SELECT quantity, amount_usd FROM sales.sales WHERE sale_id = %s",
        final_params=(sale,),
    )


DIRTY_AMOUNT = Decimal("5000.00")


def dirty_read(demo: DemoRows, variant: str) -> sc.Scenario:
    campaign = demo.campaign_ids["dirty_read"]
    return sc.Scenario(
        f"dirty read ({variant.lower()})",
        sessions=[
            sc.Session(
                "writer",
                [
                    sc.barrier("start"),
                    exec_step(
                        "ops.CRMSP_RecordSale",
                        label="record a sale, then decline it",
                        ClientId=demo.client_id,
                        CampaignId=campaign,
                        ChannelCode="email",
                        AmountUsd=DIRTY_AMOUNT,
                        PauseSeconds=PAUSE_SECONDS,
                        PaymentDeclined=True,
                    ),
                ],
            ),
            sc.Session(
                "report",
                [
                    sc.barrier("start"),
                    sc.pause(LAG),
                    exec_step(f"ops.CRMSP_GetCampaignSales{variant}", label="read the total", CampaignId=campaign),
                ],
            ),
        ],
        final_query="SELECT COUNT(*) AS sales_count, SUM(amount_usd) AS sales_usd FROM sales.sales"
        " WHERE campaign_id = %s",
        final_params=(campaign,),
    )


def incorrect_summary(demo: DemoRows, variant: str) -> sc.Scenario:
    first, second = demo.campaign_ids["summary_stays"], demo.campaign_ids["summary_second"]
    return sc.Scenario(
        f"incorrect summary ({variant.lower()})",
        sessions=[
            sc.Session(
                "report",
                [
                    sc.barrier("start"),
                    exec_step(
                        f"ops.CRMSP_SummarizeCampaignSales{variant}",
                        label="sum both campaigns",
                        FirstCampaignId=first,
                        SecondCampaignId=second,
                        PauseSeconds=PAUSE_SECONDS,
                    ),
                ],
            ),
            sc.Session(
                "correction",
                [
                    sc.barrier("start"),
                    sc.pause(LAG),
                    exec_step(
                        "ops.CRMSP_ReattributeSale",
                        label="move the 50.00 sale",
                        SaleId=demo.sale_ids["summary_moves"],
                        ToCampaignId=second,
                    ),
                ],
            ),
        ],
        final_query="SELECT campaign_id, SUM(amount_usd) AS sales_usd FROM sales.sales WHERE campaign_id IN (%s, %s)"
        " GROUP BY campaign_id ORDER BY campaign_id",
        final_params=(first, second),
    )


TRANSFER_AMOUNT = Decimal("10.00")
TRANSFERS = (
    ("a->b", "transfer_a", "transfer_b"),
    ("b->c", "transfer_b", "transfer_c"),
    ("c->a", "transfer_c", "transfer_a"),
)
"""The three transfers of the cascade, as the setup script's commands run them; c->a has LOW deadlock priority."""


def cascading_deadlock(demo: DemoRows, variant: str, pause_seconds: int = 2) -> sc.Scenario:
    procedure = f"ops.CRMSP_TransferSaleAmount{variant}"
    sessions = []
    for name, debited, credited in TRANSFERS:
        # As in the demo's window 3: the engine then picks this transfer as the victim, so the outcome is known.
        priority = [sc.execute("SET DEADLOCK_PRIORITY LOW;")] if name == "c->a" else []
        sessions.append(
            sc.Session(
                name,
                [
                    *priority,
                    sc.barrier("start"),
                    exec_step(
                        procedure,
                        label=f"transfer {name}",
                        FromSaleId=demo.sale_ids[debited],
                        ToSaleId=demo.sale_ids[credited],
                        AmountUsd=TRANSFER_AMOUNT,
                        PauseSeconds=pause_seconds,
                    ),
                ],
            )
        )
    ids = tuple(demo.sale_ids[role] for role in ("transfer_a", "transfer_b", "transfer_c"))
    return sc.Scenario(
        f"cascading deadlock of three ({variant.lower()})",
        sessions=sessions,
        final_query="SELECT sale_id, amount_usd FROM sales.sales WHERE sale_id IN (%s, %s, %s) ORDER BY sale_id",
        final_params=ids,
    )


SCENARIOS: dict[str, Callable[[DemoRows, str], sc.Scenario]] = {
    "lost update": lost_update,
    "dirty read": dirty_read,
    "incorrect summary": incorrect_summary,
    "cascading deadlock": cascading_deadlock,
}
