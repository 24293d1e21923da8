"""PromptSales on real PostgreSQL: triggers, the cursor routine, roles and grants, erasure, retention."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(sales_db: str) -> Iterator[psycopg.Connection]:
    """A connection whose work is rolled back after the test, so tests share one deployed database."""
    with psycopg.connect(sales_db) as conn:
        yield conn
        conn.rollback()


def one(conn: psycopg.Connection, sql: str, *params: object) -> tuple:
    row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return row


def new_company(conn: psycopg.Connection, brand: str = "Northwind Coffee") -> int:
    return one(
        conn,
        "INSERT INTO portal.companies (legal_name, brand_name, industry, country_code)"
        " VALUES (%s, %s, 'Food & Beverage', 'US') RETURNING company_id",
        f"{brand} Inc.",
        brand,
    )[0]


def new_user(conn: psycopg.Connection, company_id: int, email: str, name: str = "Dana Whitfield") -> int:
    return one(
        conn,
        "INSERT INTO portal.users (company_id, email, full_name) VALUES (%s, %s, %s) RETURNING user_id",
        company_id,
        email,
        name,
    )[0]


# --------------------------------------------------------------------------- triggers


def test_audit_trigger_records_insert_update_delete_but_not_no_op_updates(db: psycopg.Connection) -> None:
    company = new_company(db)
    db.execute("UPDATE portal.companies SET website = 'https://northwind.example' WHERE company_id = %s", (company,))
    db.execute("UPDATE portal.companies SET website = website WHERE company_id = %s", (company,))  # no change
    db.execute("DELETE FROM portal.companies WHERE company_id = %s", (company,))
    rows = db.execute(
        "SELECT operation, old_row ->> 'website', new_row ->> 'website' FROM audit.change_log"
        " WHERE table_name = 'portal.companies' AND row_key = jsonb_build_object('company_id', %s::bigint)"
        " ORDER BY change_id",
        (company,),
    ).fetchall()
    assert rows == [
        ("I", None, None),
        ("U", None, "https://northwind.example"),
        ("D", "https://northwind.example", None),
    ]


def test_audit_log_records_the_portal_user_from_the_session_setting(db: psycopg.Connection) -> None:
    db.execute("SELECT set_config('promptsales.app_user', 'dana@northwind.example', true)")
    company = new_company(db, "Contoso Outdoor")
    app_user = one(
        db,
        "SELECT app_user FROM audit.change_log WHERE table_name = 'portal.companies'"
        " AND row_key = jsonb_build_object('company_id', %s::bigint)",
        company,
    )[0]
    assert app_user == "dana@northwind.example"


def test_updated_at_moves_only_when_the_row_really_changes(sales_db: str) -> None:
    with psycopg.connect(sales_db, autocommit=True) as conn:
        company = new_company(conn, "Fabrikam Tools")
        conn.execute(
            "UPDATE portal.companies SET updated_at = now() - interval '1 day' WHERE company_id = %s", (company,)
        )
        stale = one(conn, "SELECT updated_at FROM portal.companies WHERE company_id = %s", company)[0]
        conn.execute("UPDATE portal.companies SET industry = industry WHERE company_id = %s", (company,))
        assert one(conn, "SELECT updated_at FROM portal.companies WHERE company_id = %s", company)[0] == stale
        conn.execute("UPDATE portal.companies SET industry = 'Hardware' WHERE company_id = %s", (company,))
        moved = one(conn, "SELECT updated_at FROM portal.companies WHERE company_id = %s", company)[0]
        assert moved > stale
        conn.execute("DELETE FROM portal.companies WHERE company_id = %s", (company,))


def insert_summary(conn: psycopg.Connection, campaign_id: int, **values: object) -> None:
    base: dict[str, object] = {
        "campaign_id": campaign_id,
        "campaign_name": f"Campaign {campaign_id}",
        "brand_name": "Northwind Coffee",
        "status": "finished",
        "objective": "conversion",
        "starts_on": "2025-11-01",
        "ends_on": "2025-12-31",
    }
    base.update(values)
    cols = ", ".join(base)
    marks = ", ".join(["%s"] * len(base))
    conn.execute(f"INSERT INTO analytics.campaign_effectiveness ({cols}) VALUES ({marks})", tuple(base.values()))


def test_derived_ratios_are_computed_by_trigger(db: psycopg.Connection) -> None:
    insert_summary(
        db,
        910001,
        cost_usd=Decimal("400.00"),
        revenue_usd=Decimal("1000.00"),
        clients_reached=800,
        conversions=120,
        reactions=2000,
        negative_reactions=150,
    )
    insert_summary(db, 910002, cost_usd=0, revenue_usd=0)
    rows = db.execute(
        "SELECT campaign_id, roi, success_pct, negative_pct FROM analytics.campaign_effectiveness"
        " WHERE campaign_id IN (910001, 910002) ORDER BY campaign_id"
    ).fetchall()
    assert rows == [(910001, Decimal("1.5000"), Decimal("15.000"), Decimal("7.500")), (910002, None, None, None)]
    # An UPDATE of the inputs re-derives: the ratios can never go stale.
    db.execute("UPDATE analytics.campaign_effectiveness SET revenue_usd = 200 WHERE campaign_id = 910001")
    assert one(db, "SELECT roi FROM analytics.campaign_effectiveness WHERE campaign_id = 910001")[0] == Decimal(
        "-0.5000"
    )


def test_reviewer_decision_flows_into_the_ai_usage_log(db: psycopg.Connection) -> None:
    company = new_company(db, "Litware Labs")
    reviewer = new_user(db, company, "reviewer@litware.example")
    usage = one(
        db,
        "INSERT INTO ai.usage_log (actor, tool, provider, prompt, result)"
        " VALUES ('mcp:content', 'createCampaignMessages', 'deterministic', 'three messages for moms', 'msg 1')"
        " RETURNING usage_id",
    )[0]
    db.execute(
        "INSERT INTO portal.ai_approvals (usage_id, reviewer_user_id, decision, comment)"
        " VALUES (%s, %s, 'corrected', 'tone down the discount claim')",
        (usage, reviewer),
    )
    status, method, correction = one(
        db, "SELECT validation_status, validation_method, correction FROM ai.usage_log WHERE usage_id = %s", usage
    )
    assert (status, correction) == ("corrected", "tone down the discount claim")
    assert method == f"human review by user {reviewer}"


# --------------------------------------------------------------------------- cursor routine


def test_reminder_dispatcher_alerts_open_tasks_once_and_consumes_the_rest(db: psycopg.Connection) -> None:
    company = new_company(db, "Tailspin Toys")
    owner = new_user(db, company, "owner@tailspin.example")
    open_task, done_task, future_task = (
        one(
            db,
            "INSERT INTO portal.tasks (company_id, assignee_user_id, title, due_at, status, completed_at)"
            " VALUES (%s, %s, %s, '2026-01-10 09:00+00', %s, %s) RETURNING task_id",
            company,
            owner,
            title,
            status,
            completed,
        )[0]
        for title, status, completed in (
            ("Approve holiday creatives", "open", None),
            ("Brief influencers", "done", "2026-01-05 10:00+00"),
            ("Plan spring launch", "open", None),
        )
    )
    for task, remind_at in (
        (open_task, "2026-01-09 09:00+00"),
        (done_task, "2026-01-09 09:00+00"),
        (future_task, "2026-03-01 09:00+00"),
    ):
        db.execute("INSERT INTO portal.task_reminders (task_id, remind_at) VALUES (%s, %s)", (task, remind_at))

    now = "2026-01-09 12:00+00"
    assert one(db, "SELECT portal.dispatch_due_reminders(%s)", now)[0] == 1
    alerts = db.execute(
        "SELECT kind, message FROM portal.alerts WHERE user_id = %s ORDER BY alert_id", (owner,)
    ).fetchall()
    assert alerts == [("reminder", 'Task "Approve holiday creatives" is due 2026-01-10 09:00')]
    sent = dict(
        db.execute(
            "SELECT task_id, sent_at IS NOT NULL FROM portal.task_reminders WHERE task_id IN (%s, %s, %s)",
            (open_task, done_task, future_task),
        ).fetchall()
    )
    assert sent == {open_task: True, done_task: True, future_task: False}
    # Running again sends nothing twice.
    assert one(db, "SELECT portal.dispatch_due_reminders(%s)", now)[0] == 0


def test_reminder_dispatcher_uses_a_real_cursor(db: psycopg.Connection) -> None:
    source = one(db, "SELECT prosrc FROM pg_proc WHERE proname = 'dispatch_due_reminders'")[0]
    assert "CURSOR FOR" in source and "WHERE CURRENT OF due_reminders" in source


# --------------------------------------------------------------------------- roles and grants


@pytest.mark.parametrize(
    ("role", "statement", "allowed"),
    [
        ("promptsales_analyst", "SELECT count(*) FROM analytics.campaign_effectiveness", True),
        ("promptsales_analyst", "SELECT count(*) FROM portal.companies", True),
        ("promptsales_analyst", "SELECT count(*) FROM portal.users", False),  # PII
        ("promptsales_analyst", "DELETE FROM analytics.campaign_effectiveness", False),
        ("promptsales_mcp_reader", "SELECT count(*) FROM analytics.campaign_channel_daily", True),
        ("promptsales_mcp_reader", "UPDATE analytics.campaign_effectiveness SET reach = 0", False),
        ("promptsales_mcp_reader", "SELECT count(*) FROM portal.contacts", False),
        (
            "promptsales_mcp_reader",
            "INSERT INTO ai.usage_log (actor, tool, provider, prompt, result) VALUES ('a', 't', 'p', 'q', 'r')",
            True,
        ),
        ("promptsales_etl", "UPDATE analytics.campaign_effectiveness SET reach = reach", True),
        ("promptsales_etl", "SELECT count(*) FROM portal.users", False),
        ("promptsales_app", "SELECT count(*) FROM portal.users", True),
        ("promptsales_app", "DELETE FROM audit.change_log", False),
        ("promptsales_auditor", "SELECT count(*) FROM audit.change_log", True),
        ("promptsales_auditor", "UPDATE ai.usage_log SET result = ''", False),
    ],
)
def test_least_privilege_roles(db: psycopg.Connection, role: str, statement: str, allowed: bool) -> None:
    db.execute(f"SET LOCAL ROLE {role}")
    if allowed:
        db.execute(statement)
    else:
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            db.execute(statement)


def test_public_gets_nothing(db: psycopg.Connection) -> None:
    db.execute("CREATE ROLE ps_test_nobody NOLOGIN")
    db.execute("SET LOCAL ROLE ps_test_nobody")
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for schema analytics"):
        db.execute("SELECT 1 FROM analytics.campaign_effectiveness")


def test_app_writes_are_audited_under_the_login_without_any_grant_on_the_audit_log(sales_db: str) -> None:
    """A pooled app login (member of promptsales_app) writes; the audit row names that login."""
    login = f"ps_test_app_login_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(sales_db, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {login} LOGIN IN ROLE promptsales_app")
        company = new_company(admin, f"Adventure Works {login}")
        try:
            with psycopg.connect(sales_db.replace("postgres@", f"{login}@", 1)) as app:
                app.execute("SET ROLE promptsales_app")
                app.execute("UPDATE portal.companies SET industry = 'Outdoor' WHERE company_id = %s", (company,))
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute("SELECT count(*) FROM audit.change_log")
                app.rollback()
                app.execute("SET ROLE promptsales_app")
                app.execute("UPDATE portal.companies SET industry = 'Outdoor' WHERE company_id = %s", (company,))
                app.commit()
            db_user = one(
                admin,
                "SELECT db_user FROM audit.change_log WHERE table_name = 'portal.companies' AND operation = 'U'"
                " AND row_key = jsonb_build_object('company_id', %s::bigint)",
                company,
            )[0]
            assert db_user == login
        finally:
            admin.execute("DELETE FROM portal.companies WHERE company_id = %s", (company,))
            admin.execute(f"DROP ROLE {login}")


# --------------------------------------------------------------------------- GDPR erasure and retention


def test_erasure_anonymizes_the_person_redacts_history_and_keeps_totals(db: psycopg.Connection) -> None:
    company = new_company(db, "Wide World Importers")
    user = new_user(db, company, "maria.gonzalez@wwi.example", "María González")
    other = new_user(db, company, "li.wei@wwi.example", "Li Wei")
    db.execute("UPDATE portal.users SET full_name = 'María G. González' WHERE user_id = %s", (user,))
    strategy = one(
        db,
        "INSERT INTO portal.strategies (company_id, name, objective, starts_on, ends_on, owner_user_id)"
        " VALUES (%s, 'Holiday push', 'conversion', '2025-11-01', '2026-01-31', %s) RETURNING strategy_id",
        company,
        user,
    )[0]
    db.execute(
        "INSERT INTO portal.budgets (strategy_id, sub_company_code, period_start, period_end, allocated_usd,"
        " spent_usd) VALUES (%s, 'ads', '2025-11-01', '2026-01-31', 50000, 31250.50)",
        (strategy,),
    )
    db.execute(
        "INSERT INTO ai.usage_log (user_id, actor, tool, provider, prompt, result)"
        " VALUES (%s, 'maria', 'getContent', 'deterministic', 'coffee beans', 'img-1')",
        (user,),
    )
    totals_sql = (
        "SELECT (SELECT sum(allocated_usd) + sum(spent_usd) FROM portal.budgets),"
        " (SELECT count(*) FROM ai.usage_log), (SELECT count(*) FROM portal.users),"
        " (SELECT count(*) FROM portal.strategies WHERE owner_user_id = %s)"
    )
    before = one(db, totals_sql, user)

    request = one(db, "SELECT privacy.erase_person('user', %s)", user)[0]

    assert one(db, totals_sql, user) == before
    email, name, status = one(db, "SELECT email, full_name, status FROM portal.users WHERE user_id = %s", user)
    assert (email, name, status) == (f"erased-user-{user}@erased.invalid", "Erased user", "erased")
    leaked = one(
        db,
        "SELECT count(*) FROM audit.change_log WHERE old_row::text ILIKE '%%gonz%%' OR new_row::text ILIKE '%%gonz%%'"
        " OR old_row::text LIKE '%%maria.gonzalez%%' OR new_row::text LIKE '%%maria.gonzalez%%'",
    )[0]
    assert leaked == 0, "no audit row may still hold the erased person's data"
    # The other person's history is untouched.
    assert (
        one(
            db,
            "SELECT count(*) FROM audit.change_log WHERE new_row ->> 'email' = 'li.wei@wwi.example'",
        )[0]
        == 1
    )
    completed, anonymized, redacted = one(
        db,
        "SELECT completed_at IS NOT NULL, rows_anonymized, audit_rows_redacted FROM privacy.erasure_requests"
        " WHERE request_id = %s",
        request,
    )
    assert (completed, anonymized) == (True, 1) and redacted >= 3
    assert other != user


def test_erasure_of_an_unknown_person_is_a_clear_error(db: psycopg.Connection) -> None:
    with pytest.raises(errors.NoDataFound, match="user 987654321 does not exist"):
        db.execute("SELECT privacy.erase_person('user', 987654321)")


def test_audit_retention_purges_only_rows_older_than_90_days(db: psycopg.Connection) -> None:
    db.execute("DELETE FROM audit.change_log")
    db.execute(
        "INSERT INTO audit.change_log (changed_at, table_name, operation, row_key)"
        " SELECT now() - make_interval(days => d), 'portal.companies', 'U', jsonb_build_object('company_id', d)"
        " FROM generate_series(1, 120) AS d"
    )
    assert one(db, "SELECT audit.purge_change_log(interval '90 days', 7)")[0] == 30
    assert one(db, "SELECT count(*), max(now() - changed_at) < interval '91 days' FROM audit.change_log") == (90, True)
    with pytest.raises(errors.InvalidParameterValue, match="at least 90 days"):
        db.execute("SELECT audit.purge_change_log(interval '30 days')")
