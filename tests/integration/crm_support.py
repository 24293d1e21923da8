"""Helpers of the PromptCrm integration tests: the test deployment's secrets, the deploy, scripts, and the scenarios
(defined once, in generators.concurrency_crm, whose command line runs them too).

Every name the SQL Server tests use comes from the rendered files: procedure parameters are read from
sql/crm/050_functions.sql (a call with a parameter the procedure does not declare fails before anything is sent),
the demo rows from the result set of sql/crm/scripts/ops_02_concurrency_demo_setup.sql.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generators.deploy import ROOT, FileResult, secret_names, store_files
from generators.model import StoreModel, load_model
from generators.tsql_script import STORE_URL_VARS, BatchResult, run_script
from tests.integration.mssql_support import deploy_store, run, url_or_none

CRM_ENV_VAR = STORE_URL_VARS["crm"]
CRM_SKIP_REASON = (
    "PROMPTSALES_CRM_URL is not set: no SQL Server to test against"
    " (the T-SQL is checked by the tsql grammar gate); set it to mssql://user:password@host:1433/PromptCrm"
)
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


# --------------------------------------------------------------------------- scripts


def script_path(name: str) -> str:
    rel = f"{SCRIPTS_DIR}/{name}.sql"
    assert (ROOT / rel).is_file(), f"{rel} is not rendered (is {name} in model/crm.yaml scripts?)"
    return rel


def run_crm_script(conn: Any, name: str, env: Mapping[str, str] | None = None) -> list[BatchResult]:
    rel = script_path(name)
    return run_script(conn, (ROOT / rel).read_text(encoding="utf-8"), rel, env=env)


LINKED_SERVER_REQUIRED = ("PROMPTADS_LINKED_DATASRC", "PROMPTADS_LINKED_PASSWORD")
