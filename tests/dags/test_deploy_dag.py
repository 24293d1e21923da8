"""The deploy DAG run for real with `dag.test()`: PromptSales lands in PostgreSQL, re-runs change nothing, gaps skip."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from generators.airflow_deploy import check_connection
from generators.deploy import ROOT, load_manifest
from generators.model import load_model, load_models
from generators.render_etl import etl_routines, etl_tables

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

SALES_FILES = load_manifest()["stores"]["sales"]["deploy"]
MODEL = load_model(ROOT / "model" / "sales.yaml")
MODEL_SCHEMAS = [s.name for s in MODEL.schemas]
ETL = next(m for m in load_models(ROOT / "model", root=ROOT) if m.store == "etl")
"""The delta ETL's staging tables and apply routines are rendered from model/etl.yaml into the etl schema."""

# One query over pg_catalog for everything a deploy can change in the non-system schemas: schemas, relations,
# columns, constraints, indexes, function definitions, triggers, policies, ACLs, owners, comments, extensions,
# default privileges and every table's row count. Objects are named, never identified by OID, so "dropped and
# recreated identically" counts as unchanged while any difference in definition, privilege or data does not.
CATALOG_FINGERPRINT = r"""
WITH ns AS (
    SELECT oid, nspname, nspowner, nspacl FROM pg_catalog.pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp\_%'
),
rel AS (
    SELECT c.*, ns.nspname || '.' || c.relname AS qname
    FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace
),
items AS (
    SELECT format('schema %s owner=%s acl=%s comment=%s', nspname, pg_get_userbyid(nspowner), nspacl,
                  obj_description(oid, 'pg_namespace'))
    FROM ns
    UNION ALL
    SELECT format('relation %s kind=%s owner=%s acl=%s rls=%s options=%s comment=%s', qname, relkind,
                  pg_get_userbyid(relowner), relacl, relrowsecurity, reloptions, obj_description(oid, 'pg_class'))
    FROM rel
    UNION ALL
    SELECT format('column %s.%s type=%s notnull=%s default=%s identity=%s generated=%s acl=%s comment=%s',
                  rel.qname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attacl,
                  col_description(rel.oid, a.attnum))
    FROM rel JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    UNION ALL
    SELECT format('constraint %s.%s on %s %s', ns.nspname, con.conname, con.conrelid::regclass,
                  pg_get_constraintdef(con.oid))
    FROM pg_catalog.pg_constraint con JOIN ns ON ns.oid = con.connamespace
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM pg_catalog.pg_index i JOIN rel ON rel.oid = i.indrelid
    UNION ALL
    SELECT format('routine %s.%s(%s) kind=%s owner=%s acl=%s comment=%s definition=%s', ns.nspname, p.proname,
                  pg_get_function_identity_arguments(p.oid), p.prokind, pg_get_userbyid(p.proowner), p.proacl,
                  obj_description(p.oid, 'pg_proc'),
                  CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END)
    FROM pg_catalog.pg_proc p JOIN ns ON ns.oid = p.pronamespace
    UNION ALL
    SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
    FROM pg_catalog.pg_trigger t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s on %s cmd=%s roles=%s using=%s check=%s', pol.polname, rel.qname, pol.polcmd,
                  pol.polroles::regrole[], pg_get_expr(pol.polqual, pol.polrelid),
                  pg_get_expr(pol.polwithcheck, pol.polrelid))
    FROM pg_catalog.pg_policy pol JOIN rel ON rel.oid = pol.polrelid
    UNION ALL
    SELECT format('type %s.%s kind=%s labels=%s', ns.nspname, ty.typname, ty.typtype,
                  (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e
                   WHERE e.enumtypid = ty.oid))
    FROM pg_catalog.pg_type ty JOIN ns ON ns.oid = ty.typnamespace WHERE ty.typtype IN ('e', 'd')
    UNION ALL
    SELECT format('extension %s version=%s', extname, extversion) FROM pg_catalog.pg_extension
    UNION ALL
    SELECT format('default acl role=%s schema=%s objects=%s acl=%s', pg_get_userbyid(da.defaclrole),
                  da.defaclnamespace::regnamespace, da.defaclobjtype, da.defaclacl)
    FROM pg_catalog.pg_default_acl da
    UNION ALL
    SELECT format('rows %s = %s', qname,
                  (xpath('/row/n/text()',
                         query_to_xml(format('SELECT count(*) AS n FROM %I.%I', nspname, relname), false, true, ''))
                  )[1]::text)
    FROM rel JOIN ns ON ns.oid = rel.relnamespace WHERE rel.relkind IN ('r', 'p')
)
SELECT md5(string_agg(item, E'\n' ORDER BY item)), array_agg(item ORDER BY item) FROM items AS t(item)
"""


def fingerprint_in(conn: psycopg.Connection) -> tuple[str, list[str]]:
    row = conn.execute(CATALOG_FINGERPRINT).fetchone()
    assert row is not None
    return row[0], row[1]


def fingerprint(dsn: str) -> tuple[str, list[str]]:
    with psycopg.connect(dsn) as conn:
        return fingerprint_in(conn)


def ledger(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT store, file, sha256, applied_at FROM deploy.applied_files ORDER BY file").fetchall()


def run_dag(dag: Any, **kwargs: Any) -> tuple[Any, dict[str, str]]:
    """`dag.test()` (Airflow 3: runs every task in this process, returns the DagRun) and each task's final state."""
    run = dag.test(**kwargs)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return run, states


def xcom(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key="return_value")
        ).first()
        assert row is not None, f"no return value from {task_id}"
        return XComModel.deserialize_value(row)


def sales_task_ids() -> list[str]:
    from generators.airflow_deploy import task_id_for

    return ["sales.check_connection", *(f"sales.{task_id_for(f)}" for f in SALES_FILES), "sales.summary"]


def test_deploy_creates_promptsales_and_a_second_run_changes_nothing(
    deploy_dag: Any, airflow_db: Path, fresh_db: str, no_store_connections: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dag.test() runs tasks in-process; their Connection lookups go through the secrets backends, whose first
    # stop is the environment: AIRFLOW_CONN_<ID> as a URI.
    monkeypatch.setenv("AIRFLOW_CONN_PROMPTSALES_PG", fresh_db)

    run, states = run_dag(deploy_dag)
    assert str(run.state) == "success"
    assert {states[t] for t in sales_task_ids()} == {"success"}

    with psycopg.connect(fresh_db) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = ANY(%s)", (MODEL_SCHEMAS,)).fetchone()
        routines = conn.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%s)",
            (MODEL_SCHEMAS,),
        ).fetchone()
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname = ANY(%s)",
            (MODEL_SCHEMAS,),
        ).fetchone()
        roles = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'promptsales\\_%'")}
    assert tables == (len(MODEL.tables) + len(etl_tables(ETL)),)
    assert routines == (len([r for r in MODEL.routines if r.kind != "view"]) + len(etl_routines(ETL)),)
    assert triggers == (sum(len(MODEL.all_triggers(t)) for t in MODEL.tables),)
    assert {r.name for r in MODEL.roles} <= roles

    first_ledger = ledger(fresh_db)
    assert [f for _, f, _, _ in first_ledger] == sorted(SALES_FILES)
    summary = xcom(run, "sales.summary")
    assert (summary["files"], summary["changed"], summary["unchanged"]) == (len(SALES_FILES), len(SALES_FILES), 0)
    before = fingerprint(fresh_db)

    rerun, states = run_dag(deploy_dag)
    assert str(rerun.state) == "success"
    assert {states[t] for t in sales_task_ids()} == {"success"}
    after = fingerprint(fresh_db)
    assert after[1] == before[1]  # item by item first, so a failure shows which object moved
    assert after[0] == before[0]
    assert ledger(fresh_db) == first_ledger
    summary = xcom(rerun, "sales.summary")
    assert (summary["changed"], summary["unchanged"]) == (0, len(SALES_FILES))
    assert xcom(rerun, "sales.apply_020_tables")["status"] == "unchanged"


@pytest.mark.parametrize(
    "change",
    [
        "COMMENT ON SCHEMA portal IS 'edited by hand'",
        "GRANT SELECT ON portal.companies TO promptsales_auditor",
        "ALTER TABLE portal.companies ADD COLUMN hand_made integer",
        "ALTER FUNCTION audit.purge_change_log SECURITY DEFINER",
        "INSERT INTO deploy.applied_files (store, file, sha256, duration_ms) VALUES ('sales', 'x', repeat('0', 64), 1)",
    ],
)
def test_fingerprint_notices_any_change_a_deploy_could_make(sales_db: str, change: str) -> None:
    """The idempotence proof is only as strong as the fingerprint: it must see definition, privilege and row changes."""
    with psycopg.connect(sales_db) as conn:
        before = fingerprint_in(conn)
        conn.execute(change)
        after = fingerprint_in(conn)
        conn.rollback()
    assert after[0] != before[0]
    assert set(after[1]) ^ set(before[1])


def test_store_without_connection_is_skipped_not_failed(
    deploy_dag: Any, airflow_db: Path, no_store_connections: None, capfd: pytest.CaptureFixture[str]
) -> None:
    run, states = run_dag(deploy_dag)
    assert str(run.state) == "success"
    assert {states[t] for t in sales_task_ids()} == {"skipped"}
    out = "".join(capfd.readouterr())
    assert "store 'sales' skipped: Airflow connection 'promptsales_pg' is not configured" in out
    assert "set AIRFLOW_CONN_PROMPTSALES_PG=" in out
    # Every other store of the manifest (PromptAds today) is skipped the same way, never failed.
    ads_states = {state for task_id, state in states.items() if task_id.startswith("ads.")}
    assert ads_states == {"skipped"}
    assert "store 'ads' skipped: Airflow connection 'promptads_mssql' is not configured" in out


def test_skip_message_is_one_line_naming_the_connection_and_env_var(no_store_connections: None) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException) as skipped:
        check_connection("sales", "promptsales_pg", "postgresql")
    message = str(skipped.value)
    assert "\n" not in message
    assert re.search(r"'promptsales_pg' is not configured; set AIRFLOW_CONN_PROMPTSALES_PG=postgresql://", message)


def test_file_the_database_rejects_fails_at_once_naming_the_file(
    deploy_dag: Any,
    airflow_db: Path,
    fresh_db: str,
    no_store_connections: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PROMPTSALES_PG", fresh_db)
    # Mark the schemas step done without running it: 020_tables then meets a database without its schemas.
    run, states = run_dag(deploy_dag, mark_success_pattern=r"sales\.apply_010_schemas")
    assert str(run.state) == "failed"
    assert states["sales.apply_020_tables"] == "failed"
    assert {states[t] for t in sales_task_ids()[3:]} == {"upstream_failed"}
    out = "".join(capfd.readouterr())
    assert 'sales: sql/sales/020_tables.sql: schema "portal" does not exist' in out
    # Not retried: a file the database rejects cannot pass on a second try, so the run does not wait for one.
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = run.get_task_instance("sales.apply_020_tables", session=session)
        assert ti is not None and ti.try_number == 1
    # One transaction per file: the failed file left nothing behind, not even the ledger.
    with psycopg.connect(fresh_db) as conn:
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s)",
            ([*MODEL_SCHEMAS, "deploy"],),
        ).fetchone()
    assert leftovers == (0,)


def test_content_group_is_skipped_with_the_fix_named_when_promptcontent_mongo_is_absent(
    deploy_dag: Any, airflow_db: Path, no_store_connections: None, capfd: pytest.CaptureFixture[str]
) -> None:
    """Without AIRFLOW_CONN_PROMPTCONTENT_MONGO the MongoDB store is skipped, never faked and never failed."""
    from generators.airflow_deploy import task_id_for

    files = load_manifest()["stores"]["content"]["deploy"]
    run, states = run_dag(deploy_dag)
    assert str(run.state) == "success"
    content = ["content.check_connection", *(f"content.{task_id_for(f)}" for f in files), "content.summary"]
    assert {t: states[t] for t in content} == dict.fromkeys(content, "skipped")
    out = "".join(capfd.readouterr())
    assert (
        "store 'content' skipped: Airflow connection 'promptcontent_mongo' is not configured;"
        " set AIRFLOW_CONN_PROMPTCONTENT_MONGO=mongodb://user:password@host:27017/promptcontent"
        " (or add it in the Airflow UI) and re-run"
    ) in out
