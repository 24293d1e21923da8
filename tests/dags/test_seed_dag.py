"""The seed DAG: structure from a cheap table list, and `dag.test()` runs that seed PromptSales for real, twice."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from generators import airflow_seed
from generators.airflow_seed import SEED_ORDER, SEED_TABLES, task_id_for
from generators.data.portal import PORTAL_TABLES
from generators.data.tables import STORES
from generators.deploy import deploy_postgres
from tests.generators.test_data_portal import SEED, small_world

pytestmark = [pytest.mark.airflow]


@pytest.fixture(autouse=True)
def no_cached_tables() -> Iterator[None]:
    """Tests swap the world for a stand-in: keep its tables out of the per-process cache the DAG's tasks share."""
    airflow_seed.store_tables.cache_clear()
    yield
    airflow_seed.store_tables.cache_clear()


@pytest.fixture(scope="session")
def seed_dag(dagbag: Any) -> Any:
    dag = dagbag.dags.get("promptsales_seed")
    assert dag is not None, f"promptsales_seed did not load: {dagbag.import_errors}"
    return dag


def store_task_ids(store: str) -> list[str]:
    return [f"{store}.check_connection", *(f"{store}.{task_id_for(t)}" for t in SEED_TABLES[store]), f"{store}.summary"]


# --------------------------------------------------------------------------- structure


def test_seed_dag_is_manual_one_run_at_a_time_with_seed_and_scale_params(seed_dag: Any) -> None:
    assert seed_dag.schedule is None
    assert seed_dag.catchup is False
    assert seed_dag.max_active_runs == 1
    assert {"promptsales", "seed"} <= set(seed_dag.tags)
    params = seed_dag.params.dump()
    assert params == {"seed": 20260131, "scale": "full"}
    assert seed_dag.params.get_param("scale").schema["enum"] == ["full", "small"]
    assert "SeedLedgerMismatch" in seed_dag.doc_md and "`scale`" in seed_dag.doc_md
    assert {(t.owner, t.retries >= 2, bool(t.retry_delay)) for t in seed_dag.tasks} == {
        ("promptsales-data", True, True)
    }


def test_one_task_group_per_store_in_load_order(seed_dag: Any) -> None:
    assert SEED_ORDER == STORES
    assert list(seed_dag.task_group.children) == list(STORES)


@pytest.mark.parametrize("store", STORES)
def test_each_store_chains_its_tables_in_load_order(seed_dag: Any, store: str) -> None:
    expected = store_task_ids(store)
    assert [t for t in expected if t not in seed_dag.task_dict] == []
    assert {t.task_id for t in seed_dag.tasks if t.task_id.startswith(f"{store}.")} == set(expected)
    for previous, current in itertools.pairwise(expected[:-1]):
        assert seed_dag.task_dict[current].upstream_task_ids == {previous}, current
    assert seed_dag.task_dict[f"{store}.summary"].upstream_task_ids == set(expected[1:-1])
    assert [t.task_id for t in seed_dag.topological_sort() if t.task_id.startswith(f"{store}.")] == expected


def test_the_sales_table_list_is_the_portal_generators_load_order() -> None:
    assert SEED_TABLES["sales"] == PORTAL_TABLES


@pytest.mark.parametrize("store", STORES)
def test_the_dags_table_list_is_what_the_world_generates(store: str) -> None:
    """SEED_TABLES is the DAG's cheap copy of the world's table lists; it must not drift from the generator."""
    world = airflow_seed.world_for(SEED, "small")
    assert tuple(t.table for t in world.tables(store)) == SEED_TABLES[store]


def test_the_dags_scale_names_are_the_worlds() -> None:
    from generators.data.world import SCALES

    assert tuple(SCALES) == airflow_seed.SCALES


def test_a_stale_table_list_fails_with_the_fix_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setattr(airflow_seed, "world_for", lambda seed, scale: small_world(seed))
    monkeypatch.setitem(SEED_TABLES, "sales", SEED_TABLES["sales"][:-1])
    with pytest.raises(AirflowFailException, match=r"update SEED_TABLES in generators/airflow_seed.py"):
        airflow_seed.world_table("sales", "portal.companies", SEED, "small")


def test_a_lost_connection_is_retried_and_a_rejected_batch_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from generators.data.tables import SeedLoadError

    monkeypatch.setattr(airflow_seed, "world_for", lambda seed, scale: small_world(seed))

    def failing(cause: Exception) -> Callable[[str, Any], Any]:
        def load(conn_id: str, data: Any) -> Any:
            raise SeedLoadError(f"sales: {data.table} batch 1/1: {cause}") from cause

        return load

    params = {"seed": SEED, "scale": "small"}
    monkeypatch.setattr(
        airflow_seed, "_load_postgres", failing(psycopg.OperationalError("server closed the connection"))
    )
    with pytest.raises(SeedLoadError):  # not AirflowFailException: Airflow retries it, the ledger resumes
        airflow_seed.seed_table("sales", "postgresql", "promptsales_pg", "portal.companies", params)
    monkeypatch.setattr(airflow_seed, "_load_postgres", failing(psycopg.errors.CheckViolation("ck_users_status")))
    with pytest.raises(AirflowFailException, match="ck_users_status"):
        airflow_seed.seed_table("sales", "postgresql", "promptsales_pg", "portal.companies", params)


# --------------------------------------------------------------------------- dag.test() on the real PostgreSQL


def run_dag(dag: Any, **kwargs: Any) -> tuple[Any, dict[str, str]]:
    """`dag.test()` (Airflow 3: every task in this process; returns the DagRun) and each task's final state."""
    run = dag.test(**kwargs)
    return run, {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def xcom(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key="return_value")
        ).first()
        assert row is not None, f"no return value from {task_id}"
        return XComModel.deserialize_value(row)


def checksums(dsn: str) -> dict[str, str]:
    """Rows and content of every seeded table, the audit log and the seed ledger."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for table in [*PORTAL_TABLES, "audit.change_log", "seed.loaded_batches"]:
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} t"
            )
            row = conn.execute(query.format(sql.Identifier(*table.split(".")))).fetchone()
            out[table] = f"{row}"
    return out


@pytest.fixture
def seeding_world(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The world the DAG seeds at scale small: the real generator's, or the hand-made stand-in until it exists."""
    try:
        import generators.data.world  # noqa: F401
    except ModuleNotFoundError:
        monkeypatch.setattr(airflow_seed, "world_for", lambda seed, scale: small_world(seed))
    return airflow_seed.world_for(SEED, "small")


@pytest.fixture
def deployed(make_database: Callable[[], str]) -> str:
    dsn = make_database()
    deploy_postgres(dsn, "sales")
    return dsn


@pytest.mark.postgres
def test_seed_dag_loads_promptsales_and_a_second_run_changes_nothing(
    seed_dag: Any,
    airflow_db: Path,
    deployed: str,
    seeding_world: Any,
    no_store_connections: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PROMPTSALES_PG", deployed)
    tables = seeding_world.tables("sales")
    conf = {"seed": SEED, "scale": "small"}

    run, states = run_dag(seed_dag, run_conf=conf)
    assert str(run.state) == "success"
    assert {states[t] for t in store_task_ids("sales")} == {"success"}
    with psycopg.connect(deployed) as conn:
        for table in tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.table.split(".")))
            assert conn.execute(query).fetchone() == (table.rows,), table.table
    summary = xcom(run, "sales.summary")
    assert (summary["tables"], summary["rows_loaded"]) == (len(tables), sum(t.rows for t in tables))
    assert xcom(run, "sales.load_portal_campaigns")["rows_loaded"] == len(seeding_world.campaigns)

    # The stores without a connection here are skipped, each with the variable to set; never faked, never failed.
    out = "".join(capfd.readouterr())
    for store in ("ads", "crm", "content"):
        assert {states[t] for t in store_task_ids(store)} == {"skipped"}, store
        conn_id = airflow_seed.STORE_CONNECTIONS[store]
        assert f"store {store!r} skipped: Airflow connection {conn_id!r} is not configured" in out
        assert f"set AIRFLOW_CONN_{conn_id.upper()}=" in out
    assert f"sales: {len(tables)} tables, {summary['rows_loaded']:,} rows loaded, 0 already there" in out

    before = checksums(deployed)
    rerun, states = run_dag(seed_dag, run_conf=conf)
    assert str(rerun.state) == "success"
    assert {states[t] for t in store_task_ids("sales")} == {"success"}
    assert checksums(deployed) == before
    summary = xcom(rerun, "sales.summary")
    assert summary["rows_loaded"] == 0
    assert summary["batches_skipped"] == summary["batches_loaded"] + summary["batches_skipped"] > 0
    assert xcom(rerun, "sales.load_portal_companies")["summary"].endswith("rows already loaded (1 batches)")


@pytest.mark.postgres
def test_another_seed_on_a_seeded_store_fails_at_once_naming_the_fix(
    seed_dag: Any,
    airflow_db: Path,
    deployed: str,
    seeding_world: Any,
    no_store_connections: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PROMPTSALES_PG", deployed)
    run, _ = run_dag(seed_dag, run_conf={"seed": SEED, "scale": "small"})
    assert str(run.state) == "success"
    before = checksums(deployed)

    run, states = run_dag(seed_dag, run_conf={"seed": SEED + 1, "scale": "small"})
    assert str(run.state) == "failed"
    assert states["sales.load_portal_companies"] == "failed"
    assert {states[t] for t in store_task_ids("sales")[2:]} == {"upstream_failed"}
    out = "".join(capfd.readouterr())
    assert "sales: portal.companies batch 1: the seed ledger records" in out
    assert "drop and re-create the database" in out
    from airflow.utils.session import create_session

    with create_session() as session:  # not retried: another seed cannot become this one on a second try
        ti = run.get_task_instance("sales.load_portal_companies", session=session)
        assert ti is not None and ti.try_number == 1
    assert checksums(deployed) == before
