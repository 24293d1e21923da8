"""The PostgreSQL seed loader on the real server: exact loads, idempotent re-runs, resumable failures, the ledger."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from generators import airflow_seed
from generators.airflow_deploy import is_transient
from generators.data import load_postgres
from generators.data.load_postgres import load_tables
from generators.data.portal import PORTAL_TABLES, portal_tables
from generators.data.tables import Batch, SeedLedgerMismatch, SeedLoadError, TableData, batch_sha256
from generators.deploy import ROOT, deploy_postgres
from generators.model import load_model
from tests.generators.test_data_portal import SEED, StandInWorld, rows_of, small_world

pytestmark = pytest.mark.postgres

MODEL = load_model(ROOT / "model" / "sales.yaml")
AUDITED = [t.qualified for t in MODEL.tables if t.audited and t.qualified in PORTAL_TABLES]


@pytest.fixture
def deployed(make_database: Callable[[], str]) -> str:
    """A fresh database with the rendered PromptSales schema deployed (and nothing seeded)."""
    dsn = make_database()
    deploy_postgres(dsn, "sales")
    return dsn


@pytest.fixture(scope="module")
def world() -> StandInWorld:
    return small_world()


@pytest.fixture(scope="module")
def tables(world: StandInWorld) -> dict[str, TableData]:
    return {t.table: t for t in portal_tables(world)}


def count(dsn: str, table: str, where: str = "") -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} ").format(sql.Identifier(*table.split("."))) + sql.SQL(where)
        )
        return int(row.fetchone()[0])  # type: ignore[index]


def ledger(dsn: str, table: str) -> list[tuple[int, int, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT batch_no, rows, sha256 FROM seed.loaded_batches WHERE table_name = %s ORDER BY batch_no", (table,)
        ).fetchall()


def state(dsn: str) -> dict[str, str]:
    """A checksum of every seeded table, the audit log, the seed ledger and every identity sequence."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for table in [*PORTAL_TABLES, "audit.change_log", "seed.loaded_batches"]:
            ident = sql.Identifier(*table.split("."))
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} AS t"
            )
            n, digest = conn.execute(query.format(ident)).fetchone()  # type: ignore[misc]
            out[table] = f"{n}:{digest}"
        for seq, value in conn.execute(
            "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences ORDER BY 1"
        ).fetchall():
            out[f"sequence {seq}"] = str(value)
    return out


def db_rows(dsn: str, table: TableData) -> list[tuple[Any, ...]]:
    model = MODEL.table_map[table.table]
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.columns)
    order = sql.SQL(", ").join(sql.Identifier(c) for c in model.primary_key)
    query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(columns, sql.Identifier(*table.table.split(".")), order)
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def plain(value: Any) -> Any:
    """What a generated value looks like once PostgreSQL gave it back (numeric as Decimal, instants in UTC)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


# --------------------------------------------------------------------------- loading


def test_loads_every_portal_table_with_exact_counts_and_a_ledger(deployed: str, tables: dict[str, TableData]) -> None:
    results = load_tables(deployed, list(tables.values()), batch_rows=40, progress=False)
    assert [r.table for r in results] == list(PORTAL_TABLES)
    for result in results:
        table = tables[result.table]
        assert (result.rows, result.rows_loaded, result.batches_skipped) == (table.rows, table.rows, 0)
        assert result.batches_loaded == -(-table.rows // 40)
        assert count(deployed, result.table) == table.rows, result.table
    contacts = tables["portal.contacts"]
    expected = [
        (n, len(b["contact_id"]), batch_sha256(contacts.columns, b)) for n, b in enumerate(contacts.batches(40), 1)
    ]
    assert ledger(deployed, "portal.contacts") == expected


def test_every_value_arrives_exactly_as_generated(deployed: str, tables: dict[str, TableData]) -> None:
    """Binary COPY round-trips dates, UTC instants, numerics, bytea and text[]; and the triggers that fired during
    the load (audit, and the AI-approval sync that UPDATEs ai.usage_log) changed no generated value."""
    load_tables(deployed, list(tables.values()), progress=False)
    model_keys = {name: MODEL.table_map[name].primary_key for name in PORTAL_TABLES}
    for name, table in tables.items():
        generated = sorted(
            (tuple(plain(r[c]) for c in table.columns) for r in rows_of(table)),
            key=lambda row, t=table, k=model_keys[name]: tuple(row[t.columns.index(c)] for c in k),
        )
        stored = [tuple(plain(v) for v in row) for row in db_rows(deployed, table)]
        assert stored == generated, name


def test_triggers_stay_on_and_the_audit_log_names_the_seed(deployed: str, tables: dict[str, TableData]) -> None:
    load_tables(deployed, list(tables.values()), progress=False)
    with psycopg.connect(deployed) as conn:
        audit = dict(
            conn.execute(
                "SELECT table_name, count(*) FROM audit.change_log WHERE operation = 'I' GROUP BY table_name"
            ).fetchall()
        )
        who = conn.execute("SELECT DISTINCT db_user, app_user FROM audit.change_log").fetchall()
        updates = conn.execute("SELECT count(*) FROM audit.change_log WHERE operation <> 'I'").fetchone()
    assert audit == {name: tables[name].rows for name in AUDITED}
    assert who == [("postgres", load_postgres.SEED_APP_USER)]
    assert updates == (0,)


def test_rerun_loads_nothing_and_changes_nothing(deployed: str, tables: dict[str, TableData]) -> None:
    load_tables(deployed, list(tables.values()), batch_rows=25, progress=False)
    before = state(deployed)
    again = load_tables(deployed, list(tables.values()), batch_rows=25, progress=False)
    assert sum(r.rows_loaded for r in again) == 0
    assert all(r.batches_loaded == 0 and r.batches_skipped == -(-r.rows // 25) for r in again)
    assert state(deployed) == before


def test_identity_sequences_are_past_the_largest_seeded_id(deployed: str, tables: dict[str, TableData]) -> None:
    load_tables(deployed, list(tables.values()), progress=False)
    with psycopg.connect(deployed) as conn:
        behind = []
        for name in PORTAL_TABLES:
            for column in MODEL.table_map[name].columns:
                if not column.identity:
                    continue
                ident = sql.Identifier(*name.split("."))
                top = conn.execute(sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column.name), ident))
                last = conn.execute(
                    "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, %s)::regclass)", (name, column.name)
                ).fetchone()
                maximum = top.fetchone()[0]  # type: ignore[index]
                if maximum is not None and (last is None or last[0] is None or last[0] < maximum):
                    behind.append(f"{name}.{column.name}: max {maximum}, sequence {last}")
        assert behind == []
        # What the portal does next: INSERTs without ids, which must not collide with seeded rows.
        company = conn.execute(
            "INSERT INTO portal.companies (legal_name, brand_name, industry, country_code)"
            " VALUES ('New Client LLC', 'New Client', 'footwear', 'US') RETURNING company_id"
        ).fetchone()
        user = conn.execute(
            "INSERT INTO portal.users (company_id, email, full_name) VALUES (%s, 'new.person@new-client.example',"
            " 'New Person') RETURNING user_id",
            company,
        ).fetchone()
    assert company is not None and company[0] == max(r["company_id"] for r in rows_of(tables["portal.companies"])) + 1
    assert user is not None and user[0] == tables["portal.users"].rows + 1


def test_a_generated_always_identity_is_loaded_through_a_staging_table(deployed: str) -> None:
    with psycopg.connect(deployed, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA scratch")
        conn.execute("CREATE TABLE scratch.always_ids (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text)")

    def batches(batch_rows: int) -> Iterator[Batch]:
        ids = np.arange(10, 15, dtype=np.int64)
        for start in range(0, 5, batch_rows):
            yield {
                "id": ids[start : start + batch_rows],
                "label": [f"row {i}" for i in ids[start : start + batch_rows]],
            }

    table = TableData("sales", "scratch.always_ids", ("id", "label"), 5, batches, explicit_identity=True)
    (result,) = load_tables(deployed, [table], batch_rows=2, progress=False)
    assert (result.rows_loaded, result.batches_loaded) == (5, 3)
    with psycopg.connect(deployed) as conn:
        assert conn.execute("SELECT array_agg(id ORDER BY id) FROM scratch.always_ids").fetchone() == (
            [10, 11, 12, 13, 14],
        )
        assert conn.execute("INSERT INTO scratch.always_ids (label) VALUES ('app') RETURNING id").fetchone() == (15,)


# --------------------------------------------------------------------------- failures and resuming


def five_batches(table: TableData) -> int:
    batch_rows = -(-table.rows // 5)
    assert -(-table.rows // batch_rows) == 5
    return batch_rows


def before(tables: dict[str, TableData], name: str) -> list[TableData]:
    return [tables[t] for t in PORTAL_TABLES[: PORTAL_TABLES.index(name)]]


def with_bad_batch(table: TableData, bad_batch: int, column: str, value: Any) -> TableData:
    """The same table, except that the LAST row of batch `bad_batch` carries `value` in `column`."""

    def batches(batch_rows: int) -> Iterator[Batch]:
        for n, batch in enumerate(table.make_batches(batch_rows), start=1):
            if n == bad_batch:
                values = list(batch[column])
                values[-1] = value
                batch = {**batch, column: np.array(values) if isinstance(batch[column], np.ndarray) else values}
            yield batch

    return replace(table, make_batches=batches)


def test_a_batch_the_database_rejects_leaves_earlier_batches_and_the_rerun_completes_once(
    deployed: str, tables: dict[str, TableData]
) -> None:
    contacts = tables["portal.contacts"]
    batch_rows = five_batches(contacts)
    load_tables(deployed, before(tables, "portal.contacts"), progress=False)
    broken = with_bad_batch(contacts, 3, "company_id", 987_654)  # a company that does not exist: FK violation

    with pytest.raises(SeedLoadError) as failed:
        load_tables(deployed, [broken], batch_rows=batch_rows, progress=False)
    message = str(failed.value)
    assert message.startswith("sales: portal.contacts batch 3/5: ") and "fk_" in message and "\n" not in message
    assert not is_transient(failed.value), "a constraint violation must not be retried"

    # Batches 1-2 are committed and recorded; nothing of batch 3, not even its first rows or their audit rows.
    assert [n for n, _, _ in ledger(deployed, "portal.contacts")] == [1, 2]
    assert count(deployed, "portal.contacts") == 2 * batch_rows
    assert count(deployed, "portal.contacts", f"WHERE contact_id > {2 * batch_rows}") == 0
    assert count(deployed, "audit.change_log", "WHERE table_name = 'portal.contacts'") == 2 * batch_rows

    (result,) = load_tables(deployed, [contacts], batch_rows=batch_rows, progress=False)
    assert (result.batches_skipped, result.batches_loaded) == (2, 3)
    assert result.rows_loaded == contacts.rows - 2 * batch_rows
    assert count(deployed, "portal.contacts") == contacts.rows
    with psycopg.connect(deployed) as conn:
        distinct = conn.execute("SELECT count(DISTINCT contact_id), max(contact_id) FROM portal.contacts").fetchone()
    assert distinct == (contacts.rows, contacts.rows)
    assert count(deployed, "audit.change_log", "WHERE table_name = 'portal.contacts'") == contacts.rows
    assert [n for n, _, _ in ledger(deployed, "portal.contacts")] == [1, 2, 3, 4, 5]


def test_a_connection_killed_during_copy_commits_nothing_of_that_batch_and_the_rerun_completes(
    deployed: str, tables: dict[str, TableData]
) -> None:
    contacts = tables["portal.contacts"]
    batch_rows = five_batches(contacts)
    load_tables(deployed, before(tables, "portal.contacts"), progress=False)
    database = deployed.rpartition("/")[2]
    victim = 2 * batch_rows + batch_rows // 2  # a row in the middle of batch 3
    with psycopg.connect(deployed, autocommit=True) as conn:
        # Holds the COPY of batch 3 mid-stream, so the killer below terminates a backend that is inside the COPY.
        conn.execute(
            f"""
            CREATE FUNCTION public.hold_copy() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.contact_id = {victim} THEN PERFORM pg_sleep(60); END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER hold_copy BEFORE INSERT ON portal.contacts FOR EACH ROW EXECUTE FUNCTION public.hold_copy();
            """
        )
    killed: list[int] = []

    def killer() -> None:
        with psycopg.connect(deployed, autocommit=True) as admin:
            for _ in range(300):
                pids = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event = 'PgSleep'"
                    " AND query LIKE 'COPY%%'",
                    (database,),
                ).fetchall()
                for (pid,) in pids:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    with pytest.raises(SeedLoadError) as failed:
        load_tables(deployed, [contacts], batch_rows=batch_rows, progress=False)
    thread.join()
    assert killed, "the COPY of batch 3 was never caught waiting"
    assert str(failed.value).startswith("sales: portal.contacts batch 3/5: ")
    assert is_transient(failed.value), "a lost connection is worth a retry"
    assert [n for n, _, _ in ledger(deployed, "portal.contacts")] == [1, 2]
    assert count(deployed, "portal.contacts") == 2 * batch_rows

    with psycopg.connect(deployed, autocommit=True) as conn:
        conn.execute("DROP TRIGGER hold_copy ON portal.contacts")
    (result,) = load_tables(deployed, [contacts], batch_rows=batch_rows, progress=False)
    assert (result.batches_skipped, result.batches_loaded, result.rows_loaded) == (2, 3, contacts.rows - 2 * batch_rows)
    with psycopg.connect(deployed) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT contact_id) FROM portal.contacts").fetchone() == (
            contacts.rows,
            contacts.rows,
        )


def test_another_seed_is_refused_with_one_line_that_says_what_to_do(
    deployed: str, tables: dict[str, TableData]
) -> None:
    load_tables(deployed, list(tables.values()), progress=False)
    before_state = state(deployed)
    other = portal_tables(small_world(seed=SEED + 1))
    with pytest.raises(SeedLedgerMismatch) as refused:
        load_tables(deployed, other, progress=False)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("sales: portal.companies batch 1: the seed ledger records 8 rows with SHA-256 ")
    assert "drop and re-create the database" in message and "seed with the same seed" in message
    assert state(deployed) == before_state


def test_another_batch_size_is_refused_too(deployed: str, tables: dict[str, TableData]) -> None:
    users = [tables["portal.companies"], tables["portal.users"]]
    load_tables(deployed, users, batch_rows=10, progress=False)
    with pytest.raises(SeedLedgerMismatch, match=r"portal.companies batch 1: .* same seed, scale and batch size"):
        load_tables(deployed, users, batch_rows=7, progress=False)


def test_rows_the_ledger_does_not_know_are_never_overwritten(deployed: str, tables: dict[str, TableData]) -> None:
    with psycopg.connect(deployed) as conn:
        conn.execute(
            "INSERT INTO portal.companies (legal_name, brand_name, industry, country_code)"
            " VALUES ('Hand Made', 'Hand Made', 'home', 'US')"
        )
    with pytest.raises(SeedLedgerMismatch, match=r"portal.companies already holds rows that no seed batch recorded"):
        load_tables(deployed, [tables["portal.companies"]], progress=False)
    assert count(deployed, "portal.companies") == 1


def test_a_naive_timestamp_is_refused_before_anything_is_written(deployed: str, tables: dict[str, TableData]) -> None:
    companies = tables["portal.companies"]

    def naive(batch_rows: int) -> Iterator[Batch]:
        for batch in companies.make_batches(batch_rows):
            yield {**batch, "created_at": [v.replace(tzinfo=None) for v in batch["created_at"]]}

    with pytest.raises(SeedLoadError, match=r"portal.companies.created_at: naive datetime .* generate UTC-aware"):
        load_tables(deployed, [replace(companies, make_batches=naive)], progress=False)
    assert count(deployed, "portal.companies") == 0
    assert ledger(deployed, "portal.companies") == []


def test_a_missing_schema_says_deploy_first(fresh_db: str, tables: dict[str, TableData]) -> None:
    with pytest.raises(SeedLoadError, match=r"sales: portal.companies: no such table: deploy the schema first"):
        load_tables(fresh_db, [tables["portal.companies"]], progress=False)


def test_a_connection_must_be_idle_and_keeps_its_mode(deployed: str, tables: dict[str, TableData]) -> None:
    with psycopg.connect(deployed) as conn:
        conn.execute("SELECT 1")  # a transaction is now open
        with pytest.raises(ValueError, match="idle connection"):
            load_tables(conn, [tables["portal.companies"]], progress=False)
        conn.rollback()
        (result,) = load_tables(conn, [tables["portal.companies"]], progress=False)
        assert result.rows_loaded == tables["portal.companies"].rows
        assert conn.autocommit is False


# --------------------------------------------------------------------------- what the user sees


def test_one_summary_line_per_table_and_a_final_one(
    deployed: str, tables: dict[str, TableData], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="generators.data.load_postgres")
    load_tables(deployed, list(tables.values()), progress=True)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == len(PORTAL_TABLES) + 1
    assert lines[0].startswith(f"sales: portal.companies: {tables['portal.companies'].rows:,} rows in ")
    total = sum(t.rows for t in tables.values())
    assert lines[-1].startswith(f"sales: {len(PORTAL_TABLES)} tables, {total:,} rows loaded, 0 already there, in ")
    assert lines[-1].endswith(" rows/s)")
    assert "━" not in capsys.readouterr().err, "no progress bar when stderr is not a terminal"

    caplog.clear()
    load_tables(deployed, list(tables.values()), progress=False)
    assert (
        caplog.records[0].getMessage()
        == f"sales: portal.companies: {tables['portal.companies'].rows:,} rows already loaded (1 batches)"
    )


def test_cli_seeds_the_portal_of_the_world_it_builds(
    deployed: str, monkeypatch: pytest.MonkeyPatch, world: StandInWorld
) -> None:
    built = []

    def world_for(seed: int, scale: str) -> StandInWorld:
        built.append((seed, scale))
        return small_world(seed)

    monkeypatch.setattr(airflow_seed, "world_for", world_for)
    argv = ["--dsn", deployed, "--seed", str(SEED), "--scale", "small", "--no-progress"]
    assert load_postgres.main(argv) == 0
    assert built == [(SEED, "small")]
    assert count(deployed, "portal.campaigns") == len(world.campaigns)
    assert load_postgres.main(argv) == 0  # the re-run finds everything in the ledger


def test_cli_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PROMPTSALES_PG_URL", raising=False)
    with pytest.raises(SystemExit):
        load_postgres.main(["--scale", "small"])
    assert "no database: pass --dsn or set PROMPTSALES_PG_URL" in capsys.readouterr().err

    unreachable = ["--dsn", "postgresql://postgres@127.0.0.1:1/promptsales", "--scale", "small", "--no-progress"]
    monkeypatch.setattr(airflow_seed, "world_for", lambda seed, scale: small_world(seed))
    assert load_postgres.main(unreachable) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: PostgreSQL is not reachable (") and err.endswith("check --dsn")
    assert "\n" not in err

    def missing(seed: int, scale: str) -> StandInWorld:
        raise ModuleNotFoundError("No module named 'generators.data.world'", name="generators.data.world")

    monkeypatch.setattr(airflow_seed, "world_for", missing)
    assert load_postgres.main(unreachable) == 1
    assert capsys.readouterr().err.startswith("error: the world generator is not available")
