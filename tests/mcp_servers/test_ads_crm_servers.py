"""The PromptAds and PromptCrm MCP servers: tools, annotations, errors, the curated T-SQL, PII masking.

No SQL Server runs here. What needs none is tested for real: tool listing and annotations through an in-memory
MCP client, the not-configured and argument errors, every curated query parsed with sqlfluff's tsql grammar and
passed through the same guard as query_sql, its tables and columns checked against model/ads.yaml and
model/crm.yaml, and the masking functions. The plumbing between a query and a tool answer runs against
`RecordingConnection`, a TEST DOUBLE of a pytds connection that returns canned rows (it executes no SQL). The
round trips against a real server run only when PROMPTSALES_ADS_URL / PROMPTSALES_CRM_URL are set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client
from mcp_types import CallToolResult, TextContent

from generators.gates import sqlfluff_problems
from mcp_servers import ads, crm
from mcp_servers.ads import CuratedQuery
from mcp_servers.crm import mask_email, mask_phone
from mcp_servers.sql_guard import QueryRejected, check_tsql_select
from mcp_servers.toolkit import ToolRuntime

ROOT = Path(__file__).resolve().parents[2]
ALL_QUERIES = [*ads.CURATED_QUERIES, *crm.CURATED_QUERIES]


def model_tables(store: str) -> dict[str, set[str]]:
    """The model's tables and their columns, plus the columns of the rendered masking view of PromptCrm."""
    raw = yaml.safe_load((ROOT / "model" / f"{store}.yaml").read_text(encoding="utf-8"))
    tables = {f"{t['schema']}.{t['name']}": {c["name"] for c in t["columns"]} for t in raw["tables"]}
    if store == "crm":
        tables["sec.v_clients_masked"] = masked_view_columns()
    return tables


def masked_view_columns() -> set[str]:
    """The select list of sec.v_clients_masked as rendered: each item's alias, or its column name."""
    text = (ROOT / "sql" / "crm" / "050_functions.sql").read_text(encoding="utf-8")
    body = text.split("CREATE OR ALTER VIEW sec.v_clients_masked", 1)[1].split("\nFROM ", 1)[0]
    items = re.findall(r"(?:\bAS (\w+)|^\s+\w+\.(\w+)),?$", body, flags=re.M)
    return {alias or column for alias, column in items}


def model_schemas(store: str) -> set[str]:
    raw = yaml.safe_load((ROOT / "model" / f"{store}.yaml").read_text(encoding="utf-8"))
    return {s["name"] for s in raw["schemas"]}


def call(server: Any, tool: str, args: dict[str, Any]) -> CallToolResult:
    async def run() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(tool, args)

    return anyio.run(run)


def list_tools(server: Any) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with Client(server) as client:
            return {tool.name: tool for tool in (await client.list_tools()).tools}

    return anyio.run(run)


def text_of(result: CallToolResult) -> str:
    block = result.content[0] if result.content else None
    assert isinstance(block, TextContent), result
    return block.text


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    text = text_of(result)
    assert "\n" not in text and "Traceback" not in text
    prefix = re.match(r"Error executing tool \w+: ", text)  # the SDK's own prefix
    assert prefix is not None, text
    return text[prefix.end() :]


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


class NoConnection:
    """TEST DOUBLE of a connection factory that must not be called: argument errors come before any connection."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        raise AssertionError("a connection was opened for a call that should have been refused first")


class RecordingCursor:
    def __init__(self, connection: RecordingConnection) -> None:
        self.connection = connection
        self.description: list[tuple[str, ...]] | None = None
        self._rows: list[tuple[Any, ...]] = []

    def __enter__(self) -> RecordingCursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.connection.executed.append((sql, params))
        if params is None:  # a session setting
            self.description, self._rows = None, []
            return
        columns, rows = self.connection.answers.pop(0)
        self.description = [(name,) for name in columns]
        self._rows = list(rows)

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return self._rows[:size]


class RecordingConnection:
    """TEST DOUBLE of a pytds connection: records every execute and answers canned (columns, rows) in order.

    It runs no SQL: it checks what the servers send (statements, parameter names and values, rollback, close)
    and how they shape what comes back.
    """

    def __init__(self, *answers: tuple[Sequence[str], Sequence[tuple[Any, ...]]]) -> None:
        self.answers = list(answers)
        self.executed: list[tuple[str, dict[str, Any] | None]] = []
        self.rolled_back = 0
        self.closed = False

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def rollback(self) -> None:
        self.rolled_back += 1

    def close(self) -> None:
        self.closed = True

    def queries(self) -> list[tuple[str, dict[str, Any]]]:
        return [(sql, params) for sql, params in self.executed if params is not None]


def factory(connection: RecordingConnection) -> Callable[[], RecordingConnection]:
    return lambda: connection


# --------------------------------------------------------------------------- tools and annotations


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (ads, {"campaign_performance", "sentiment_drops", "query_sql"}),
        (crm, {"sales_summary", "client_360", "query_sql"}),
    ],
)
def test_every_tool_is_listed_read_only(module: Any, expected: set[str]) -> None:
    tools = list_tools(module.build_server(runtime=ToolRuntime(module.STORE), environ={}))
    assert set(tools) == expected
    for tool in tools.values():
        hints = tool.annotations
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (True, False, True), tool.name
        assert hints.open_world_hint is False and tool.output_schema is not None and tool.description


@pytest.mark.parametrize(
    ("module", "tool", "args", "message"),
    [
        (
            ads,
            "campaign_performance",
            {},
            "store 'ads' is not configured: set PROMPTSALES_ADS_URL (for example mssql://mcp_ads:<password>@",
        ),
        (ads, "sentiment_drops", {"brand": "Aurora"}, "store 'ads' is not configured: set PROMPTSALES_ADS_URL"),
        (
            crm,
            "sales_summary",
            {},
            "store 'crm' is not configured: set PROMPTSALES_CRM_URL (for example mssql://mcp_crm:<password>@",
        ),
        (crm, "client_360", {"client_id": 7}, "store 'crm' is not configured: set PROMPTSALES_CRM_URL"),
        (crm, "query_sql", {"sql": "SELECT TOP 5 campaign_id FROM rpt.v_sales_campaign_month"}, "store 'crm' is"),
    ],
)
def test_without_a_server_url_the_error_says_what_to_set(
    module: Any, tool: str, args: dict[str, Any], message: str
) -> None:
    server = module.build_server(runtime=ToolRuntime(module.STORE), environ={})
    text = error_text(call(server, tool, args))
    assert text.startswith(message) and text.endswith("where this MCP server runs")


def test_a_malformed_url_is_one_line_without_the_password() -> None:
    server = ads.build_server(
        runtime=ToolRuntime("ads"), environ={"PROMPTSALES_ADS_URL": "postgres://mcp:s3cr3t-pw@host/PromptAds"}
    )
    text = error_text(call(server, "campaign_performance", {}))
    assert text.startswith("PROMPTSALES_ADS_URL: postgres://mcp:***@host/PromptAds: the scheme must be mssql://")
    assert "s3cr3t-pw" not in text


# --------------------------------------------------------------------------- the curated T-SQL


@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.name)
def test_curated_queries_parse_as_tsql_and_pass_the_guard(query: CuratedQuery) -> None:
    text = query.gate_text()
    assert "%(" not in text
    assert sqlfluff_problems(text) == []
    guarded = check_tsql_select(text, allowed_schemas=query.schemas)
    assert {relation.split(".")[0] for relation in guarded.relations} == set(query.schemas)


@pytest.mark.parametrize(("module", "store"), [(ads, "ads"), (crm, "crm")])
def test_curated_queries_use_the_model_tables_and_columns(module: Any, store: str) -> None:
    tables = model_tables(store)
    for query in module.CURATED_QUERIES:
        assert query.schemas <= model_schemas(store), query.name
        aliases = dict(
            (alias.lower(), table.lower())
            for table, alias in re.findall(r"\b(?:FROM|JOIN)\s+(\w+\.\w+)\s+AS\s+(\w+)", query.sql, flags=re.I)
        )
        assert aliases and set(aliases.values()) <= set(tables), query.name
        for alias, column in re.findall(r"\b(\w+)\.(\w+)\b", query.sql):
            table = aliases.get(alias.lower())
            if table is not None:  # schema.table names and derived tables are not column references
                assert column in tables[table], f"{query.name}: {alias}.{column} is not a column of {table}"


def test_the_crm_queries_never_read_encrypted_or_decrypting_objects() -> None:
    for query in crm.CURATED_QUERIES:
        text = query.sql.lower()
        for forbidden in ("national_id_enc", "national_id_hmac", "context_enc", "decrypt", "first_name", "last_name"):
            assert forbidden not in text, f"{query.name} mentions {forbidden}"
        # Identities are read only through the view that masks them in the database.
        assert set(re.findall(r"\bsec\.\w+", text)) <= {"sec.v_clients_masked"}, query.name


def test_query_sql_schemas_come_from_the_model_and_exclude_pii() -> None:
    assert model_schemas("ads") >= ads.QUERY_SQL_SCHEMAS and "ops" not in ads.QUERY_SQL_SCHEMAS
    assert model_schemas("crm") >= crm.QUERY_SQL_SCHEMAS
    assert crm.QUERY_SQL_SCHEMAS.isdisjoint(crm.PII_SCHEMAS)
    raw = yaml.safe_load((ROOT / "model" / "crm.yaml").read_text(encoding="utf-8"))
    pii_tables = [
        f"{table['schema']}.{table['name']}"
        for table in raw["tables"]
        if any(column.get("pii") for column in table["columns"])
    ]
    assert pii_tables and all(name.split(".")[0] in crm.PII_SCHEMAS for name in pii_tables)


@pytest.mark.parametrize(
    ("module", "sql", "message"),
    [
        (crm, "SELECT email FROM crm.clients", "table crm.clients is outside the readable schemas: rpt, sales"),
        (crm, "SELECT national_id_masked FROM sec.v_clients_masked", "table sec.v_clients_masked is outside"),
        (crm, "DELETE FROM sales.sales", "only a SELECT is allowed"),
        (ads, "SELECT message FROM ops.log", "table ops.log is outside the readable schemas: ads, perf"),
        (ads, "SELECT TOP 1 name FROM sys.tables", "system catalog sys.tables is not readable"),
    ],
)
def test_query_sql_rejects_before_connecting(module: Any, sql: str, message: str) -> None:
    never = NoConnection()
    server = module.build_server(connect=never, runtime=ToolRuntime(module.STORE), environ={})
    assert error_text(call(server, "query_sql", {"sql": sql})).startswith(message)
    assert never.calls == 0


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("module", "tool", "args", "message"),
    [
        (
            ads,
            "campaign_performance",
            {"date_from": "2025-03-01", "date_to": "2025-02-01"},
            "date_from 2025-03-01 is after date_to 2025-02-01",
        ),
        (ads, "campaign_performance", {"max_rows": 0}, "max_rows must be an integer between 1 and 1000, got 0"),
        (ads, "campaign_performance", {"campaign_id": -4}, "campaign_id must be a positive integer"),
        (ads, "campaign_performance", {"market": "US NY!"}, "market 'US NY!' is not valid"),
        (ads, "campaign_performance", {"brand": "b" * 121}, "brand is 121 characters long; at most 120 are allowed"),
        (ads, "sentiment_drops", {"days": 0}, "days must be an integer between 1 and 90, got 0"),
        (ads, "sentiment_drops", {"threshold_pct": 150}, "threshold_pct must be a number of percentage points"),
        (ads, "sentiment_drops", {"min_reactions": 0}, "min_reactions must be a positive integer, got 0"),
        (ads, "query_sql", {"sql": "SELECT 1", "max_rows": 5000}, "max_rows must be an integer between 1 and 1000"),
        (crm, "sales_summary", {"country": "USA"}, "country is 3 characters long; at most 2 are allowed"),
        (crm, "sales_summary", {"country": "U1"}, "country 'U1' is not valid"),
        (
            crm,
            "sales_summary",
            {"date_from": "2025-12-31", "date_to": "2025-01-01"},
            "date_from 2025-12-31 is after date_to 2025-01-01",
        ),
        (crm, "client_360", {"client_id": 0}, "client_id must be a positive integer (a 32-bit id), got 0"),
    ],
)
def test_bad_arguments_are_refused_before_connecting(
    module: Any, tool: str, args: dict[str, Any], message: str
) -> None:
    never = NoConnection()
    server = module.build_server(connect=never, runtime=ToolRuntime(module.STORE), environ={})
    assert error_text(call(server, tool, args)).startswith(message)
    assert never.calls == 0


# --------------------------------------------------------------------------- from query to answer (test double)


def test_campaign_performance_sends_the_filters_and_shapes_the_rows() -> None:
    columns = ("campaign_id", "campaign_name", "brand_name", "revenue_usd", "roas", "last_result_date")
    rows = [(7, "Aurora Summer", "Aurora Outdoors", Decimal("1250.50"), Decimal("3.2500"), date(2025, 7, 31))] * 3
    connection = RecordingConnection((columns, rows))
    server = ads.build_server(connect=factory(connection), runtime=ToolRuntime("ads"), environ={})
    answer = ok(call(server, "campaign_performance", {"brand": " Aurora  Outdoors ", "market": "us-ny", "max_rows": 2}))
    ((sql, params),) = connection.queries()
    assert sql == ads.CAMPAIGN_PERFORMANCE.sql
    assert params == {
        "row_limit": 3,
        "campaign_id": None,
        "brand": "Aurora Outdoors",
        "date_from": None,
        "date_to": None,
        "channel": None,
        "market": "US-NY",
    }
    assert answer["row_count"] == 2 and answer["truncated"] is True  # three rows came back for a cap of two
    first = answer["rows"][0]
    assert (first["revenue_usd"], first["roas"], first["last_result_date"]) == (1250.5, 3.25, "2025-07-31")
    assert first["campaign_name"] == "<untrusted-data>Aurora Summer</untrusted-data>"
    assert answer["applied_limits"] == {"max_rows": 2, "timeout_ms": ads.TIMEOUT_MS}
    assert connection.rolled_back == 1 and connection.closed
    assert ("SET LOCK_TIMEOUT 10000", None) in connection.executed


def test_sentiment_drops_compares_two_windows_ending_on_as_of() -> None:
    connection = RecordingConnection((("brand_name", "rise_pct_points"), [("Aurora Outdoors", Decimal("12.50"))]))
    server = ads.build_server(connect=factory(connection), runtime=ToolRuntime("ads"), environ={})
    answer = ok(call(server, "sentiment_drops", {"days": 7, "threshold_pct": 10, "as_of": "2025-12-14"}))
    ((_, params),) = connection.queries()
    assert params["window_end"] == datetime(2025, 12, 15)
    assert params["current_start"] == datetime(2025, 12, 8)
    assert params["previous_start"] == datetime(2025, 12, 1)
    assert (params["threshold_pct"], params["min_reactions"], params["brand"]) == (10.0, 20, None)
    assert answer["rows"][0]["rise_pct_points"] == 12.5
    assert "2025-12-08..2025-12-14" in answer["notes"][0]


PROFILE_COLUMNS = (
    "client_id", "initials", "email_masked", "phone_masked", "national_id_masked", "national_id_country",
    "birth_year", "market_code", "consent_marketing", "created_at", "city", "sales_count", "amount_usd",
    "last_sold_at", "campaigns_reached", "campaigns_converted", "leads", "open_leads", "won_leads", "interactions",
    "last_interaction_at",
)  # fmt: skip
"""What CLIENT_PROFILE selects from sec.v_clients_masked (masked in the database) and the sales/CRM aggregates."""


def profile_row(email: str, phone: str) -> tuple[Any, ...]:
    return (
        42, "M. R.", email, phone, "*****789", "CR", 1988, "CR-SJ", True, datetime(2024, 8, 1, 9, 30), "San Jose", 3,
        Decimal("389.97"), datetime(2025, 12, 1, 18, 5), 5, 2, 4, 1, 2, 11, datetime(2025, 12, 2, 10, 0),
    )  # fmt: skip


def test_client_360_reads_identities_only_through_the_masking_view() -> None:
    assert re.search(r"\bFROM sec\.v_clients_masked AS c\b", crm.CLIENT_PROFILE.sql)
    for raw in (
        r"crm\.clients\b",
        "first_name",
        "last_name",
        "national_id_enc",
        "context_enc",
        r"\.email\b",
        r"\.phone\b",
    ):
        assert not re.search(raw, crm.CLIENT_PROFILE.sql), raw
    selected = re.findall(r"^\s+\w+\.(\w+),?$", crm.CLIENT_PROFILE.sql.split("\nFROM ", 1)[0], flags=re.M)
    assert selected == list(PROFILE_COLUMNS)
    assert {"initials", "email_masked", "phone_masked", "national_id_masked"} <= masked_view_columns()


@pytest.mark.parametrize(
    ("email", "phone"),
    [("m***@example.cr", "***56"), ("maria.rojas@example.cr", "+506 8812-3456")],
    ids=["masked-by-the-view", "a-view-changed-to-return-raw-values"],
)
def test_client_360_masks_what_it_returns(email: str, phone: str) -> None:
    connection = RecordingConnection(
        (PROFILE_COLUMNS, [profile_row(email, phone)]),
        (("campaign_id", "converted"), [(12, True), (9, False)]),
        (("sale_id", "amount_usd"), [(901, Decimal("129.99"))]),
    )
    server = crm.build_server(connect=factory(connection), runtime=ToolRuntime("crm"), environ={})
    answer = ok(call(server, "client_360", {"client_id": 42}))
    (row,) = answer["rows"]
    assert row["initials"] == "M. R." and row["national_id_masked"] == "*****789"
    assert row["email_masked"] == "m***@example.cr" and row["phone_masked"] == "***56"
    shown = repr(answer)
    for secret in ("maria", "rojas", "8812", "3456"):
        assert secret not in shown.lower()
    assert (row["sales_count"], row["amount_usd"], row["market_code"]) == (3, 389.97, "CR-SJ")
    assert row["recent_campaigns"] == [{"campaign_id": 12, "converted": True}, {"campaign_id": 9, "converted": False}]
    assert row["recent_sales"] == [{"sale_id": 901, "amount_usd": 129.99}]
    assert [params for _, params in connection.queries()] == [
        {"client_id": 42},
        {"row_limit": 11, "client_id": 42},
        {"row_limit": 11, "client_id": 42},
    ]


def test_client_360_of_an_unknown_client_is_a_clear_error() -> None:
    connection = RecordingConnection((("client_id",), []))
    server = crm.build_server(connect=factory(connection), runtime=ToolRuntime("crm"), environ={})
    assert error_text(call(server, "client_360", {"client_id": 404})) == "no client 404 in PromptCrm"
    assert connection.closed


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("john.doe@example.com", "j***@example.com"),
        ("  J@x.io ", "J***@x.io"),
        ("first@last@example.com", "f***@example.com"),
        ("not-an-email", "***"),
        ("@example.com", "***"),
        ("user@", "***"),
        (None, None),
    ],
)
def test_mask_email(email: str | None, masked: str | None) -> None:
    assert mask_email(email) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+1 (555) 123-4567", "***67"),
        ("8812-3456", "***56"),
        ("123", "***"),
        ("ext.", "***"),
        (None, None),
    ],
)
def test_mask_phone(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked


def test_masks_do_not_reveal_length_or_local_part() -> None:
    assert mask_phone("+44 20 7946 0958") == mask_phone("0958") == "***58"
    assert mask_email("a@example.com") == mask_email("averyveryverylongname@example.com") == "a***@example.com"
    assert mask_phone(mask_phone("+44 20 7946 0958")) == "***58", "masking a masked phone keeps it"
    assert mask_email(mask_email("john.doe@example.com")) == "j***@example.com"


def test_guard_refuses_what_the_curated_queries_avoid() -> None:
    # The gate renders placeholders as literals because the guard refuses variables; this keeps both honest.
    with pytest.raises(QueryRejected, match="variable @row_limit is not supported"):
        check_tsql_select(ads.CAMPAIGN_PERFORMANCE.sql.replace("%(", "@").replace(")s", ""), allowed_schemas={"ads"})


# --------------------------------------------------------------------------- real servers


ads_server = pytest.mark.skipif(
    not os.environ.get("PROMPTSALES_ADS_URL"),
    reason="PROMPTSALES_ADS_URL is not set: the PromptAds round trips need a real SQL Server with the deployed schema",
)
crm_server = pytest.mark.skipif(
    not os.environ.get("PROMPTSALES_CRM_URL"),
    reason="PROMPTSALES_CRM_URL is not set: the PromptCrm round trips need a real SQL Server with the deployed schema",
)


@ads_server
def test_real_ads_server_answers_every_tool() -> None:
    server = ads.build_server(runtime=ToolRuntime("ads"))
    performance = ok(call(server, "campaign_performance", {"max_rows": 5}))
    assert performance["row_count"] <= 5
    for row in performance["rows"]:
        assert {"campaign_id", "brand_name", "views", "revenue_usd", "roas"} <= set(row)
    drops = ok(call(server, "sentiment_drops", {"days": 30, "threshold_pct": 0, "min_reactions": 1}))
    assert all(row["rise_pct_points"] >= 0 for row in drops["rows"])
    sql = ok(call(server, "query_sql", {"sql": "SELECT TOP 3 campaign_id FROM ads.campaigns ORDER BY campaign_id"}))
    assert sql["row_count"] <= 3


@crm_server
def test_real_crm_server_answers_every_tool_with_pii_masked() -> None:
    server = crm.build_server(runtime=ToolRuntime("crm"))
    summary = ok(call(server, "sales_summary", {"max_rows": 5}))
    assert summary["row_count"] <= 5
    buyer = ok(call(server, "query_sql", {"sql": "SELECT TOP 1 client_id FROM sales.sales ORDER BY sale_id"}))
    if not buyer["rows"]:
        pytest.skip("PromptCrm holds no sales yet: seed it to check client_360")
    client_id = buyer["rows"][0]["client_id"]
    (row,) = ok(call(server, "client_360", {"client_id": client_id}))["rows"]
    assert row["client_id"] == client_id
    assert row["email_masked"] is None or re.fullmatch(r".\*\*\*@\S+", row["email_masked"])
    assert row["phone_masked"] is None or re.fullmatch(r"\*\*\*(\d\d)?", row["phone_masked"])
    assert not any(key in row for key in ("email", "phone", "national_id_enc", "first_name", "last_name"))
