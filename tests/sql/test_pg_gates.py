"""The PostgreSQL gates: pglast parses every rendered file and PL/pgSQL body; plpgsql_check finds the rest."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from generators.deploy import load_manifest
from generators.gates import (
    check_postgres,
    iter_plpgsql_blocks,
    main,
    manifest_files,
    plpgsql_check_database,
    plpgsql_check_report,
)
from generators.model import load_model, load_models
from generators.render_etl import etl_routines

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "pg_basic" / "expected"
MANIFEST = load_manifest(ROOT / "sql" / "manifest.json")
SALES = load_model(ROOT / "model" / "sales.yaml")
ETL = next(m for m in load_models(ROOT / "model", root=ROOT) if m.store == "etl")
SALES_FUNCTIONS = (ROOT / "sql" / "sales" / "050_functions.sql").read_text()


def postgres_files() -> list[str]:
    """Every PostgreSQL file the manifest lists (deploy and scripts), plus the golden fixture's."""
    files = [
        rel
        for entry in MANIFEST["stores"].values()
        if entry["dialect"] == "postgresql"
        for rel in [*entry["deploy"], *entry["scripts"]]
    ]
    return files + [p.relative_to(ROOT).as_posix() for p in sorted(GOLDEN.glob("*.sql"))]


@pytest.mark.parametrize("rel", postgres_files())
def test_every_rendered_postgres_file_parses_with_its_plpgsql_bodies(rel: str) -> None:
    failures = check_postgres((ROOT / rel).read_text(encoding="utf-8"), rel)
    assert failures == [], "\n".join(map(str, failures))


def test_the_pglast_gate_reaches_every_routine_and_do_block() -> None:
    """Not hollow: each of the model's routines is one PL/pgSQL block the gate parses, and so are DO blocks."""
    functions = [b.text for b in iter_plpgsql_blocks(SALES_FUNCTIONS)]
    assert len(functions) == len(SALES.routines)
    for routine in SALES.routines:
        assert any(f"FUNCTION {routine.qualified}(" in text for text in functions), routine.qualified
    roles = list(iter_plpgsql_blocks((ROOT / "sql" / "sales" / "070_roles.sql").read_text()))
    assert len(roles) == len(SALES.roles)
    assert all(b.head == "DO $ddl$" for b in roles)


def test_a_broken_plpgsql_body_fails_the_gate() -> None:
    # The file still parses as SQL (the body is a dollar-quoted string); only the PL/pgSQL parser sees the damage.
    broken = SALES_FUNCTIONS.replace("    RETURN NEW;\nEND", "    RETURN 1 END IF;\nEND", 1)
    assert broken != SALES_FUNCTIONS
    failures = check_postgres(broken, "050_functions.sql")
    assert len(failures) == 1
    line = broken.splitlines().index("CREATE OR REPLACE FUNCTION portal.fn_touch_updated_at()") + 1
    assert failures[0].where == f"statement 1 (line {line}: CREATE OR REPLACE FUNCTION portal.fn_touch_updated_at())"
    assert failures[0].message.startswith("PL/pgSQL body: ")


def test_a_broken_do_block_fails_the_gate() -> None:
    roles = (GOLDEN / "070_roles.sql").read_text()
    broken = roles.replace("    END IF;\nEND", "    END;\nEND", 1)
    failures = check_postgres(broken, "070_roles.sql")
    assert [f.where.split(" (")[0] for f in failures] == ["statement 1"]
    assert "syntax error" in failures[0].message


def test_broken_sql_fails_the_gate_at_its_line() -> None:
    sql = "CREATE SCHEMA IF NOT EXISTS club;\n\nCREATE TABLE club.t (a int,);\n"
    failures = check_postgres(sql, "bad.sql")
    assert [str(f) for f in failures] == ['bad.sql: line 3: pglast: syntax error at or near ")"']


# --------------------------------------------------------------------------- plpgsql_check on the real server


@pytest.mark.postgres
def test_the_deployed_promptsales_schema_passes_plpgsql_check(sales_db: str) -> None:
    report = plpgsql_check_report(sales_db, [s.name for s in SALES.schemas])
    assert report.errors == [], "\n".join(map(str, report.errors))
    checked_functions = {target.split(" on ")[0].split("(")[0] for target in report.checked}
    # etl.updated_at_high_bound is LANGUAGE sql (one SELECT, parsed by pglast): plpgsql_check checks PL/pgSQL only.
    etl_functions = {r.split(" ", 1)[1].split("(")[0] for r in etl_routines(ETL)} - {"etl.updated_at_high_bound"}
    assert checked_functions == {r.qualified for r in SALES.routines} | etl_functions
    # Trigger functions are checked against every table whose trigger calls them.
    audited = [t.qualified for t in SALES.tables if t.audited]
    assert {f"audit.fn_log_row_change() on {t}" for t in audited} <= set(report.checked)
    assert plpgsql_check_database(sales_db, [s.name for s in SALES.schemas]) == []


@pytest.mark.postgres
def test_the_command_line_runs_plpgsql_check_and_refuses_an_empty_database(
    sales_db: str, fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = len(plpgsql_check_report(sales_db, [s.name for s in SALES.schemas]).checked)
    assert main(["--plpgsql-dsn", sales_db]) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    files = len(manifest_files(ROOT))
    assert summary.startswith(f"gates: ok: {files} files, {checks} PL/pgSQL checks (0 warnings), 0 failures")
    assert main(["--plpgsql-dsn", fresh_db]) == 1
    assert "no PL/pgSQL function found in the database" in capsys.readouterr().out


BROKEN_FUNCTIONS = """
CREATE TABLE public.orders (order_id bigint PRIMARY KEY, amount numeric NOT NULL);

CREATE FUNCTION public.order_total(p_order_id bigint) RETURNS numeric LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN (SELECT o.amount_usd FROM public.orders AS o WHERE o.order_id = p_order_id);
END
$fn$;

CREATE FUNCTION public.count_refunds() RETURNS bigint LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN (SELECT count(*) FROM public.refunds);
END
$fn$;

CREATE FUNCTION public.fn_stamp() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.stamped_at := now();
    RETURN NEW;
END
$fn$;
CREATE TRIGGER trg_orders_stamp BEFORE UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.fn_stamp();

CREATE FUNCTION public.fn_unused() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN NEW;
END
$fn$;
"""


@pytest.mark.postgres
def test_plpgsql_check_reports_functions_that_parse_but_are_wrong(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(BROKEN_FUNCTIONS)
    for block in iter_plpgsql_blocks(BROKEN_FUNCTIONS):  # all of it passes the parser gate
        assert check_postgres(block.text, "broken.sql") == []

    report = plpgsql_check_report(fresh_db, ["public"])
    by_function = {(e.function, e.relation): e.message for e in report.errors}
    assert by_function == {
        ("order_total(bigint)", None): "column o.amount_usd does not exist",
        ("count_refunds()", None): 'relation "public.refunds" does not exist',
        ("fn_stamp()", "orders"): 'record "new" has no field "stamped_at"',
    }
    assert [str(w) for w in report.warnings] == [
        "fn_unused(): warning: not checked: no trigger uses this trigger function"
    ]
    assert len(plpgsql_check_database(fresh_db, ["public"])) == 3


@pytest.mark.postgres
def test_plpgsql_check_leaves_the_database_as_it_was(fresh_db: str) -> None:
    plpgsql_check_report(fresh_db, ["public"])
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute("SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'plpgsql_check'").fetchone()
    assert row == (0,)
