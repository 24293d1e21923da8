"""The read-only SQL guard: hostile queries are rejected with a specific reason, real analytical queries pass and
run on the real local PostgreSQL (against the deployed PromptSales schema), and - with the guard bypassed - the
read-only transaction and the reader role still refuse every write."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors

from mcp_servers.sql_guard import (
    MAX_QUERY_CHARS,
    GuardedQuery,
    QueryRejected,
    check_select,
    check_tsql_select,
    run_select,
    run_tsql_select,
)
from mcp_servers.toolkit import ToolFailure

SCHEMAS = ("analytics", "etl")
READER = "promptsales_mcp_reader"
CAMPAIGNS = 6

# --------------------------------------------------------------------------- PostgreSQL: hostile input

HOSTILE: list[tuple[str, str, str]] = [
    ("create-table", "CREATE TABLE analytics.x (a int)", "found CREATE TABLE"),
    ("drop-table", "DROP TABLE analytics.campaign_channel_daily", "found DROP"),
    ("alter-table", "ALTER TABLE analytics.campaign_effectiveness ADD COLUMN x int", "found ALTER TABLE"),
    ("truncate", "TRUNCATE analytics.campaign_effectiveness", "found TRUNCATE"),
    ("insert", "INSERT INTO analytics.campaign_channel_daily (campaign_id) VALUES (1)", "found INSERT"),
    ("update", "UPDATE analytics.campaign_effectiveness SET reach = 0", "found UPDATE"),
    ("delete", "DELETE FROM analytics.campaign_effectiveness", "found DELETE"),
    (
        "merge",
        "MERGE INTO analytics.campaign_effectiveness t USING etl.run_log s ON true WHEN MATCHED THEN DELETE",
        "found MERGE",
    ),
    ("two-selects", "SELECT 1; SELECT 2", "only one statement is allowed (found 2)"),
    ("commit-then-drop", "COMMIT; DROP TABLE x", "only one statement is allowed (found 2)"),
    ("begin-then-select", "BEGIN; SELECT 1", "only one statement is allowed (found 2)"),
    ("begin", "BEGIN", "found BEGIN"),
    ("select-into", "SELECT * INTO analytics.copy FROM analytics.campaign_effectiveness", "SELECT ... INTO creates"),
    ("pg-read-file", "SELECT pg_read_file('/etc/passwd')", "function pg_read_file is not allowed"),
    ("pg-sleep", "SELECT pg_sleep(10)", "function pg_sleep is not allowed"),
    ("pg-ls-dir", "SELECT * FROM pg_ls_dir('.')", "function pg_ls_dir is not allowed"),
    ("lo-import", "SELECT lo_import('/etc/passwd')", "function lo_import is not allowed"),
    ("set-config", "SELECT set_config('statement_timeout', '0', false)", "function set_config is not allowed"),
    ("current-setting", "SELECT current_setting('data_directory')", "function current_setting is not allowed"),
    ("nextval", "SELECT nextval('analytics.some_seq')", "function nextval is not allowed"),
    ("dblink", "SELECT * FROM dblink('host=x', 'DELETE FROM t') AS t(a int)", "function dblink is not allowed"),
    ("terminate", "SELECT pg_terminate_backend(1)", "function pg_terminate_backend is not allowed"),
    ("txid", "SELECT txid_current()", "function txid_current is not allowed"),
    ("for-update", "SELECT * FROM analytics.campaign_effectiveness FOR UPDATE", "locking clause FOR UPDATE"),
    ("for-share", "SELECT * FROM analytics.campaign_effectiveness FOR SHARE", "locking clause FOR SHARE"),
    (
        "for-no-key-update",
        "SELECT * FROM analytics.campaign_effectiveness FOR NO KEY UPDATE",
        "locking clause FOR NO KEY UPDATE",
    ),
    ("for-key-share", "SELECT * FROM analytics.campaign_effectiveness FOR KEY SHARE", "locking clause FOR KEY SHARE"),
    (
        "for-update-in-subquery",
        "SELECT * FROM (SELECT * FROM analytics.campaign_effectiveness FOR UPDATE) s",
        "locking clause FOR UPDATE",
    ),
    (
        "data-modifying-cte",
        "WITH d AS (DELETE FROM analytics.campaign_effectiveness RETURNING *) SELECT * FROM d",
        "WITH d AS (DELETE ...) modifies data",
    ),
    (
        "update-cte",
        "WITH u AS (UPDATE analytics.campaign_effectiveness SET reach = 0 RETURNING 1) SELECT 1",
        "WITH u AS (UPDATE ...) modifies data",
    ),
    ("block-comment-then-drop", "SELECT 1 /* */; DROP TABLE x", "only one statement is allowed (found 2)"),
    ("line-comment-then-delete", "SELECT 1 --\n; DELETE FROM t", "only one statement is allowed (found 2)"),
    ("copy", "COPY analytics.campaign_effectiveness TO '/tmp/out.csv'", "found COPY"),
    ("copy-program", "COPY (SELECT 1) TO PROGRAM 'id'", "found COPY"),
    ("explain-analyze", "EXPLAIN ANALYZE DELETE FROM analytics.campaign_effectiveness", "found EXPLAIN ANALYZE"),
    ("do-block", "DO $$ BEGIN DELETE FROM analytics.campaign_effectiveness; END $$", "found DO"),
    ("call", "CALL etl.apply_x()", "found CALL"),
    ("set-role", "SET ROLE postgres", "found SET"),
    ("reset-role", "RESET ROLE", "found RESET"),
    ("show", "SHOW data_directory", "found SHOW"),
    ("listen", "LISTEN etl_done", "found LISTEN"),
    ("notify", "NOTIFY etl_done, 'x'", "found NOTIFY"),
    ("prepare", "PREPARE p AS SELECT 1", "found PREPARE"),
    ("execute", "EXECUTE p", "found EXECUTE"),
    ("vacuum", "VACUUM analytics.campaign_effectiveness", "found VACUUM"),
    ("lock-table", "LOCK TABLE analytics.campaign_effectiveness IN ACCESS EXCLUSIVE MODE", "found LOCK"),
    ("grant", "GRANT SELECT ON portal.users TO PUBLIC", "found GRANT"),
    ("portal-users", "SELECT email FROM portal.users", "table portal.users is outside the readable schemas: analytics"),
    ("ai-usage-log", "SELECT * FROM ai.usage_log", "table ai.usage_log is outside the readable schemas"),
    (
        "join-to-unreadable",
        "SELECT c.campaign_id FROM analytics.campaign_effectiveness c JOIN portal.users u ON u.user_id = c.campaign_id",
        "table portal.users is outside",
    ),
    ("pg-authid", "SELECT rolpassword FROM pg_catalog.pg_authid", "system catalog pg_catalog.pg_authid"),
    ("information-schema", "SELECT * FROM information_schema.tables", "system catalog information_schema.tables"),
    ("pg-shadow-unqualified", "SELECT * FROM pg_shadow", "system catalog pg_shadow is not readable"),
    ("unqualified-table", "SELECT * FROM campaign_effectiveness", "campaign_effectiveness must be schema-qualified"),
    (
        "cte-name-out-of-scope",
        "SELECT * FROM (WITH pg_roles AS (SELECT 1) SELECT * FROM pg_roles) s, pg_roles",
        "system catalog pg_roles is not readable",
    ),
    ("other-database", "SELECT * FROM otherdb.analytics.campaign_effectiveness", "names another database"),
    ("cast-regclass", "SELECT 'portal.users'::regclass", "cast to regclass is not allowed"),
    ("cast-oid", "SELECT CAST(1 AS oid)", "cast to oid is not allowed"),
    ("qualified-pg-sleep", "SELECT pg_catalog.pg_sleep(1)", "function pg_catalog.pg_sleep is not allowed"),
    ("quoted-pg-sleep", 'SELECT "pg_sleep"(1)', "function pg_sleep is not allowed"),
    ("user-function", "SELECT etl.apply_x()", "function etl.apply_x is not allowed: only built-in"),
    ("user-operator", "SELECT 1 OPERATOR(public.+) 2", "operator public.+ is not allowed"),
    (
        "function-in-subquery",
        "SELECT * FROM analytics.campaign_effectiveness WHERE reach > (SELECT pg_sleep(5)::text::int)",
        "function pg_sleep is not allowed",
    ),
    (
        "function-in-window-clause",
        "SELECT sum(reach) OVER w FROM analytics.campaign_effectiveness WINDOW w AS (ORDER BY pg_sleep(1))",
        "function pg_sleep is not allowed",
    ),
    (
        "function-in-filter",
        "SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM analytics.campaign_effectiveness",
        "function pg_sleep is not allowed",
    ),
    ("current-user", "SELECT current_user", "current_user is not allowed"),
    ("parameter", "SELECT * FROM analytics.campaign_effectiveness WHERE campaign_id = $1", "query parameters"),
    ("xml", "SELECT xmlelement(name a, 'x')", "XmlExpr expressions are not allowed"),
    (
        "tablesample-extension",
        "SELECT * FROM analytics.campaign_effectiveness TABLESAMPLE system_rows(5)",
        "TABLESAMPLE method system_rows is not allowed",
    ),
    ("empty", "", "the query is empty"),
    ("whitespace", "  \n\t ", "the query is empty"),
    ("only-comment", "-- SELECT 1\n/* nothing */", "the query is empty (only comments)"),
    ("too-long", "SELECT 1" + " " * 30_000, f"the limit is {MAX_QUERY_CHARS}"),
    ("nul-byte", "SELECT 1\x00; DROP TABLE x", "NUL character"),
    ("invalid-sql", "SELEC * FORM analytics.campaign_effectiveness", 'does not parse: syntax error at or near "SELEC"'),
]


@pytest.mark.parametrize(("sql", "fragment"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_postgresql_is_rejected_with_a_specific_reason(sql: str, fragment: str) -> None:
    with pytest.raises(QueryRejected) as caught:
        check_select(sql, allowed_schemas=SCHEMAS)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message and len(message) <= 300


def test_query_rejected_is_a_tool_failure_so_its_message_reaches_the_caller() -> None:
    assert issubclass(QueryRejected, ToolFailure)


def test_allowed_tables_open_one_catalog_table_and_nothing_else() -> None:
    query = check_select("SELECT count(*) FROM pg_catalog.pg_class", allowed_schemas=SCHEMAS,
                         allowed_tables=("pg_catalog.pg_class",))  # fmt: skip
    assert query.relations == ["pg_catalog.pg_class"]
    with pytest.raises(QueryRejected, match=r"system catalog pg_catalog\.pg_authid"):
        check_select(
            "SELECT 1 FROM pg_catalog.pg_authid", allowed_schemas=SCHEMAS, allowed_tables=("pg_catalog.pg_class",)
        )


def test_the_guarded_text_is_the_statement_alone() -> None:
    query = check_select(
        "  /* top campaigns */ SELECT campaign_id FROM analytics.campaign_effectiveness; -- trailing\n",
        allowed_schemas=SCHEMAS,
    )
    assert query.sql == "SELECT campaign_id FROM analytics.campaign_effectiveness"
    assert query.relations == ["analytics.campaign_effectiveness"]
    assert query.functions == []
    with pytest.raises(AttributeError):
        query.sql = "DROP TABLE x"  # type: ignore[misc]


# --------------------------------------------------------------------------- PostgreSQL: real analytical queries

ANALYTICAL: list[tuple[str, str, int]] = [
    (
        "cte-window-partition",
        """
        WITH daily AS (
            SELECT campaign_id, channel, day, sum(reach) AS reach
              FROM analytics.campaign_channel_daily
             GROUP BY campaign_id, channel, day
        )
        SELECT campaign_id, channel, day, reach,
               row_number() OVER (PARTITION BY campaign_id ORDER BY reach DESC, day) AS best,
               sum(reach) OVER (PARTITION BY campaign_id, channel ORDER BY day) AS running_reach,
               lag(reach) OVER (PARTITION BY campaign_id, channel ORDER BY day) AS previous_reach
          FROM daily
         ORDER BY campaign_id, channel, day
        """,
        CAMPAIGNS * 2 * 3,
    ),
    (
        "rollup",
        """
        SELECT brand_name, status, count(*) AS campaigns, sum(revenue_usd) AS revenue
          FROM analytics.campaign_effectiveness
         GROUP BY ROLLUP (brand_name, status)
         ORDER BY brand_name NULLS LAST, status NULLS LAST
        """,
        -1,
    ),
    (
        "filter-case",
        """
        SELECT count(*) FILTER (WHERE status = 'active') AS active,
               count(*) FILTER (WHERE roi > 0) AS profitable,
               sum(CASE WHEN objective = 'awareness' THEN reach ELSE 0 END) AS awareness_reach,
               round(avg(success_pct), 2) AS avg_success
          FROM analytics.campaign_effectiveness
        """,
        1,
    ),
    (
        "date-trunc",
        """
        SELECT date_trunc('month', day)::date AS month, channel, sum(views) AS views,
               sum(revenue_usd) - sum(cost_usd) AS margin
          FROM analytics.campaign_channel_daily
         WHERE day >= DATE '2024-01-01' AND day < DATE '2024-01-01' + INTERVAL '1 year'
         GROUP BY 1, 2
         ORDER BY 1, 2
        """,
        4,  # 30 Jan - 1 Feb: two months x two channels
    ),
    (
        "percentile",
        """
        SELECT brand_name,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY reach) AS median_reach,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY revenue_usd) AS p90_revenue
          FROM analytics.campaign_effectiveness
         GROUP BY brand_name
        """,
        2,
    ),
    (
        "subquery",
        """
        SELECT campaign_id, campaign_name, revenue_usd
          FROM analytics.campaign_effectiveness
         WHERE revenue_usd > (SELECT avg(revenue_usd) FROM analytics.campaign_effectiveness)
           AND campaign_id IN (SELECT campaign_id FROM analytics.campaign_channel_daily WHERE channel = 'email')
        """,
        -1,
    ),
    (
        "join",
        """
        SELECT e.campaign_name, d.channel, sum(d.reach) AS reach, sum(d.sales_count) AS sales,
               coalesce(nullif(sum(d.cost_usd), 0), 1) AS cost, greatest(max(d.likes), 0) AS top_likes,
               upper(left(e.brand_name, 3)) AS brand_code, cardinality(e.channels) AS channel_count
          FROM analytics.campaign_effectiveness AS e
          JOIN analytics.campaign_channel_daily AS d ON d.campaign_id = e.campaign_id
         GROUP BY e.campaign_name, d.channel, e.brand_name, e.channels
         ORDER BY reach DESC
         LIMIT 5
        """,
        5,
    ),
    (
        "rank-ntile-extract",
        """
        SELECT campaign_id, extract(year FROM starts_on) AS year, to_char(starts_on, 'YYYY-MM') AS month,
               rank() OVER (ORDER BY revenue_usd DESC) AS revenue_rank,
               dense_rank() OVER (ORDER BY brand_name) AS brand_rank,
               ntile(2) OVER (ORDER BY reach) AS half,
               (ends_on - starts_on) AS days, string_agg(c, ',' ORDER BY c) AS channels
          FROM analytics.campaign_effectiveness, unnest(channels) AS c
         GROUP BY campaign_id
        """,
        CAMPAIGNS,
    ),
    (
        "union-etl-log",
        """
        SELECT 'campaigns' AS what, count(*) AS n FROM analytics.campaign_effectiveness
        UNION ALL
        SELECT 'etl runs', count(*) FROM etl.run_log
        """,
        2,
    ),
]


@pytest.fixture(scope="module")
def seeded(sales_db: str) -> str:
    """The sales database with CAMPAIGNS campaigns (two brands) and 2 channels x 3 days of results each."""
    start = date(2024, 1, 30)
    with psycopg.connect(sales_db, autocommit=True) as conn:
        for i in range(1, CAMPAIGNS + 1):
            conn.execute(
                "INSERT INTO analytics.campaign_effectiveness (campaign_id, campaign_name, brand_name, status,"
                " objective, starts_on, ends_on, channels, reach, clients_reached, conversions, cost_usd, revenue_usd)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (i, f"Campaign {i}", "Acme" if i % 2 else "Globex", "active" if i < 4 else "finished",
                 "awareness" if i % 3 else "conversion", start, start + timedelta(days=30), ["email", "instagram"],
                 1000 * i, 100, 10 * i, 100 * i, 150 * i),
            )  # fmt: skip
            for channel in ("email", "instagram"):
                for offset in range(3):
                    conn.execute(
                        "INSERT INTO analytics.campaign_channel_daily (campaign_id, channel, day, reach, views, likes,"
                        " sales_count, cost_usd, revenue_usd) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        (i, channel, start + timedelta(days=offset), 10 * i + offset, 20 * i, i, offset, 5, 7 * i),
                    )
    return sales_db


@pytest.fixture
def conn(seeded: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(seeded, autocommit=True) as connection:
        yield connection


@pytest.mark.postgres
@pytest.mark.parametrize(("sql", "expected_rows"), [a[1:] for a in ANALYTICAL], ids=[a[0] for a in ANALYTICAL])
def test_analytical_queries_pass_and_run(conn: psycopg.Connection[Any], sql: str, expected_rows: int) -> None:
    query = check_select(sql, allowed_schemas=SCHEMAS)
    assert query.relations and set(query.relations) <= {
        "analytics.campaign_effectiveness",
        "analytics.campaign_channel_daily",
        "etl.run_log",
    }
    rows, truncated = run_select(conn, query, max_rows=500, timeout_ms=5000, role=READER)
    assert not truncated
    assert rows
    if expected_rows >= 0:
        assert len(rows) == expected_rows


@pytest.mark.postgres
def test_values_come_back_json_friendly(conn: psycopg.Connection[Any]) -> None:
    query = check_select(
        "SELECT campaign_id, starts_on, roi, success_pct, refreshed_at, channels, budget_usd, 1 AS x, 2 AS x"
        " FROM analytics.campaign_effectiveness WHERE campaign_id = 2",
        allowed_schemas=SCHEMAS,
    )
    (row,), _ = run_select(conn, query, max_rows=10, timeout_ms=5000, role=READER)
    assert row["campaign_id"] == 2
    assert row["starts_on"] == "2024-01-30"
    assert row["roi"] == pytest.approx(0.5)  # derived by the trigger: (300 - 200) / 200
    assert row["success_pct"] == pytest.approx(20.0)
    assert isinstance(row["refreshed_at"], str) and "T" in row["refreshed_at"]
    assert row["channels"] == ["email", "instagram"]
    assert row["budget_usd"] == 0.0
    assert (row["x"], row["x_2"]) == (1, 2)


@pytest.mark.postgres
def test_row_cap_says_honestly_whether_rows_were_left_out(conn: psycopg.Connection[Any]) -> None:
    query = check_select("SELECT campaign_id FROM analytics.campaign_effectiveness ORDER BY 1", allowed_schemas=SCHEMAS)
    rows, truncated = run_select(conn, query, max_rows=CAMPAIGNS - 1, timeout_ms=5000, role=READER)
    assert truncated and [r["campaign_id"] for r in rows] == list(range(1, CAMPAIGNS))
    rows, truncated = run_select(conn, query, max_rows=CAMPAIGNS, timeout_ms=5000, role=READER)
    assert not truncated and len(rows) == CAMPAIGNS
    with pytest.raises(ToolFailure, match="max_rows must be a positive integer"):
        run_select(conn, query, max_rows=0, timeout_ms=5000, role=READER)


@pytest.mark.postgres
def test_a_long_query_is_cancelled_at_the_timeout(conn: psycopg.Connection[Any]) -> None:
    query = check_select("SELECT count(*) FROM generate_series(1, 100000000)", allowed_schemas=SCHEMAS)
    with pytest.raises(ToolFailure, match=r"^the query ran longer than 50 ms and was cancelled"):
        run_select(conn, query, max_rows=10, timeout_ms=50, role=READER)
    # The connection is usable afterwards and the timeout did not outlive the transaction.
    assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)


@pytest.mark.postgres
def test_the_transaction_is_read_only_and_rolled_back(seeded: str) -> None:
    """As the superuser and with the guard bypassed, only the read-only transaction stands between query and data."""
    with psycopg.connect(seeded, autocommit=True) as admin:
        admin.execute(
            "CREATE OR REPLACE FUNCTION analytics.ps_test_touch() RETURNS int LANGUAGE sql AS"
            " $$ UPDATE analytics.campaign_effectiveness SET reach = reach + 1 RETURNING 1 $$"
        )
    try:
        with psycopg.connect(seeded) as conn:  # not autocommit: run_select must leave no transaction open
            for sql in (
                "SELECT analytics.ps_test_touch()",
                "SELECT * FROM analytics.campaign_effectiveness FOR UPDATE",
            ):
                with pytest.raises(ToolFailure, match=r"^the query tried to write: cannot execute .* read-only"):
                    run_select(conn, GuardedQuery(sql, [], []), max_rows=10, timeout_ms=5000, role=None)
            rows, _ = run_select(
                conn, GuardedQuery("SELECT current_setting('transaction_read_only') AS ro", [], []),
                max_rows=1, timeout_ms=5000, role=None,
            )  # fmt: skip
            assert rows == [{"ro": "on"}]
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert conn.execute("SHOW transaction_read_only").fetchone() == ("off",)
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
            conn.rollback()
            total = conn.execute("SELECT sum(reach) FROM analytics.campaign_effectiveness").fetchone()
        assert total == (sum(1000 * i for i in range(1, CAMPAIGNS + 1)),)
    finally:
        with psycopg.connect(seeded, autocommit=True) as admin:
            admin.execute("DROP FUNCTION analytics.ps_test_touch()")


@pytest.mark.postgres
def test_errors_are_one_line_without_sql_text(conn: psycopg.Connection[Any]) -> None:
    query = check_select("SELECT no_such_column FROM analytics.campaign_effectiveness", allowed_schemas=SCHEMAS)
    with pytest.raises(ToolFailure) as caught:
        run_select(conn, query, max_rows=10, timeout_ms=5000, role=READER)
    assert str(caught.value) == 'the database rejected the query: column "no_such_column" does not exist'


def dsn_as(dsn: str, user: str) -> str:
    """`dsn` (postgresql://postgres@host:port/db) for another user."""
    base, _, database = dsn.rpartition("/")
    scheme, _, host = base.partition("://")
    return f"{scheme}://{user}@{host.rpartition('@')[2]}/{database}"


@pytest.fixture
def make_login(seeded: str) -> Iterator[Callable[..., str]]:
    """Factory of LOGIN roles of this test only (trust auth on 127.0.0.1); returns the DSN; all are dropped after."""
    created: list[str] = []

    def make(*member_of: str) -> str:
        name = f"ps_mcp_test_{uuid.uuid4().hex[:10]}"
        membership = f" IN ROLE {', '.join(member_of)}" if member_of else ""
        with psycopg.connect(seeded, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {name} LOGIN{membership}")
        created.append(name)
        return dsn_as(seeded, name)

    yield make
    with psycopg.connect(seeded, autocommit=True) as admin:
        for name in created:
            admin.execute(f"DROP ROLE IF EXISTS {name}")


@pytest.fixture
def reader_login(make_login: Callable[..., str]) -> str:
    return make_login(READER)


@pytest.mark.postgres
def test_the_reader_role_cannot_read_outside_its_grants(conn: psycopg.Connection[Any]) -> None:
    bypassed = GuardedQuery("SELECT email FROM portal.users", ["portal.users"], [])
    with pytest.raises(ToolFailure, match=r"^the read-only role may not read schema portal$"):
        run_select(conn, bypassed, max_rows=10, timeout_ms=5000, role=READER)


@pytest.mark.postgres
def test_a_login_outside_the_role_is_told_so(make_login: Callable[..., str]) -> None:
    with (
        psycopg.connect(make_login(), autocommit=True) as weak,
        pytest.raises(ToolFailure, match=f"^this database login may not act as role {READER}"),
    ):
        run_select(weak, GuardedQuery("SELECT 1", [], []), max_rows=1, timeout_ms=1000, role=READER)


WRITES = [
    ("update", "UPDATE analytics.campaign_effectiveness SET reach = 0"),
    ("delete", "DELETE FROM analytics.campaign_channel_daily"),
    (
        "insert-portal",
        "INSERT INTO portal.users (company_id, email, full_name) VALUES (1, 'x@example.com', 'X')",
    ),
    ("create-table", "CREATE TABLE analytics.x (a int)"),
    ("drop-table", "DROP TABLE analytics.campaign_channel_daily"),
    ("select-portal", "SELECT * FROM portal.users"),
    ("truncate", "TRUNCATE analytics.campaign_effectiveness"),
]


@pytest.mark.postgres
@pytest.mark.parametrize("sql", [w[1] for w in WRITES], ids=[w[0] for w in WRITES])
def test_with_the_guard_bypassed_the_role_still_refuses(reader_login: str, sql: str) -> None:
    # Autocommit, no read-only transaction: the refusal comes from the role's privileges alone.
    with psycopg.connect(reader_login, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM analytics.campaign_effectiveness").fetchone() == (CAMPAIGNS,)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql)


@pytest.mark.postgres
def test_run_select_as_the_reader_cannot_write_even_unguarded(reader_login: str) -> None:
    with psycopg.connect(reader_login, autocommit=True) as conn:
        for sql, fragment in (
            ("SELECT * FROM analytics.campaign_effectiveness FOR UPDATE", "the query tried to write"),
            ("SELECT * FROM portal.users", "the read-only role may not read schema portal"),
        ):
            with pytest.raises(ToolFailure, match=fragment):
                run_select(conn, GuardedQuery(sql, [], []), max_rows=10, timeout_ms=5000, role=READER)
        rows, _ = run_select(
            conn, GuardedQuery("SELECT count(*) AS n FROM analytics.campaign_effectiveness", [], []),
            max_rows=1, timeout_ms=5000, role=READER,
        )  # fmt: skip
        assert rows == [{"n": CAMPAIGNS}]


# --------------------------------------------------------------------------- T-SQL

ADS_SCHEMAS = ("ads", "perf")

HOSTILE_TSQL: list[tuple[str, str, str]] = [
    ("xp-cmdshell", "EXEC xp_cmdshell 'dir'", "found EXEC"),
    ("execute-proc", "EXECUTE ads.ADSSP_CreateCampaign", "found EXEC"),
    ("two-statements", "SELECT 1; DROP TABLE x", "only one statement is allowed (found 2)"),
    ("two-batches", "SELECT 1\nGO\nDROP TABLE ads.ads", "only one statement is allowed"),
    ("select-into", "SELECT ad_id INTO ads.copy FROM ads.ads", "SELECT ... INTO creates a table"),
    ("openrowset", "SELECT * FROM OPENROWSET('SQLNCLI', 'Server=x;', 'SELECT 1') AS r", "OPENROWSET reads outside"),
    ("openquery", "SELECT * FROM OPENQUERY(crm, 'DELETE FROM t')", "OPENQUERY reads outside"),
    ("waitfor", "WAITFOR DELAY '00:00:10'", "found WAITFOR"),
    ("updlock", "SELECT * FROM ads.ads WITH (UPDLOCK)", "hint UPDLOCK is not allowed"),
    ("holdlock", "SELECT * FROM ads.campaigns WITH (NOLOCK, HOLDLOCK)", "hint HOLDLOCK is not allowed"),
    ("tablockx-in-subquery", "SELECT 1 WHERE 1 = (SELECT 1 FROM ads.ads WITH (TABLOCKX))", "hint TABLOCKX"),
    ("sys-objects", "SELECT name FROM sys.objects", "system catalog sys.objects is not readable"),
    ("information-schema", "SELECT * FROM INFORMATION_SCHEMA.TABLES", "system catalog INFORMATION_SCHEMA.TABLES"),
    ("master-db", "SELECT * FROM master.sys.sql_logins", "system catalog master.sys.sql_logins"),
    ("sysobjects", "SELECT * FROM sysobjects", "system catalog sysobjects is not readable"),
    ("other-schema", "SELECT * FROM dbo.secrets", "table dbo.secrets is outside the readable schemas: ads, perf"),
    ("unqualified", "SELECT * FROM daily_results", "daily_results must be schema-qualified"),
    ("insert", "INSERT INTO ads.channels (channel_code) VALUES ('x')", "found INSERT"),
    ("update", "UPDATE ads.campaigns SET budget_usd = 0", "found UPDATE"),
    ("delete", "DELETE FROM perf.daily_results", "found DELETE"),
    (
        "merge",
        "MERGE ads.channels AS t USING ads.markets AS s ON t.channel_code = s.market_code WHEN MATCHED THEN DELETE;",
        "found MERGE",
    ),
    ("truncate", "TRUNCATE TABLE perf.daily_results", "found TRUNCATE"),
    ("unknown-function", "SELECT HOST_NAME() AS h", "function HOST_NAME is not allowed"),
    ("user-function", "SELECT dbo.fn_secret(1)", "function dbo.fn_secret is not allowed: only built-in"),
    ("cast-sql-variant", "SELECT CAST(ad_id AS sql_variant) FROM ads.ads", "cast to sql_variant is not allowed"),
    ("system-variable", "SELECT @@SERVERNAME", "system variable @@SERVERNAME is not allowed"),
    ("unparsable", "SELECT FROM WHERE", "does not parse as T-SQL"),
    ("empty", "", "the query is empty"),
]


@pytest.mark.parametrize(("sql", "fragment"), [h[1:] for h in HOSTILE_TSQL], ids=[h[0] for h in HOSTILE_TSQL])
def test_hostile_tsql_is_rejected_with_a_specific_reason(sql: str, fragment: str) -> None:
    with pytest.raises(QueryRejected) as caught:
        check_tsql_select(sql, allowed_schemas=ADS_SCHEMAS)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


ANALYTICAL_TSQL: list[tuple[str, str, list[str]]] = [
    (
        "daily-by-channel",
        """
        SELECT a.channel_code, SUM(r.views) AS views, SUM(r.reach) AS reach,
               ROUND(SUM(r.revenue_usd) - SUM(r.cost_usd), 2) AS margin
          FROM perf.daily_results AS r
          JOIN ads.ads AS a ON a.ad_id = r.ad_id
         WHERE r.result_date >= DATEADD(day, -30, CAST(GETDATE() AS date))
         GROUP BY a.channel_code
         ORDER BY views DESC;
        """,
        ["ads.ads", "perf.daily_results"],
    ),
    (
        "cte-window",
        """
        WITH weekly AS (
            SELECT r.ad_id, DATEPART(week, r.result_date) AS wk, SUM(r.likes + r.shares + r.comments) AS reactions
              FROM perf.daily_results AS r WITH (NOLOCK)
             GROUP BY r.ad_id, DATEPART(week, r.result_date)
        )
        SELECT w.ad_id, w.wk, w.reactions,
               LAG(w.reactions) OVER (PARTITION BY w.ad_id ORDER BY w.wk) AS previous,
               ROW_NUMBER() OVER (PARTITION BY w.ad_id ORDER BY w.reactions DESC) AS best
          FROM weekly AS w
        """,
        ["perf.daily_results"],
    ),
    (
        "campaign-budget",
        """
        SELECT TOP (20) b.brand_name, c.campaign_name, c.budget_usd,
               DATEDIFF(day, c.starts_on, c.ends_on) AS days,
               ISNULL(NULLIF(c.campaign_status, 'draft'), 'not started') AS status,
               IIF(c.budget_usd > 10000, 'large', 'small') AS size,
               RANK() OVER (ORDER BY c.budget_usd DESC) AS budget_rank
          FROM ads.campaigns AS c
          JOIN ads.brands AS b ON b.brand_id = c.brand_id
         WHERE YEAR(c.starts_on) = 2024
        """,
        ["ads.brands", "ads.campaigns"],
    ),
    (
        "markets-subquery",
        """
        SELECT m.country_code, COUNT(DISTINCT m.market_code) AS markets,
               STRING_AGG(m.city, ', ') AS cities, UPPER(LEFT(m.region_name, 3)) AS region
          FROM [ads].[markets] AS m
         WHERE m.market_code IN (SELECT r.market_code FROM perf.daily_results AS r WHERE r.sales > 0)
         GROUP BY m.country_code, UPPER(LEFT(m.region_name, 3))
        """,
        ["ads.markets", "perf.daily_results"],
    ),
    (
        "union",
        """
        SELECT channel_code, display_name FROM ads.channels WHERE is_social = 1
        UNION ALL
        SELECT channel_code, CONVERT(nvarchar(60), channel_kind) FROM ads.channels WHERE is_social = 0
        """,
        ["ads.channels"],
    ),
]


@pytest.mark.parametrize(("sql", "relations"), [a[1:] for a in ANALYTICAL_TSQL], ids=[a[0] for a in ANALYTICAL_TSQL])
def test_analytical_tsql_passes(sql: str, relations: list[str]) -> None:
    query = check_tsql_select(sql, allowed_schemas=ADS_SCHEMAS)
    assert query.relations == relations
    assert not query.sql.endswith(";")


def test_run_tsql_select_on_promptads() -> None:
    if not os.environ.get("PROMPTSALES_ADS_URL"):
        pytest.skip("PROMPTSALES_ADS_URL is not set: no SQL Server to run T-SQL against on this machine")
    from generators.ads_client import connect

    query = check_tsql_select(
        "SELECT channel_code FROM ads.channels ORDER BY channel_code", allowed_schemas=ADS_SCHEMAS
    )
    conn = connect(autocommit=False)
    try:
        rows, truncated = run_tsql_select(conn, query, max_rows=3, timeout_ms=5000)
        assert len(rows) == 3 and truncated
        assert set(rows[0]) == {"channel_code"}
        rows, truncated = run_tsql_select(conn, query, max_rows=1000, timeout_ms=5000)
        assert not truncated and len(rows) > 3
    finally:
        conn.close()
