"""The delta ETL's PostgreSQL half on the real server: staging, the apply procedures, the run log and the watermark.

The sources are generators.etl_local's stand-ins (FactsSource: small mutable facts with rowversion-like markers;
WorldSource: the generated world), since no SQL Server or MongoDB runs here. Every test gets a fresh database
cloned from one deployed template: the apply procedures are CALLed on autocommit connections, as the job calls
them, so each is a transaction of its own (and `refreshed_at` tells them apart).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from generators.deploy import deploy_postgres
from generators.etl_local import FactsSource, Rows, WorldSource, refresh_from_world, stage_rows
from generators.gates import plpgsql_check_report
from generators.model import load_models
from generators.model_etl import EtlModel
from generators.render_etl import etl_plan
from tests.conftest import dsn_for

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
MODELS = {m.store: m for m in load_models(ROOT / "model", root=ROOT)}
ETL: EtlModel = MODELS["etl"]
PLAN = etl_plan(ETL, MODELS)
SUMMARIES = {s.table: s.keys for s in PLAN.summaries}
CONTRIBUTIONS = {f.table: f.keys for f in PLAN.feeds}
STAGING = [f.stage_table for f in PLAN.feeds]
SOURCES = [s.name for s in ETL.sources]


# --------------------------------------------------------------------------- databases


@pytest.fixture(scope="module")
def template_db(pg_admin: str) -> Iterator[str]:
    """One database with the PromptSales schema deployed, cloned by every test (CREATE DATABASE ... TEMPLATE)."""
    name = f"ps_etl_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        deploy_postgres(dsn_for(name), "sales")
        yield name
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def new_db(pg_admin: str, template_db: str) -> Iterator[Callable[[], str]]:
    created: list[str] = []

    def create() -> str:
        name = f"ps_etl_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template_db))
            )
        created.append(name)
        return dsn_for(name)

    yield create
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def conn(new_db: Callable[[], str]) -> Iterator[psycopg.Connection]:
    with psycopg.connect(new_db(), autocommit=True) as connection:
        yield connection


# --------------------------------------------------------------------------- helpers


def one(conn: psycopg.Connection, query: str, *params: object) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def low_of(conn: psycopg.Connection, source_name: str) -> str:
    return str(one(conn, "SELECT etl.watermark_low(%s)", source_name))


def stage(
    conn: psycopg.Connection, facts: FactsSource, source_name: str, batch: str, *, header: bool = True
) -> tuple[Rows, str, str]:
    """What the job does before the apply: the window from the watermark, the query's rows, COPY and header."""
    low, high = low_of(conn, source_name), facts.high_bound(source_name)
    rows = facts.delta(source_name, low, high)
    stage_rows(conn, ETL, source_name, rows, batch, low, high, header=header)
    return rows, low, high


def apply(conn: psycopg.Connection, source_name: str, batch: str, run: str | None = "run-1") -> dict[str, Any]:
    conn.execute(f"CALL {ETL.source(source_name).apply_procedure}(%s, %s)", (batch, run))
    cur = conn.execute(
        "SELECT run_id, status, rows_read, rows_changed, airflow_run_id, duration_ms FROM etl.run_log"
        " WHERE source_name = %s ORDER BY run_id DESC LIMIT 1",
        (source_name,),
    )
    names = [d.name for d in cur.description or []]
    row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def run(conn: psycopg.Connection, facts: FactsSource, source_name: str, batch: str | None = None) -> dict[str, Any]:
    batch = batch or f"{source_name}-{uuid.uuid4().hex[:8]}"
    stage(conn, facts, source_name, batch)
    return apply(conn, source_name, batch)


def table_rows(conn: psycopg.Connection, table: str, keys: tuple[str, ...], drop: tuple[str, ...] = ()) -> list[tuple]:
    cur = conn.execute(f"SELECT * FROM {table} LIMIT 0")
    columns = [d.name for d in cur.description or [] if d.name not in drop]
    query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.Identifier(*table.split(".")),
        sql.SQL(", ").join(sql.Identifier(k) for k in keys),
    )
    return conn.execute(query).fetchall()


def summaries(conn: psycopg.Connection, drop: tuple[str, ...] = ("refreshed_at",)) -> dict[str, list[tuple]]:
    return {t: table_rows(conn, t, keys, drop) for t, keys in SUMMARIES.items()}


def contributions(
    conn: psycopg.Connection, drop: tuple[str, ...] = ("batch_id", "changed_at")
) -> dict[str, list[tuple]]:
    return {t: table_rows(conn, t, keys, drop) for t, keys in CONTRIBUTIONS.items()}


def snapshot(conn: psycopg.Connection) -> dict[str, Any]:
    """Everything an apply may change: summaries (refreshed_at included), contributions, staging, watermarks."""
    state: dict[str, Any] = summaries(conn, drop=())
    state.update(contributions(conn, drop=()))
    for table in STAGING:
        state[table] = sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    state["etl.stage_batches"] = conn.execute("SELECT * FROM etl.stage_batches ORDER BY 1, 2").fetchall()
    state["etl.source_watermarks"] = conn.execute("SELECT * FROM etl.source_watermarks ORDER BY 1").fetchall()
    state["succeeded runs"] = one(conn, "SELECT count(*) FROM etl.run_log WHERE status = 'succeeded'")
    return state


def changed_rows(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> int:
    """Summary rows inserted, updated or deleted between two snapshots taken with refreshed_at."""
    total = 0
    for table, keys in SUMMARIES.items():
        width = len(keys)
        old = {r[:width]: r for r in before[table]}
        new = {r[:width]: r for r in after[table]}
        total += len(old.keys() ^ new.keys()) + sum(1 for k in old.keys() & new.keys() if old[k] != new[k])
    return total


def seeded_facts(seed: int = 7, campaigns: int = 5) -> FactsSource:
    """Campaigns in PromptAds with results, reactions, CRM links and sales, and images."""
    facts = FactsSource(ETL, seed)
    for cid in range(1, campaigns + 1):
        facts.add_campaign(cid)
        for _ in range(4):
            facts.add_result(cid)
        for _ in range(3):
            facts.add_reaction(cid)
        for _ in range(3):
            facts.add_link(cid)
        facts.add_sale(cid)
    facts.add_image([1, 2])
    facts.add_image([3])
    return facts


def run_all(conn: psycopg.Connection, facts: FactsSource, order: list[str] | None = None) -> None:
    for source_name in order or SOURCES:
        run(conn, facts, source_name)


def full_recompute(new_db: Callable[[], str], facts: FactsSource, order: list[str] | None = None) -> psycopg.Connection:
    """A fresh database where every source staged ALL its campaigns once: what the summaries must equal."""
    fresh = psycopg.connect(new_db(), autocommit=True)
    for source_name in order or SOURCES:
        rows = facts.full(source_name)
        low, high = facts.floor(source_name), facts.high_bound(source_name)
        stage_rows(fresh, ETL, source_name, rows, "full", low, high)
        apply(fresh, source_name, "full")
    return fresh


# --------------------------------------------------------------------------- the deployed objects


def test_the_etl_objects_deploy_idempotently_and_pass_plpgsql_check(conn: psycopg.Connection) -> None:
    dsn = conn.info.dsn
    deploy_postgres(dsn, "sales")  # a second deploy over the first changes nothing and fails nothing
    report = plpgsql_check_report(dsn, ["etl"])
    assert report.errors == [], "\n".join(map(str, report.errors))
    checked = {target.split("(")[0] for target in report.checked}
    assert {s.apply_procedure for s in ETL.sources} | {"etl.log_failed_run", "etl.batch_problem"} <= checked
    assert low_of(conn, "ads_daily_results") == "0x0000000000000000"
    assert low_of(conn, "content_assets") == "1970-01-01T00:00:00.000Z"
    high = str(one(conn, "SELECT etl.updated_at_high_bound(interval '0')"))
    assert abs(one(conn, "SELECT extract(epoch FROM clock_timestamp() - %s::timestamptz)", high)) < 5
    lag = one(conn, "SELECT %s::timestamptz - etl.updated_at_high_bound()::timestamptz", high)
    assert timedelta(seconds=115) < lag <= timedelta(minutes=2, milliseconds=1), "the default margin is 2 minutes"


@pytest.mark.parametrize(
    ("role", "statement", "allowed"),
    [
        ("promptsales_etl", "INSERT INTO etl.stage_crm_sales_campaign (campaign_id, batch_id) VALUES (1, 'b')", True),
        ("promptsales_etl", "SELECT count(*) FROM etl.crm_sales_campaign", True),
        ("promptsales_etl", "CALL etl.log_failed_run('crm_sales', 'b')", True),
        ("promptsales_mcp_reader", "SELECT count(*) FROM analytics.campaign_effectiveness", True),
        ("promptsales_mcp_reader", "SELECT count(*) FROM etl.crm_sales_campaign", False),
        ("promptsales_mcp_reader", "SELECT count(*) FROM etl.stage_crm_sales_campaign", False),
        ("promptsales_mcp_reader", "CALL etl.apply_crm_sales('b')", False),
        ("promptsales_analyst", "SELECT count(*) FROM analytics.campaign_channel_daily", True),
        ("promptsales_analyst", "SELECT count(*) FROM etl.stage_batches", False),
        ("promptsales_analyst", "SELECT etl.watermark_low('crm_sales')", False),
        ("promptsales_app", "CALL etl.apply_crm_sales('b')", False),
    ],
)
def test_only_the_etl_role_stages_and_applies_and_readers_see_only_summaries(
    conn: psycopg.Connection, role: str, statement: str, allowed: bool
) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute(f"SET LOCAL ROLE {role}")
        if allowed:
            conn.execute(statement)
        else:
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)


def test_the_etl_role_runs_a_whole_delta(conn: psycopg.Connection, new_db: Callable[[], str]) -> None:
    facts = seeded_facts()
    conn.execute("SET ROLE promptsales_etl")
    run_all(conn, facts)
    facts.add_sale(3)
    run(conn, facts, "crm_sales")
    conn.execute("RESET ROLE")
    assert one(conn, "SELECT count(*) FROM analytics.campaign_effectiveness") == 5
    with full_recompute(new_db, facts) as fresh:
        assert summaries(conn) == summaries(fresh)


# --------------------------------------------------------------------------- what an apply does


def test_an_apply_changes_exactly_the_touched_campaigns(conn: psycopg.Connection) -> None:
    facts = seeded_facts()
    run_all(conn, facts)
    before = summaries(conn, drop=())
    stamps = dict(conn.execute("SELECT campaign_id, refreshed_at FROM analytics.campaign_effectiveness").fetchall())
    time.sleep(0.01)

    facts.add_result(2)
    fact = next(f for f, r in facts.results.items() if facts.ads[r.ad_id].campaign_id == 4)
    facts.update_result(fact)
    rows, _, _ = stage(conn, facts, "ads_daily_results", "b")
    result = apply(conn, "ads_daily_results", "b")

    after = dict(conn.execute("SELECT campaign_id, refreshed_at FROM analytics.campaign_effectiveness").fetchall())
    assert {c for c in stamps if after[c] != stamps[c]} == {2, 4}
    untouched = [r for r in before["analytics.campaign_channel_daily"] if r[0] not in (2, 4)]
    assert [r for r in summaries(conn, drop=())["analytics.campaign_channel_daily"] if r[0] not in (2, 4)] == untouched
    assert {r[0] for r in rows["campaign"]} == {r[0] for r in rows["channel_day"]} == {2, 4}
    assert result["rows_read"] == len(rows["campaign"]) + len(rows["channel_day"])
    assert result["rows_changed"] == changed_rows(before, summaries(conn, drop=())) > 0


def test_applying_the_same_batch_twice_changes_nothing_the_second_time(conn: psycopg.Connection) -> None:
    facts = seeded_facts()
    rows, low, high = stage(conn, facts, "ads_daily_results", "first")
    first = apply(conn, "ads_daily_results", "first")
    assert first["rows_changed"] == len(rows["campaign"]) + len(rows["channel_day"])
    state = snapshot(conn)

    stage_rows(conn, ETL, "ads_daily_results", rows, "again", low, high)  # a retry that re-stages the same batch
    second = apply(conn, "ads_daily_results", "again")
    assert (second["rows_read"], second["rows_changed"]) == (first["rows_read"], 0)
    after = snapshot(conn)
    assert after.pop("succeeded runs") == state.pop("succeeded runs") + 1
    marks = after.pop("etl.source_watermarks"), state.pop("etl.source_watermarks")
    assert [m[:4] for m in marks[0]] == [m[:4] for m in marks[1]], "the watermark stays at the same high bound"
    assert after == state, "summaries (refreshed_at included), contributions and staging are untouched"


# --------------------------------------------------------------------------- failures


def _count_mismatch(conn: psycopg.Connection, facts: FactsSource) -> str:
    stage(conn, facts, "ads_daily_results", "b")
    conn.execute(
        "DELETE FROM etl.stage_ads_daily_results_channel_day"
        " WHERE ctid IN (SELECT ctid FROM etl.stage_ads_daily_results_channel_day LIMIT 1)"
    )
    return "its header says"


def _no_header(conn: psycopg.Connection, facts: FactsSource) -> str:
    stage(conn, facts, "ads_daily_results", "b", header=False)
    return "has no header in etl.stage_batches: its staging did not finish"


def _gap(conn: psycopg.Connection, facts: FactsSource) -> str:
    low, high = facts.bound("ads_daily_results", facts.counter), facts.high_bound("ads_daily_results")
    assert facts.marker_of("ads_daily_results", low) > facts.marker_of(
        "ads_daily_results", low_of(conn, "ads_daily_results")
    )
    stage_rows(conn, ETL, "ads_daily_results", facts.delta("ads_daily_results", low, high), "b", low, high)
    return "after the watermark 0x00000000000000"


def _stale(conn: psycopg.Connection, facts: FactsSource) -> str:
    low, high = "0x0000000000000001", "0x0000000000000003"
    stage_rows(conn, ETL, "ads_daily_results", facts.delta("ads_daily_results", low, high), "b", low, high)
    return "before the watermark"


def _bad_bounds(conn: psycopg.Connection, facts: FactsSource) -> str:
    stage_rows(conn, ETL, "ads_daily_results", {}, "b", "0", "0x10")
    return "must be two 8-byte hex rowversions"


def _violation(conn: psycopg.Connection, facts: FactsSource) -> str:
    low, high = low_of(conn, "ads_daily_results"), facts.high_bound("ads_daily_results")
    rows = facts.delta("ads_daily_results", low, high)
    status = [f.name for f in ETL.source("ads_daily_results").outputs[0].fields].index("status")
    bad = [tuple("bogus" if i == status else v for i, v in enumerate(r)) for r in rows["campaign"]]
    stage_rows(conn, ETL, "ads_daily_results", {**rows, "campaign": bad}, "b", low, high)
    return "ck_campaign_effectiveness_status"


REFUSALS: dict[str, Callable[[psycopg.Connection, FactsSource], str]] = {
    "staged rows differ from the header": _count_mismatch,
    "no header (staging died)": _no_header,
    "window starts after the watermark": _gap,
    "window ends before the watermark": _stale,
    "window is not two rowversions": _bad_bounds,
    "a row violates the summary's check": _violation,
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_failed_apply_leaves_everything_as_it_was_and_the_failure_path_logs_it(
    conn: psycopg.Connection, case: str
) -> None:
    facts = seeded_facts()
    run_all(conn, facts)  # the summaries, contributions and watermarks to keep
    for cid in (1, 3):
        facts.add_result(cid)
        facts.update_campaign(cid)
    message = REFUSALS[case](conn, facts)
    before = snapshot(conn)

    with pytest.raises(psycopg.Error) as failure:
        conn.execute("CALL etl.apply_ads_daily_results('b', 'run-9')")
    assert message in str(failure.value)
    assert snapshot(conn) == before, "one transaction: nothing of the apply survives its error"

    staged = one(conn, "SELECT etl.staged_rows('ads_daily_results', 'b')")
    conn.execute("CALL etl.log_failed_run('ads_daily_results', 'b', 'run-9')")  # what the job's failure hop calls
    row = conn.execute(
        "SELECT status, rows_read, rows_changed, airflow_run_id, error FROM etl.run_log ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    status, rows_read, rows_changed, airflow_run_id, error = row
    assert (status, rows_read, rows_changed, airflow_run_id) == ("failed", sum(staged.values()), 0, "run-9")
    if case == "a row violates the summary's check":
        assert error == "batch b: the apply failed on a complete batch; the job log has the error"
    else:
        assert message in error
    assert snapshot(conn) == before, "the failed run's row is all the failure path writes"


def test_the_failure_path_records_the_error_text_it_is_given(conn: psycopg.Connection) -> None:
    conn.execute("CALL etl.log_failed_run('crm_sales', 'b7', 'run-3', 'Carte: the job was stopped')")
    assert conn.execute("SELECT status, error FROM etl.run_log").fetchall() == [
        ("failed", "batch b7: Carte: the job was stopped")
    ]
    with pytest.raises(errors.RaiseException, match="unknown source nope"):
        conn.execute("CALL etl.log_failed_run('nope', 'b7')")


def test_a_crash_between_staging_and_apply_loses_nothing_and_counts_nothing_twice(
    conn: psycopg.Connection, new_db: Callable[[], str]
) -> None:
    facts = seeded_facts()
    run_all(conn, facts)
    sales_before = one(conn, "SELECT sales_count FROM analytics.campaign_effectiveness WHERE campaign_id = 2")
    watermark = low_of(conn, "crm_sales")

    facts.add_sale(2)
    facts.add_sale(2)
    stage(conn, facts, "crm_sales", "crashed")  # staged, then the job died before CALL
    facts.add_sale(2)
    facts.update_link(next(k for k in facts.links if k[0] == 5))
    assert low_of(conn, "crm_sales") == watermark, "nothing moved the watermark"
    rows, low, _ = stage(conn, facts, "crm_sales", "next")  # the next run: a superset from the same watermark
    assert low == watermark and {r[0] for r in rows["campaign"]} == {2, 5}
    result = apply(conn, "crm_sales", "next")

    assert (
        one(conn, "SELECT sales_count FROM analytics.campaign_effectiveness WHERE campaign_id = 2") == sales_before + 3
    )
    assert result["rows_read"] == 2 and result["rows_changed"] == 2
    assert one(conn, "SELECT count(*) FROM etl.stage_crm_sales_campaign") == 0, "the superseded batch is gone too"
    assert one(conn, "SELECT count(*) FROM etl.stage_batches") == 0
    with pytest.raises(errors.RaiseException, match="has no header"):
        conn.execute("CALL etl.apply_crm_sales('crashed')")
    with full_recompute(new_db, facts) as fresh:
        assert summaries(conn) == summaries(fresh)


def test_a_batch_older_than_the_watermark_is_refused(conn: psycopg.Connection) -> None:
    facts = seeded_facts()
    old_rows, low, old_high = stage(conn, facts, "crm_sales", "old")
    conn.execute("DELETE FROM etl.stage_batches")  # keep the rows, as a second job would have cleared the header
    conn.execute("DELETE FROM etl.stage_crm_sales_campaign")
    facts.add_sale(1)
    run(conn, facts, "crm_sales")
    stage_rows(conn, ETL, "crm_sales", old_rows, "old", low, old_high)
    with pytest.raises(errors.RaiseException, match="before the watermark"):
        conn.execute("CALL etl.apply_crm_sales('old')")


def test_contributions_that_arrive_before_their_campaign_wait_and_are_merged(conn: psycopg.Connection) -> None:
    facts = FactsSource(ETL, 3)
    for _ in range(4):
        facts.add_link(9)
    facts.update_link((9, next(k[1] for k in facts.links if k[0] == 9)))
    facts.add_sale(9)
    facts.add_image([9])
    assert run(conn, facts, "crm_sales")["rows_changed"] == 0
    assert run(conn, facts, "content_assets")["rows_changed"] == 0
    assert one(conn, "SELECT count(*) FROM analytics.campaign_effectiveness") == 0
    assert one(conn, "SELECT clients_reached FROM etl.crm_sales_campaign WHERE campaign_id = 9") == 4

    facts.add_campaign(9)
    facts.add_result(9)
    assert run(conn, facts, "ads_daily_results")["rows_changed"] == 2  # the campaign row and its channel-day
    row = conn.execute(
        "SELECT clients_reached, conversions, sales_count, content_assets, negative_reactions"
        " FROM analytics.campaign_effectiveness WHERE campaign_id = 9"
    ).fetchone()
    crm = facts.full("crm_sales")["campaign"][0]
    assert row == (4, crm[2], 1, 1, 0)
    facts.add_reaction(9)
    run(conn, facts, "ads_social_reactions")
    negative = facts.full("ads_social_reactions")["campaign"][0][1]
    assert (
        one(conn, "SELECT negative_reactions FROM analytics.campaign_effectiveness WHERE campaign_id = 9") == negative
    )


def test_deleted_facts_propagate_and_a_vanished_channel_day_is_removed(conn: psycopg.Connection) -> None:
    facts = FactsSource(ETL, 11)
    facts.add_campaign(1)
    only = facts.add_result(1)
    facts.add_reaction(1)
    run_all(conn, facts)
    assert one(conn, "SELECT count(*) FROM analytics.campaign_channel_daily") == 1

    facts.delete_result(only)
    for fid in list(facts.reactions):
        facts.delete_reaction(fid)
    run(conn, facts, "ads_daily_results")
    run(conn, facts, "ads_social_reactions")
    assert one(conn, "SELECT count(*) FROM analytics.campaign_channel_daily") == 0
    assert conn.execute(
        "SELECT reach, views, cost_usd, negative_reactions FROM analytics.campaign_effectiveness"
    ).fetchall() == [(0, 0, Decimal("0.00"), 0)]


def test_derived_ratios_are_right_after_an_apply(conn: psycopg.Connection) -> None:
    facts = FactsSource(ETL, 5)
    facts.add_campaign(1)
    first, second = facts.add_result(1), facts.add_result(1)
    facts.results[first].metrics.update(cost_usd=Decimal("120.00"), revenue_usd=Decimal("300.50"), likes=40)
    facts.results[second].metrics.update(cost_usd=Decimal("80.00"), revenue_usd=Decimal("0.00"), likes=10)
    facts.results[first].metrics.update(shares=0, comments=0)
    facts.results[second].metrics.update(shares=0, comments=0)
    links = [facts.add_link(1) for _ in range(3)]
    for key in links:
        facts.links[key].converted = key == links[0]
    for i in range(5):
        facts.reactions[facts.add_reaction(1)].negative = i < 2
    run_all(conn, facts)
    roi, success, negative = conn.execute(
        "SELECT roi, success_pct, negative_pct FROM analytics.campaign_effectiveness WHERE campaign_id = 1"
    ).fetchone() or (None, None, None)
    assert roi == Decimal("0.5025")  # (300.50 - 200.00) / 200.00
    assert success == Decimal("33.333")  # 1 of 3 linked clients converted
    assert negative == Decimal("4.000")  # 2 negative reactions of 50 (likes + shares + comments)

    facts.update_link(links[1])  # a second conversion: only the CRM's apply runs
    run(conn, facts, "crm_sales")
    assert one(conn, "SELECT success_pct FROM analytics.campaign_effectiveness WHERE campaign_id = 1") == Decimal(
        "66.667"
    )


def test_concurrent_applies_of_two_sources_serialize_and_keep_both_contributions(
    conn: psycopg.Connection, new_db: Callable[[], str]
) -> None:
    facts = seeded_facts()
    run_all(conn, facts)
    facts.add_sale(1)
    facts.update_image(next(i for i, im in facts.images.items() if 1 in im.campaign_ids))
    stage(conn, facts, "crm_sales", "crm")
    stage(conn, facts, "content_assets", "content")
    errors_seen: list[BaseException] = []
    with psycopg.connect(conn.info.dsn) as first:  # one transaction, left open while the second apply starts
        first.execute("CALL etl.apply_crm_sales('crm')")

        def second() -> None:
            try:
                with psycopg.connect(conn.info.dsn, autocommit=True) as other:
                    other.execute("CALL etl.apply_content_assets('content')")
            except BaseException as exc:  # reported by the assertion below
                errors_seen.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        waiting = 0
        for _ in range(100):
            waiting = one(
                conn,
                "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'CALL etl.apply_content_assets%%'",
            )
            if waiting:
                break
            time.sleep(0.05)
        assert waiting == 1, "the second apply waits for the first to commit"
        first.commit()
        thread.join(10)
    assert not errors_seen and not thread.is_alive()
    with full_recompute(new_db, facts) as fresh:
        assert summaries(conn) == summaries(fresh)


# --------------------------------------------------------------------------- random deltas


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_deltas_in_any_order_end_equal_to_a_full_recompute(
    conn: psycopg.Connection, new_db: Callable[[], str], seed: int
) -> None:
    """~30 steps of random inserts, updates and deletes across sources, applied in random order, with crashes
    (staged, never applied), dead stagings (no header) and retries; every apply's run-log counts are checked."""
    facts = FactsSource(ETL, seed)
    rng = facts.rng
    known = list(range(1, 7))
    for cid in known[:3]:
        facts.add_campaign(cid)
    applied = 0
    for step in range(30):
        for _ in range(rng.randint(1, 4)):
            facts.random_change(known)
        source_name = rng.choice(SOURCES)
        batch = f"s{step}"
        fate = rng.random()
        if fate < 0.15:
            stage(conn, facts, source_name, batch)  # the job died after staging
            continue
        if fate < 0.25:
            stage(conn, facts, source_name, batch, header=False)  # the job died while staging
            continue
        before = summaries(conn, drop=())
        rows, low, high = stage(conn, facts, source_name, batch)
        result = apply(conn, source_name, batch, f"run-{step}")
        after = summaries(conn, drop=())
        assert result["status"] == "succeeded" and result["airflow_run_id"] == f"run-{step}"
        assert result["rows_read"] == sum(len(r) for r in rows.values())
        assert result["rows_changed"] == changed_rows(before, after), f"step {step}: {source_name}"
        applied += 1
        if fate > 0.9:  # a retry of the same window: idempotent
            stage_rows(conn, ETL, source_name, rows, f"{batch}-again", low, high)
            assert apply(conn, source_name, f"{batch}-again")["rows_changed"] == 0
            applied += 1
    order = SOURCES[:]
    rng.shuffle(order)
    run_all(conn, facts, order)  # the next regular run of every source
    assert applied >= 10
    with full_recompute(new_db, facts, sorted(SOURCES, reverse=True)) as fresh:
        assert summaries(conn) == summaries(fresh), "every column of every summary row, but refreshed_at"
        assert contributions(conn) == contributions(fresh)
    assert one(conn, "SELECT count(*) FROM analytics.campaign_effectiveness") >= 3
    assert one(conn, "SELECT count(*) FROM etl.run_log WHERE status = 'succeeded'") == applied + len(SOURCES)


# --------------------------------------------------------------------------- the world as the source


def test_a_full_refresh_from_the_world_matches_its_campaign_facts(conn: psycopg.Connection) -> None:
    from generators.data.world import build_world

    world = build_world(scale="small")
    source = WorldSource(world, ETL)
    first = refresh_from_world(conn, source)
    assert [r.source for r in first] == [s.name for s in ETL.sources] and not any(r.skipped for r in first)
    assert all(r.rows_staged > 0 and r.rows_changed > 0 for r in first)
    before = summaries(conn)
    again = refresh_from_world(conn, source)  # what a second `make demo` does: nothing
    assert {r.skipped for r in again} == {"applied before"} and summaries(conn) == before
    assert one(conn, "SELECT count(*) FROM etl.run_log WHERE status = 'succeeded'") == len(ETL.sources)
    rows = conn.execute(
        "SELECT campaign_id, reach, sales_count, sales_amount_usd, revenue_usd, clients_reached, channels, markets,"
        " status FROM analytics.campaign_effectiveness ORDER BY campaign_id"
    ).fetchall()
    facts = {c.campaign_id: c for c in world.campaigns}
    assert [r[0] for r in rows] == sorted(facts)
    for cid, reach, sales, amount, revenue, clients, channels, markets, status in rows:
        f = facts[cid]
        assert (reach, sales, clients, status) == (f.reach, f.sales_count, f.linked_clients, f.status)
        assert amount == revenue == Decimal(f.revenue_cents) / 100, "PromptAds and PromptCrm agree to the cent"
        assert channels == sorted(f.channels) and markets == sorted(f.markets)
    per_channel = conn.execute(
        "SELECT d.campaign_id, sum(d.reach), sum(d.cost_usd), e.reach, e.cost_usd"
        " FROM analytics.campaign_channel_daily AS d JOIN analytics.campaign_effectiveness AS e USING (campaign_id)"
        " GROUP BY d.campaign_id, e.reach, e.cost_usd"
    ).fetchall()
    assert len(per_channel) == len(facts) and all(r[1] == r[3] and r[2] == r[4] for r in per_channel)
    images = one(conn, "SELECT sum(content_assets) FROM analytics.campaign_effectiveness")
    assert images == sum(len(im.document["campaign_ids"]) for im in world.content.images)
