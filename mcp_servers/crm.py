"""The PromptCrm MCP server ("promptsales-crm"): read-only sales figures and a masked client view over SQL Server.

Tools (all read-only, cached per data version, rate-limited per client):

- `sales_summary` - sales per campaign from sales.sales (count, buyers, units, amount, average, first and last
  day), filtered by period, campaign and country;
- `client_360` - one client: market, consent, birth year, sales, campaigns reached and converted, leads and
  interactions, read through sec.v_clients_masked, which masks identities in the database: contacts as
  `j***@example.com` and `***67`, the name as initials, the national ID as its last 3 characters. The login
  (crm_mcp_reader) has no grant on crm.clients, so it cannot read raw PII whatever this code does;
- `query_sql` - one guarded SELECT over the `sales` and `rpt` schemas only. `crm` (clients' names, contacts,
  encrypted IDs and context) and `sec` (the decryption routines) hold PII and are never readable through it.

The connection comes from PROMPTSALES_CRM_URL (`mssql://user:password@host:1433/PromptCrm`), the login of the
`crm_mcp_reader` role. The curated T-SQL lives in module-level `CuratedQuery` constants (see mcp_servers.ads).

    python -m mcp_servers.crm --transport stdio
    python -m mcp_servers.crm --transport http --host 127.0.0.1 --port 8103
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_servers.ads import (
    DEFAULT_MAX_ROWS,
    MAX_ROWS_LIMIT,
    CuratedQuery,
    SqlServerStore,
    check_id,
    check_max_rows,
    check_period,
    check_text,
    curated_result,
    guarded_sql,
    run_curated,
    string_fields,
)
from mcp_servers.toolkit import READ_ONLY, ToolFailure, ToolResult, ToolRuntime, serve

SERVER_NAME = "promptsales-crm"
STORE = "crm"
ENV_VAR = "PROMPTSALES_CRM_URL"
EXAMPLE_URL = "mssql://mcp_crm:<password>@crm-sqlserver:1433/PromptCrm"
DEFAULT_DATABASE = "PromptCrm"
PII_SCHEMAS = frozenset({"crm", "sec"})
"""Schemas with personal data (crm.clients: names, contacts, encrypted IDs and context) or its decryption."""
QUERY_SQL_SCHEMAS = frozenset({"sales", "rpt"})
"""What query_sql may read: the sales fact table and the pre-aggregated indexed views - no person in either."""
RECENT_ROWS = 10


# --------------------------------------------------------------------------- masking


def mask_email(email: str | None) -> str | None:
    """`john.doe@example.com` -> `j***@example.com`: the first character and the domain, nothing else."""
    if email is None:
        return None
    text = str(email).strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(phone: str | None) -> str | None:
    """`+1 (555) 123-4567` -> `***67`: only the last two digits, not even how many digits there were."""
    if phone is None:
        return None
    digits = re.sub(r"\D", "", str(phone))
    if re.fullmatch(r"\*\*\*\d{0,2}", str(phone).strip()):
        return str(phone).strip()  # masked already (sec.v_clients_masked): the same mask again
    if len(digits) < 4:
        return "***"
    return f"***{digits[-2:]}"


# --------------------------------------------------------------------------- queries

SALES_SUMMARY = CuratedQuery(
    name="sales_summary",
    sql="""
SELECT TOP (%(row_limit)s)
    s.campaign_id,
    COUNT_BIG(*) AS sales_count,
    COUNT_BIG(DISTINCT s.client_id) AS buyers,
    SUM(CAST(s.quantity AS BIGINT)) AS quantity,
    SUM(s.amount_usd) AS amount_usd,
    CAST(AVG(s.amount_usd) AS DECIMAL(14, 2)) AS average_sale_usd,
    MIN(s.sale_date) AS first_sale_date,
    MAX(s.sale_date) AS last_sale_date
FROM sales.sales AS s
WHERE (%(campaign_id)s IS NULL OR s.campaign_id = %(campaign_id)s)
    AND (%(date_from)s IS NULL OR s.sale_date >= %(date_from)s)
    AND (%(date_to)s IS NULL OR s.sale_date <= %(date_to)s)
    AND (%(country)s IS NULL OR LEFT(s.market_code, 2) = %(country)s)
GROUP BY s.campaign_id
ORDER BY SUM(s.amount_usd) DESC, s.campaign_id
""",
    parameters={"row_limit": "int", "campaign_id": "int", "date_from": "date", "date_to": "date", "country": "varchar"},
    schemas=frozenset({"sales"}),
)

CLIENT_PROFILE = CuratedQuery(
    name="client_360",
    sql="""
SELECT
    c.client_id,
    c.initials,
    c.email_masked,
    c.phone_masked,
    c.national_id_masked,
    c.national_id_country,
    c.birth_year,
    c.market_code,
    c.consent_marketing,
    c.created_at,
    c.city,
    s.sales_count,
    s.amount_usd,
    s.last_sold_at,
    cc.campaigns_reached,
    cc.campaigns_converted,
    ld.leads,
    ld.open_leads,
    ld.won_leads,
    i.interactions,
    i.last_interaction_at
FROM sec.v_clients_masked AS c
OUTER APPLY (
    SELECT
        COUNT_BIG(*) AS sales_count,
        SUM(x.amount_usd) AS amount_usd,
        MAX(x.sold_at) AS last_sold_at
    FROM sales.sales AS x
    WHERE x.client_id = c.client_id
) AS s
OUTER APPLY (
    SELECT
        COUNT_BIG(*) AS campaigns_reached,
        SUM(CASE WHEN y.converted = 1 THEN 1 ELSE 0 END) AS campaigns_converted
    FROM crm.client_campaigns AS y
    WHERE y.client_id = c.client_id
) AS cc
OUTER APPLY (
    SELECT
        COUNT_BIG(*) AS leads,
        SUM(CASE WHEN z.lead_status IN ('new', 'contacted', 'qualified') THEN 1 ELSE 0 END) AS open_leads,
        SUM(CASE WHEN z.lead_status = 'won' THEN 1 ELSE 0 END) AS won_leads
    FROM crm.leads AS z
    WHERE z.client_id = c.client_id
) AS ld
OUTER APPLY (
    SELECT
        COUNT_BIG(*) AS interactions,
        MAX(w.occurred_at) AS last_interaction_at
    FROM crm.interactions AS w
    WHERE w.client_id = c.client_id
) AS i
WHERE c.client_id = %(client_id)s
""",
    parameters={"client_id": "int"},
    schemas=frozenset({"crm", "sales", "sec"}),
)

CLIENT_CAMPAIGNS = CuratedQuery(
    name="client_360_campaigns",
    sql="""
SELECT TOP (%(row_limit)s)
    cc.campaign_id,
    cc.linked_at,
    cc.first_channel_code,
    cc.converted
FROM crm.client_campaigns AS cc
WHERE cc.client_id = %(client_id)s
ORDER BY cc.linked_at DESC, cc.campaign_id
""",
    parameters={"row_limit": "int", "client_id": "int"},
    schemas=frozenset({"crm"}),
)

CLIENT_SALES = CuratedQuery(
    name="client_360_sales",
    sql="""
SELECT TOP (%(row_limit)s)
    s.sale_id,
    s.sold_at,
    s.campaign_id,
    s.channel_code,
    s.market_code,
    s.quantity,
    s.amount_usd
FROM sales.sales AS s
WHERE s.client_id = %(client_id)s
ORDER BY s.sold_at DESC, s.sale_id DESC
""",
    parameters={"row_limit": "int", "client_id": "int"},
    schemas=frozenset({"sales"}),
)

CURATED_QUERIES = (SALES_SUMMARY, CLIENT_PROFILE, CLIENT_CAMPAIGNS, CLIENT_SALES)


def masked_profile(row: Mapping[str, Any]) -> dict[str, Any]:
    """The client row as it leaves the server. sec.v_clients_masked masked it in the database already (initials,
    email and phone masked, national ID as its last 3 characters); the contacts are masked once more here, so a
    view changed by hand to return raw values still cannot leak them through this server."""
    return {
        **dict(row),
        "email_masked": mask_email(row.get("email_masked")),
        "phone_masked": mask_phone(row.get("phone_masked")),
    }


class CrmTools:
    """The bodies of the PromptCrm tools."""

    def __init__(self, store: SqlServerStore) -> None:
        self.store = store

    def sales_summary(
        self,
        date_from: date | None = None,
        date_to: date | None = None,
        campaign_id: int | None = None,
        country: str | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> ToolResult:
        check_max_rows(max_rows)
        check_period(date_from, date_to)
        code = check_text("country", country, 2, r"[A-Za-z]{2}")
        params = {
            "row_limit": max_rows + 1,
            "campaign_id": check_id("campaign_id", campaign_id),
            "date_from": date_from,
            "date_to": date_to,
            "country": code.upper() if code else None,
        }
        notes = [
            "sales per PromptAds campaign from sales.sales, highest amount first; campaign_id null = sales credited"
            " to no campaign; country = ISO code of the sale's market"
        ]
        return curated_result(self.store, SALES_SUMMARY, params, max_rows, notes)

    def client_360(self, client_id: int) -> ToolResult:
        if check_id("client_id", client_id) is None:
            raise ToolFailure("client_id is required")
        conn = self.store.connect()
        timeout = self.store.timeout_ms
        try:
            profile, _ = run_curated(conn, CLIENT_PROFILE, {"client_id": client_id}, max_rows=1, timeout_ms=timeout)
            if not profile:
                raise ToolFailure(f"no client {client_id} in PromptCrm")
            recent = {"row_limit": RECENT_ROWS + 1, "client_id": client_id}
            campaigns, more_campaigns = run_curated(
                conn, CLIENT_CAMPAIGNS, recent, max_rows=RECENT_ROWS, timeout_ms=timeout
            )
            sales, more_sales = run_curated(conn, CLIENT_SALES, recent, max_rows=RECENT_ROWS, timeout_ms=timeout)
        finally:
            conn.close()
        row = masked_profile(profile[0]) | {"recent_campaigns": campaigns, "recent_sales": sales}
        notes = [
            "PII masked: initials only, email and phone masked, national ID never read (stored encrypted)",
            f"recent_campaigns and recent_sales: the latest {RECENT_ROWS} of each"
            + (" (more exist)" if more_campaigns or more_sales else ""),
        ]
        return ToolResult.of([row], max_rows=1, notes=notes, limits={"timeout_ms": timeout})

    def query_sql(self, sql: str, max_rows: int = DEFAULT_MAX_ROWS) -> ToolResult:
        check_max_rows(max_rows)
        rows, truncated = guarded_sql(self.store, sql, max_rows, QUERY_SQL_SCHEMAS)
        result = ToolResult.of(
            rows,
            max_rows=max_rows,
            untrusted_fields=string_fields(rows),
            notes=[
                f"guarded read-only SELECT over the schemas {', '.join(sorted(QUERY_SQL_SCHEMAS))};"
                " client data (crm, sec) is not readable here - use client_360"
            ],
            limits={"timeout_ms": self.store.timeout_ms},
        )
        return result.model_copy(update={"truncated": truncated})


def build_server(
    connect: Callable[[], Any] | None = None,
    runtime: ToolRuntime | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """The promptsales-crm MCPServer; `connect` returns a pytds connection (default: from PROMPTSALES_CRM_URL)."""
    store = SqlServerStore(STORE, ENV_VAR, EXAMPLE_URL, DEFAULT_DATABASE, connect=connect, environ=environ)
    tools = CrmTools(store)
    rt = runtime if runtime is not None else ToolRuntime.from_env(STORE)
    read_only = ToolAnnotations.model_validate(READ_ONLY)
    server: Any = MCPServer(
        SERVER_NAME,
        instructions=(
            "PromptCrm: sales per campaign (sales_summary), one client with masked personal data (client_360), and"
            " one guarded SELECT over the sales and rpt schemas (query_sql). Personal data is never returned"
            " unmasked."
        ),
    )

    @server.tool(
        name="sales_summary",
        title="Sales per campaign",
        annotations=read_only,
        description=(
            "Sales per PromptAds campaign from PromptCrm sales.sales - count, distinct buyers, units, amount,"
            " average sale, first and last day - highest amount first. Every filter is optional; dates are ISO"
            " (YYYY-MM-DD), inclusive; country is the ISO code of the market (US, CR, ...)."
        ),
    )
    def sales_summary(
        ctx: Context,
        date_from: Annotated[date | None, Field(description="first sale day, inclusive")] = None,
        date_to: Annotated[date | None, Field(description="last sale day, inclusive")] = None,
        campaign_id: Annotated[int | None, Field(description="one PromptAds campaign")] = None,
        country: Annotated[str | None, Field(description="ISO 3166-1 alpha-2 code of the market")] = None,
        max_rows: Annotated[int, Field(description=f"row cap, 1..{MAX_ROWS_LIMIT}")] = DEFAULT_MAX_ROWS,
    ) -> ToolResult:
        args = {
            "date_from": date_from.isoformat() if date_from else None,
            "date_to": date_to.isoformat() if date_to else None,
            "campaign_id": campaign_id,
            "country": country,
            "max_rows": max_rows,
        }
        return rt.call(
            "sales_summary",
            args,
            lambda: tools.sales_summary(date_from, date_to, campaign_id, country, max_rows),
            ctx,
        )

    @server.tool(
        name="client_360",
        title="One client, masked",
        annotations=read_only,
        description=(
            "One PromptCrm client: market, city, consent, birth year, sales totals, campaigns reached and"
            " converted, leads, interactions, and the latest campaigns and sales. Name as initials, email and phone"
            " masked (j***@example.com, ***67); the national ID is never shown."
        ),
    )
    def client_360(
        client_id: Annotated[int, Field(description="crm.clients.client_id")],
        ctx: Context,
    ) -> ToolResult:
        return rt.call("client_360", {"client_id": client_id}, lambda: tools.client_360(client_id), ctx)

    @server.tool(
        name="query_sql",
        title="One guarded SELECT over PromptCrm sales",
        annotations=read_only,
        description=(
            "Runs one read-only T-SQL SELECT over the sales and rpt schemas (sales.sales and the indexed views"
            " rpt.v_sales_campaign_month, rpt.v_sales_channel_market, rpt.v_campaign_conversion_month), capped at"
            " max_rows and rolled back. Client data is not readable here."
        ),
    )
    def query_sql(
        sql: Annotated[str, Field(description="one SELECT, e.g. SELECT TOP 10 * FROM rpt.v_sales_campaign_month")],
        ctx: Context,
        max_rows: Annotated[int, Field(description=f"row cap, 1..{MAX_ROWS_LIMIT}")] = DEFAULT_MAX_ROWS,
    ) -> ToolResult:
        return rt.call("query_sql", {"sql": sql, "max_rows": max_rows}, lambda: tools.query_sql(sql, max_rows), ctx)

    return server


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mcp_servers.crm --transport {stdio,http} [--host H] [--port P]`."""
    return serve("python -m mcp_servers.crm", __doc__.splitlines()[0], build_server, 8103, argv)


if __name__ == "__main__":
    raise SystemExit(main())
