"""The explanatory PromptSales scripts on real PostgreSQL: each one shows what its header says it teaches.

Scripts are run the way psql runs a file: statement by statement on one autocommit connection, an error is
recorded and the next statement still runs (the GRANT/REVOKE script relies on that for its expected
"permission denied"). Results are looked up by the `-- Step N:` marker that precedes each statement. The
deadlock script is split on its `-- session A|B, step N` markers and run on two connections in step order.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from itertools import product
from pathlib import Path
from typing import Any

import pglast
import psycopg
import pytest
from psycopg import errors, sql

from generators.model import load_model, load_models
from generators.render_etl import etl_routines, etl_tables

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
MODEL = load_model(ROOT / "model" / "sales.yaml")
SCRIPTS = [ROOT / rel for rel in json.loads((ROOT / "sql" / "manifest.json").read_text())["stores"]["sales"]["scripts"]]
SCHEMAS = [s.name for s in MODEL.schemas]
ETL = next(m for m in load_models(ROOT / "model", root=ROOT) if m.store == "etl")
ETL_TABLES = set(etl_tables(ETL))
"""Tables model/etl.yaml renders into this store (the delta ETL's staging): the catalog script counts them as modelled."""
ETL_ROUTINES = {r.split(" ", 1)[1].split("(")[0] for r in etl_routines(ETL)}
STEP_MARKER = re.compile(r"^-- Step (\d+):", re.MULTILINE)
SESSION_MARKER = re.compile(r"^-- session ([AB]), step (\d+)\b.*$", re.MULTILINE)
TEACHING_ORDER = [
    "01_coalesce",
    "02_case",
    "03_joins",
    "04_catalog_metadata",
    "05_triggers",
    "06_cursors",
    "07_grant_revoke",
    "08_deadlocks",
    "09_query_monitoring",
]
APP_NAME = "ps-scripts-test"
WAIT_LIMIT_S = 15.0


def script(topic: str) -> Path:
    """The rendered script named `NN_<topic>` in the manifest."""
    found = [p for p in SCRIPTS if p.stem.split("_", 1)[1] == topic]
    assert len(found) == 1, f"expected one script for {topic!r} in sql/manifest.json, found {found}"
    return found[0]


# --------------------------------------------------------------------------- one-session runner


@dataclass
class Outcome:
    """What one statement of a script did."""

    step: int
    sql: str
    status: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    error: psycopg.Error | None = None


@dataclass
class ScriptRun:
    outcomes: list[Outcome]

    def result(self, step: int) -> Outcome:
        """The last statement of `step` that returned a result set (the one a reader looks at)."""
        found = [o for o in self.outcomes if o.step == step and o.columns]
        assert found, f"step {step} returned no result set"
        return found[-1]

    def rows(self, step: int) -> list[tuple[Any, ...]]:
        return self.result(step).rows

    def records(self, step: int) -> list[dict[str, Any]]:
        result = self.result(step)
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    def errors(self) -> list[tuple[int, str | None]]:
        return [(o.step, o.error.sqlstate) for o in self.outcomes if o.error is not None]

    def error_messages(self) -> list[tuple[int, type[psycopg.Error], str]]:
        return [(o.step, type(o.error), str(o.error).splitlines()[0]) for o in self.outcomes if o.error is not None]


def run_script(conn: psycopg.Connection, path: Path) -> ScriptRun:
    """Run a script as `psql -f` would: each statement in turn; an error is recorded and the script goes on."""
    outcomes: list[Outcome] = []
    step = 0
    for statement in pglast.split(path.read_text(encoding="utf-8"), with_parser=False):
        markers = STEP_MARKER.findall(statement)
        if markers:
            step = int(markers[-1])
        outcome = Outcome(step, statement)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                outcome.status = cur.statusmessage
                if cur.description is not None:
                    outcome.columns = [c.name for c in cur.description]
                    outcome.rows = cur.fetchall()
        except psycopg.Error as exc:
            outcome.error = exc
        outcomes.append(outcome)
    return ScriptRun(outcomes)


# --------------------------------------------------------------------------- two-session runner


@dataclass
class SessionStep:
    """One `-- session X, step N` section of the deadlock script and what it did."""

    session: str
    number: int
    statements: list[str]
    statuses: list[str] = field(default_factory=list)
    error: psycopg.Error | None = None
    waited: bool = False
    """True when the step was seen waiting for a lock held by the other session."""


def session_steps(path: Path) -> list[SessionStep]:
    parts = SESSION_MARKER.split(path.read_text(encoding="utf-8"))
    return [
        SessionStep(session, int(number), pglast.split(body, with_parser=False))
        for session, number, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True)
    ]


def _execute_step(conn: psycopg.Connection, step: SessionStep) -> None:
    for statement in step.statements:
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                step.statuses.append(cur.statusmessage or "")
        except psycopg.Error as exc:  # like a psql window: the error is the result of this step
            step.error = exc
            return


def _finished_or_waiting(monitor: psycopg.Connection, running: Future[None], pid: int) -> bool:
    """Wait until the step finishes (False) or its backend waits for a lock (True)."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while time.monotonic() < deadline:
        if running.done():
            return False
        row = monitor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        if row is not None and row[0] == "Lock":
            return True
        time.sleep(0.02)
    raise AssertionError(f"a step neither finished nor waited for a lock within {WAIT_LIMIT_S:.0f} s")


def run_two_sessions(dsn: str, steps: list[SessionStep]) -> dict[int, SessionStep]:
    """Run the sections in step order, each on its session's own connection and thread.

    A step whose statement blocks is left waiting (as in a psql window) and the next step goes to the other
    session; a session's next step starts only after its previous one returned.
    """
    conns = {
        name: psycopg.connect(dsn, autocommit=True, application_name=f"ps-scripts-session-{name}") for name in "AB"
    }
    pools = {name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"session-{name}") for name in "AB"}
    running: dict[str, Future[None]] = {}
    try:
        with psycopg.connect(dsn, autocommit=True) as monitor:
            for step in steps:
                previous = running.get(step.session)
                if previous is not None:
                    previous.result(timeout=WAIT_LIMIT_S)
                running[step.session] = pools[step.session].submit(_execute_step, conns[step.session], step)
                step.waited = _finished_or_waiting(monitor, running[step.session], conns[step.session].info.backend_pid)
            for future in running.values():
                future.result(timeout=WAIT_LIMIT_S)
    finally:
        for name, future in running.items():
            if not future.done():
                conns[name].cancel()
        for pool in pools.values():
            pool.shutdown(wait=True)
        for conn in conns.values():
            conn.close()
    return {step.number: step for step in steps}


# --------------------------------------------------------------------------- database state


def fingerprint(conn: psycopg.Connection) -> dict[str, Any]:
    """Every user table's row count and content hash, plus ACLs, routines and the project roles' memberships."""
    state: dict[str, Any] = {}
    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
    ).fetchall()
    for schema, table in tables:
        query = sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} AS t"
        ).format(sql.Identifier(schema, table))
        state[f"{schema}.{table}"] = conn.execute(query).fetchone()
    state["relation acl"] = conn.execute(
        "SELECT c.oid::regclass::text, c.relacl::text FROM pg_class AS c"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s) ORDER BY 1",
        (SCHEMAS,),
    ).fetchall()
    state["schema acl"] = conn.execute(
        "SELECT nspname, nspacl::text FROM pg_namespace WHERE nspname = ANY(%s) ORDER BY 1", (SCHEMAS,)
    ).fetchall()
    state["routines"] = conn.execute(
        "SELECT p.oid::regprocedure::text, md5(p.prosrc), p.proacl::text FROM pg_proc AS p"
        " JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%s) ORDER BY 1",
        (SCHEMAS,),
    ).fetchall()
    state["role memberships"] = conn.execute(
        "SELECT r.rolname, array_agg(m.roleid::regrole::text ORDER BY m.roleid::regrole::text)"
        " FROM pg_roles AS r LEFT JOIN pg_auth_members AS m ON m.member = r.oid"
        " WHERE r.rolname LIKE 'promptsales%' GROUP BY r.rolname ORDER BY 1"
    ).fetchall()
    return state


def statements_tracked(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%'").fetchone()
    return bool(row and row[0])


def wait_for_lock_wait(monitor: psycopg.Connection, pid: int) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while time.monotonic() < deadline:
        row = monitor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        if row is not None and row[0] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited for a lock")


@pytest.fixture
def script_conn(sales_db: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection, like psql's; the script must leave it outside any transaction."""
    with psycopg.connect(sales_db, autocommit=True, application_name=APP_NAME) as conn:
        yield conn
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE, "the script left a transaction open"


# --------------------------------------------------------------------------- structure


def test_manifest_lists_one_script_per_topic_in_teaching_order(root: Path) -> None:
    """Every required topic has exactly one rendered script, numbered in teaching order, none deployed."""
    assert [p.stem for p in SCRIPTS] == TEACHING_ORDER
    assert all(p.is_file() for p in SCRIPTS)
    used = {s.template for s in MODEL.scripts}
    on_disk = {
        p.relative_to(root / "templates" / "plpgsql").as_posix()
        for p in (root / "templates" / "plpgsql" / "scripts").glob("*.sql.j2")
        if not p.name.startswith("_")
    }
    assert on_disk == used, "every script template is listed in model/sales.yaml and vice versa"
    manifest = json.loads((root / "sql" / "manifest.json").read_text())["stores"]["sales"]
    assert not set(manifest["deploy"]) & set(manifest["scripts"])


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script_is_pure_sql_with_a_teaching_header_and_numbered_steps(path: Path) -> None:
    """Each script parses as plain SQL (no psql meta-commands), explains itself, and numbers its steps 1..N."""
    text = path.read_text(encoding="utf-8")
    pglast.parse_sql(text)
    assert not [line for line in text.splitlines() if line.lstrip().startswith("\\")], "psql meta-command"
    for part in ("-- Concept:", "-- Business question:", "-- What to observe:", "-- Leaves no changes:"):
        assert part in text, f"{path.name} header lacks {part!r}"
    markers = SESSION_MARKER.findall(text) if path.stem.endswith("deadlocks") else STEP_MARKER.findall(text)
    numbers = [int(m[1]) if isinstance(m, tuple) else int(m) for m in markers]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers, f"{path.name}: steps {numbers}"


# --------------------------------------------------------------------------- leaves nothing behind


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script_leaves_the_database_unchanged(sales_db: str, script_conn: psycopg.Connection, path: Path) -> None:
    """Running the script changes no row of any table, no privilege, no routine and no role membership."""
    before = fingerprint(script_conn)
    if path.stem.endswith("deadlocks"):
        run_two_sessions(sales_db, session_steps(path))
    else:
        run_script(script_conn, path)
    assert fingerprint(script_conn) == before


# --------------------------------------------------------------------------- COALESCE, CASE, JOIN


def test_coalesce_script_replaces_each_null_with_its_business_meaning(script_conn: psycopg.Connection) -> None:
    """First channel on file, 'never signed in', open-ended periods stay live, empty sums read 0, no /0 error."""
    run = run_script(script_conn, script("coalesce"))
    assert run.errors() == []
    assert run.rows(2) == [
        ("Ava Chen", "ava.chen@demo-northwind.example"),
        ("Luis Ortega", "+1 212 555 0102"),
        ("Mia Patel", "no channel on file"),
    ]
    assert run.rows(3) == [("Dana Whitfield", "2025-12-01"), ("Sam Okafor", "never signed in")]
    # Without COALESCE the open-ended subscriptions compare to NULL (unknown) and a WHERE would drop them.
    assert [(r["tier_code"], r["live_naive"], r["live"]) for r in run.records(4)] == [
        ("ads_growth", None, True),
        ("content_starter", False, False),
        ("crm_team", None, True),
    ]
    assert run.rows(5) == [
        ("Holiday push 2025", Decimal("25000.00"), Decimal("25000.00")),
        ("Spring launch 2026", None, Decimal("0")),
    ]
    assert [(r["campaign_id"], r["revenue_per_dollar"]) for r in run.records(6)] == [
        (9000001, "2.50"),
        (9000003, "0.50"),
        (9000004, "1.02"),
        (9000005, "no spend yet"),
    ]


def test_case_script_bands_sorts_pivots_and_flags_with_first_true_branch(script_conn: psycopg.Connection) -> None:
    """ROI bands (NULL caught first), CASE in ORDER BY, a one-row pivot and budget health thresholds."""
    run = run_script(script_conn, script("case"))
    assert run.errors() == []
    assert [(r["campaign_id"], r["roi"], r["roi_band"]) for r in run.records(2)] == [
        (9000001, Decimal("1.5000"), "profitable"),
        (9000003, Decimal("-0.5000"), "loss"),
        (9000004, Decimal("0.0200"), "break-even"),
        (9000005, None, "no spend yet"),
    ]
    assert [(r["campaign_id"], r["dashboard_label"]) for r in run.records(3)] == [
        (9000003, "running now"),
        (9000004, "on hold"),
        (9000005, "not launched"),
        (9000001, "closed"),
    ]
    assert run.rows(4) == [("Demo Northwind Coffee", 4, 1, 1, 1, 1, Decimal("1306.00"))]
    assert [(r["sub_company_code"], r["spent_pct"], r["budget_health"]) for r in run.records(5)] == [
        ("ads", Decimal("107.5"), "over budget"),
        ("content", Decimal("84.0"), "at risk"),
    ]


def test_joins_script_keeps_unmatched_rows_with_nulls_and_cross_join_multiplies(
    script_conn: psycopg.Connection,
) -> None:
    """LEFT keeps the unsummarized campaign, RIGHT the unregistered summaries, CROSS returns rows(A) x rows(B)."""
    run = run_script(script_conn, script("joins"))
    assert run.errors() == []
    assert [r[0] for r in run.rows(2)] == [9000001, 9000003]  # inner join: matches only
    assert run.rows(3) == [
        (9000001, "Holiday gift boxes", "finished", 120000, Decimal("1000.00")),
        (9000002, "Holiday influencer teasers", None, None, None),
        (9000003, "Always-on search", "active", 40000, Decimal("500.00")),
    ]
    assert run.records(4) == [{"filter_in_where": 1, "filter_in_on": 3}]
    assert [(r["campaign_id"], r["portal_name"]) for r in run.records(5)] == [
        (9000001, "Holiday gift boxes"),
        (9000003, "Always-on search"),
        (9000004, None),
        (9000005, None),
    ]
    assert run.rows(6) == [(True,)]  # A RIGHT JOIN B == B LEFT JOIN A
    sub_companies = [row["display_name"] for row in MODEL.table_map["portal.sub_companies"].rows]
    strategies = ["Holiday push 2025", "Spring launch 2026"]
    assert len(run.rows(7)) == len(strategies) * len(sub_companies)
    assert sorted(run.rows(7)) == sorted(product(strategies, sub_companies))
    grid = {(r["strategy"], r["sub_company_code"]): r["allocated_usd"] for r in run.records(8)}
    assert len(grid) == len(strategies) * len(sub_companies)
    assert {cell: amount for cell, amount in grid.items() if amount is not None} == {
        ("Holiday push 2025", "ads"): Decimal("20000.00"),
        ("Holiday push 2025", "content"): Decimal("5000.00"),
    }


# --------------------------------------------------------------------------- catalog


def test_catalog_script_describes_exactly_the_model(script_conn: psycopg.Connection) -> None:
    """Tables, PII columns, columns, foreign keys, triggers and routines read from the catalog equal the model."""
    run = run_script(script_conn, script("catalog_metadata"))
    assert run.errors() == []
    assert [r[0] for r in run.rows(1)] == sorted(SCHEMAS)
    assert {f"{r['schema_name']}.{r['table_name']}" for r in run.records(2)} == set(MODEL.table_map) | ETL_TABLES
    assert all(r["description"] for r in run.records(2)), "every table carries its model description"
    pii = {(t.qualified, c.name) for t in MODEL.tables for c in t.columns if c.pii}
    assert {(f"{r['schema_name']}.{r['table_name']}", r["column_name"]) for r in run.records(3)} == pii
    summary = MODEL.table_map["analytics.campaign_effectiveness"]
    assert [r["column_name"] for r in run.records(4)] == [c.name for c in summary.columns]
    foreign_keys = sorted((t.qualified, fk.references) for t in MODEL.tables for fk in t.foreign_keys)
    found = sorted((r["child_table"], r["parent_table"]) for r in run.records(5))
    assert [fk for fk in found if fk[0] not in ETL_TABLES] == foreign_keys
    assert {parent for child, parent in found if child in ETL_TABLES} == {ETL.watermark_table}
    triggers = {(t.qualified, trg.name, trg.function) for t in MODEL.tables for trg in MODEL.all_triggers(t)}
    assert {(r["table_name"], r["trigger_name"], r["function_name"]) for r in run.records(7)} == triggers
    assert {f"{r['schema_name']}.{r['routine_name']}" for r in run.records(8)} == set(MODEL.routine_map) | ETL_ROUTINES
    assert run.rows(9) == [], "a freshly deployed database shows no drift from the model"


def test_catalog_script_reports_a_table_the_model_does_not_know(sales_db: str) -> None:
    """The drift step names a table created outside the model (created in a transaction that is rolled back)."""
    with psycopg.connect(sales_db) as conn:
        conn.execute("CREATE TABLE portal.unmodelled_notes (note text)")
        run = run_script(conn, script("catalog_metadata"))
        conn.rollback()
    assert run.rows(9) == [("portal", "unmodelled_notes", "in the database, not in the model")]


# --------------------------------------------------------------------------- triggers and cursors


def test_triggers_script_moves_updated_at_derives_ratios_and_audits_within_the_transaction(
    script_conn: psycopg.Connection,
) -> None:
    """updated_at moves only on a real change, ratios are derived, I/U/D reach the audit log and roll back with it."""
    run = run_script(script_conn, script("triggers"))
    assert run.errors() == []
    expected = {t.qualified: (t.audited, bool(t.updated_at)) for t in MODEL.tables if t.audited or t.updated_at}
    assert {r["table_name"]: (r["audited"], r["keeps_updated_at"]) for r in run.records(1)} == expected
    assert [r["trigger_name"] for r in run.records(2)] == ["trg_companies_audit", "trg_companies_touch_updated_at"]
    assert run.records(4) == [{"company_id": 9000011, "website": None, "updated_ago": timedelta(days=30)}]
    assert run.records(5)[0]["touched_now"] is False, "a no-op UPDATE keeps updated_at"
    assert run.records(6)[0]["touched_now"] is True, "a real change moves updated_at to now()"
    assert run.rows(7) == [(9000011, Decimal("3.0000"), Decimal("8.000"), Decimal("2.500"))]
    assert run.rows(8) == [(9000011, Decimal("200.00"), Decimal("-0.2000"))]
    login = script_conn.info.user
    assert run.rows(10) == [
        ("I", None, login, "dana@demo-contoso.example"),
        ("U", "updated_at, website", login, "dana@demo-contoso.example"),
        ("D", None, login, "dana@demo-contoso.example"),
    ]
    assert run.rows(12) == [(0,)], "the audit rows were rolled back with the change"


def test_cursors_script_fetches_piecewise_and_the_dispatcher_alerts_once(script_conn: psycopg.Connection) -> None:
    """FETCH returns 1, then 2, then no rows; the dispatcher alerts 1 open task, consumes 3 reminders, then 0."""
    run = run_script(script_conn, script("cursors"))
    assert run.errors() == []
    assert [r["reminder_id"] for r in run.records(3)] == [9000001]
    assert [r["reminder_id"] for r in run.records(4)] == [9000002, 9000003]
    assert run.rows(5) == []
    assert [r["reminder_id"] for r in run.records(6)] == [9000001], "a SCROLL cursor goes back to the first row"
    assert run.rows(8) == [(1,)]
    assert run.rows(9) == [
        (9000001, "Brief influencers", "done", True, None, None),
        (9000002, "Call the roaster about stock", "open", True, None, None),
        (
            9000003,
            "Approve holiday creatives",
            "open",
            True,
            "Dana Whitfield",
            'Task "Approve holiday creatives" is due 2000-01-10 09:00',
        ),
        (9000004, "Plan spring launch", "open", False, None, None),
    ]
    assert run.rows(10) == [(0,)], "consumed reminders are never sent twice"


# --------------------------------------------------------------------------- GRANT / REVOKE


def test_grant_revoke_script_separates_read_from_write_and_undoes_its_grants(
    script_conn: psycopg.Connection,
) -> None:
    """The analyst reads but may not insert; GRANT opens a table, REVOKE closes one; the ROLLBACK restores all."""
    run = run_script(script_conn, script("grant_revoke"))
    denied = errors.InsufficientPrivilege
    assert run.error_messages() == [
        (4, denied, "permission denied for table campaign_effectiveness"),  # the analyst's INSERT
        (6, denied, "permission denied for table source_watermarks"),  # before the GRANT
        (8, denied, "permission denied for table campaign_effectiveness"),  # the analyst's SELECT after the REVOKE
    ]
    matrix = {r["role_name"]: r for r in run.records(1)}
    assert set(matrix) == {r.name for r in MODEL.roles}
    for reader in ("promptsales_analyst", "promptsales_mcp_reader"):
        assert (matrix[reader]["can_read"], matrix[reader]["can_insert"], matrix[reader]["can_update"]) == (
            True,
            False,
            False,
        )
    assert (matrix["promptsales_etl"]["can_insert"], matrix["promptsales_etl"]["can_update"]) == (True, True)
    assert run.rows(3)[0][0] == "promptsales_analyst", "step 3 reads as the analyst"
    assert run.records(5) == [
        {"acting_as": "promptsales_etl", "campaign_id": 9000021, "campaign_name": "Written by the ETL"}
    ]
    watermarks = sorted(row["source_name"] for row in MODEL.table_map["etl.source_watermarks"].rows)
    assert [r[0] for r in run.rows(7)] == watermarks, "after the GRANT the analyst reads the watermarks"
    during = {r["role_name"]: r for r in run.records(9)}
    assert (during["promptsales_analyst"]["can_read"], during["promptsales_analyst"]["can_read_watermarks"]) == (
        False,
        True,
    )
    assert run.rows(10) == run.rows(1), "the ROLLBACK undid the GRANT and the REVOKE"


# --------------------------------------------------------------------------- deadlocks


def test_deadlock_script_aborts_exactly_one_session_and_the_ordered_fix_only_waits(sales_db: str) -> None:
    """Two sessions: one gets 40P01 and its COMMIT rolls back, the other commits; the ordered claim just waits."""
    steps = run_two_sessions(sales_db, session_steps(script("deadlocks")))
    assert sorted(steps) == list(range(1, 11))
    assert steps[3].waited, "session A waits for the row session B holds"
    victims = [n for n in (3, 4) if steps[n].error is not None]
    assert len(victims) == 1, f"exactly one session is aborted, got errors in steps {victims}"
    victim_error = steps[victims[0]].error
    assert isinstance(victim_error, errors.DeadlockDetected) and victim_error.sqlstate == "40P01"
    survivor_step = steps[7 - victims[0]]  # step 3 <-> step 4
    assert survivor_step.error is None and survivor_step.statuses == ["SELECT 1"], "the survivor gets its row"
    commits = {steps[5].session: steps[5].statuses, steps[6].session: steps[6].statuses}
    victim, survivor = steps[victims[0]].session, survivor_step.session
    assert commits[victim] == ["ROLLBACK"], "COMMIT of an aborted transaction rolls back"
    assert commits[survivor] == ["COMMIT"]
    # The fix: both claim the rows in source_name order - B waits for A instead of deadlocking.
    assert all(steps[n].error is None for n in range(7, 11))
    assert steps[8].waited and steps[8].statuses == ["BEGIN", "SET", "SELECT 2"]
    assert steps[9].statuses == ["COMMIT"] and steps[10].statuses == ["COMMIT"]


# --------------------------------------------------------------------------- query monitoring


def test_monitoring_script_shows_this_session_who_blocks_whom_and_open_transactions(
    sales_db: str, script_conn: psycopg.Connection
) -> None:
    """pg_stat_activity marks the script's own session, the blocked session with its blocker, and the idle holder."""
    with (
        psycopg.connect(sales_db, application_name="ps-monitoring-holder") as holder,
        psycopg.connect(sales_db, application_name="ps-monitoring-waiter") as waiter,
        psycopg.connect(sales_db, autocommit=True) as monitor,
    ):
        claim = "SELECT source_name FROM etl.source_watermarks WHERE source_name = 'crm_sales' FOR UPDATE"
        holder_pid, waiter_pid = holder.info.backend_pid, waiter.info.backend_pid
        holder.execute(claim)  # holds the row lock, then sits idle in transaction
        blocked = threading.Thread(target=waiter.execute, args=(claim,), daemon=True)
        blocked.start()
        try:
            wait_for_lock_wait(monitor, waiter_pid)
            run = run_script(script_conn, script("query_monitoring"))
        finally:
            holder.rollback()
            blocked.join(timeout=WAIT_LIMIT_S)
            waiter.rollback()
    expected_errors = [] if statements_tracked(script_conn) else [(2, "55000"), (3, "55000")]
    assert run.errors() == expected_errors
    me = [r for r in run.records(4) if r["is_me"]]
    assert len(me) == 1
    assert (me[0]["pid"], me[0]["state"], me[0]["application_name"]) == (
        script_conn.info.backend_pid,
        "active",
        APP_NAME,
    )
    assert "AS is_me" in me[0]["query"], "the session's current query is the script's own step 4"
    assert [(r["pid"], r["blocked_by"]) for r in run.records(5)] == [(waiter_pid, [holder_pid])]
    open_transactions = {r["pid"]: r["state"] for r in run.records(6)}
    assert open_transactions == {holder_pid: "idle in transaction", waiter_pid: "active"}
    assert (holder_pid, "etl.source_watermarks", "RowShareLock", True) in run.rows(7)


def test_monitoring_script_ranks_a_query_the_test_ran_in_pg_stat_statements(
    sales_db: str, script_conn: psycopg.Connection
) -> None:
    """After this database's statistics are reset, the probe query shows up normalized ($1) with its 3 calls."""
    if not statements_tracked(script_conn):
        pytest.skip(
            "pg_stat_statements is not in shared_preload_libraries on this server"
            " (run `make services` to enable it; it restarts PostgreSQL)"
        )
    script_conn.execute(
        "SELECT pg_stat_statements_reset(0, d.oid, 0) FROM pg_database AS d WHERE d.datname = current_database()"
    )
    probe = "SELECT count(*) AS probe_campaigns FROM analytics.campaign_effectiveness WHERE brand_name = %s"
    for brand in ("Northwind Coffee", "Contoso Outdoor", "Fabrikam Tools"):
        script_conn.execute(probe, (brand,))
    run = run_script(script_conn, script("query_monitoring"))
    assert run.errors() == []
    assert run.rows(1)[0][0] is True
    normalized = "SELECT count(*) AS probe_campaigns FROM analytics.campaign_effectiveness WHERE brand_name = $1"
    top = [r for r in run.records(2) if r["query"] == normalized]
    assert len(top) == 1 and top[0]["calls"] == 3, run.records(2)
    assert normalized in [r["query"] for r in run.records(3)], "called 3 times, so it is ranked by mean time too"
