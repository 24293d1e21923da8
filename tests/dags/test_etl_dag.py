"""The ETL DAG: an 11-minute interval, one run at a time, retries with backoff; skipped without Carte; and `dag.test()`
against the local stand-in of Carte, whose job start does the PostgreSQL half of the delta on a real database."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from generators import airflow_etl, render_pentaho
from generators.airflow_etl import batch_id_for, etl_plan, run_log_problems
from generators.deploy import ROOT
from tests.generators.test_carte import CarteStandIn, Outcome

pytestmark = [pytest.mark.airflow]

TASKS = ["check_carte", "run_job", "verify_run_log", "invalidate_cache", "summary"]


@pytest.fixture(scope="session")
def etl_dag(dagbag: Any) -> Any:
    dag = dagbag.dags.get("promptsales_etl")
    assert dag is not None, f"promptsales_etl did not load: {dagbag.import_errors}"
    return dag


@pytest.fixture(scope="session")
def etl_model() -> Any:
    from generators.model import load_models

    models = {m.store: m for m in load_models(ROOT / "model", root=ROOT)}
    return models["etl"]


# --------------------------------------------------------------------------- structure


def test_the_schedule_is_a_true_11_minute_interval_from_the_model(etl_dag: Any, etl_model: Any) -> None:
    from airflow.sdk.definitions.timetables.trigger import DeltaTriggerTimetable

    assert etl_model.schedule_minutes == 11
    assert etl_dag.schedule == timedelta(minutes=etl_model.schedule_minutes)
    assert not isinstance(etl_dag.schedule, str)  # not cron: */11 would restart at every full hour
    # Airflow 3 turns a timedelta into a delta trigger (no cron anywhere): a run every 660 s after the last.
    assert isinstance(etl_dag.timetable, DeltaTriggerTimetable)
    assert etl_dag.timetable.delta == timedelta(seconds=660)
    assert etl_plan().sources == tuple(s.name for s in etl_model.sources)


def test_one_run_at_a_time_no_catchup_and_retries_with_exponential_backoff(etl_dag: Any) -> None:
    assert etl_dag.max_active_runs == 1
    assert etl_dag.catchup is False
    assert {"promptsales", "etl"} <= set(etl_dag.tags)
    for task in etl_dag.tasks:
        assert task.owner == "promptsales-data"
        assert task.retries >= 2
        assert task.retry_delay == timedelta(seconds=30)
        assert task.retry_exponential_backoff > 1  # Airflow 3: a multiplier; True (1.0) would not grow at all
        assert task.max_retry_delay == timedelta(minutes=4)
    assert "verify_run_log" in etl_dag.doc_md and "ps:ver:sales" in etl_dag.doc_md


def test_tasks_chain_from_the_carte_check_to_the_summary(etl_dag: Any) -> None:
    assert [t.task_id for t in etl_dag.topological_sort()] == TASKS
    upstream = {t: etl_dag.task_dict[t].upstream_task_ids for t in TASKS}
    assert upstream == {
        "check_carte": set(),
        "run_job": {"check_carte"},
        "verify_run_log": {"run_job"},
        "invalidate_cache": {"verify_run_log"},
        "summary": {"run_job", "verify_run_log", "invalidate_cache"},
    }
    # The summary still runs when the cache step is skipped (nothing changed, no Redis), never after a failure.
    assert etl_dag.task_dict["summary"].trigger_rule == "none_failed_min_one_success"
    assert etl_dag.task_dict["run_job"].execution_timeout == timedelta(minutes=10)


def test_the_dag_sends_only_parameters_the_job_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PROMPTSALES_PG", "postgresql://etl:pg-secret@db:5432/promptsales")
    monkeypatch.setenv("AIRFLOW_CONN_PROMPTADS_MSSQL", "mssql://etl:ads-secret@ads:1433/PromptAds")
    monkeypatch.setenv("AIRFLOW_CONN_PROMPTCRM_MSSQL", "mssql://etl:crm-secret@crm:1433/PromptCrm")
    monkeypatch.setenv("AIRFLOW_CONN_PROMPTCONTENT_MONGO", "mongodb://etl:mongo-secret@content:27017/admin")
    params, missing = airflow_etl.job_parameters("scheduled__2026-01-05T10:00:00+00:00")
    job = ET.parse(ROOT / "pentaho" / "promptsales_delta.kjb").getroot()  # noqa: S314 - our rendered file
    declared = {p.findtext("name") for p in job.findall("parameters/parameter")}
    assert missing == []
    assert set(params) <= declared
    assert params["PG_PASSWORD"] == "pg-secret" and params["ADS_MSSQL_HOST"] == "ads"
    assert params["CONTENT_MONGO_URI"] == "mongodb://etl:mongo-secret@content:27017/admin"
    assert params["CONTENT_MONGO_DB"] == "promptcontent"
    assert params["BATCH_ID"] == batch_id_for("scheduled__2026-01-05T10:00:00+00:00")
    assert airflow_etl.STORE_PARAMETER_PREFIX == render_pentaho.STORE_PARAMETER_PREFIX


def test_the_batch_id_is_a_deterministic_uuid_of_the_run_and_odd_run_ids_are_refused() -> None:
    assert batch_id_for("manual__x") == batch_id_for("manual__x") != batch_id_for("manual__y")
    assert len(batch_id_for("manual__x")) == 36
    with pytest.raises(airflow_etl.EtlError, match=r"travels into the job's SQL"):
        airflow_etl.job_parameters("manual__'); DROP TABLE etl.run_log; --")


def row(source: str, run_id: int, **values: Any) -> dict[str, Any]:
    base = {"source_name": source, "run_id": run_id, "status": "succeeded", "rows_read": 5, "rows_changed": 3}
    return {"error": None, "last_run_id": run_id, "watermark": "0x00000000000007D1", **base, **values}


def test_run_log_mismatches_are_each_named() -> None:
    sources = ("a", "b", "c", "d", "e")
    rows = [
        row("a", 1),
        row("b", 2, status="failed", error="deadlock detected"),
        row("c", 3, rows_read=2, rows_changed=3),
        row("d", 4, last_run_id=1),
        row("e", 5),
        row("e", 6),
        row("z", 7),
    ]
    problems, results = run_log_problems(rows, sources)
    assert problems == [
        "b: no succeeded row (rows: failed (deadlock detected))",
        "c: rows_read 2 < rows_changed 3 or negative",
        "d: etl.source_watermarks.last_run_id is 1, not this run's 4",
        "e: 2 succeeded rows (run_ids [5, 6]), want 1",
        "z: in etl.run_log but not a source of model/etl.yaml",
    ]
    assert results["a"] == {"run_id": 1, "rows_read": 5, "rows_changed": 3, "watermark": "0x00000000000007D1"}
    assert run_log_problems([], ("a",))[0] == ["a: no succeeded row (the job never applied it)"]


# --------------------------------------------------------------------------- dag.test()


def run_dag(dag: Any, **kwargs: Any) -> tuple[Any, dict[str, str]]:
    run = dag.test(**kwargs)
    return run, {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def xcom(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        found = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key="return_value")
        ).first()
        assert found is not None, f"no return value from {task_id}"
        return XComModel.deserialize_value(found)


@pytest.fixture
def no_etl_connections(monkeypatch: pytest.MonkeyPatch, no_store_connections: None) -> Iterator[None]:
    for conn_id in (airflow_etl.CARTE_CONN_ID, airflow_etl.REDIS_CONN_ID):
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)
    monkeypatch.delenv(airflow_etl.REDIS_URL_VARIABLE, raising=False)
    yield


def test_without_carte_the_run_is_skipped_with_the_fix_named(
    etl_dag: Any, airflow_db: Path, no_etl_connections: None, capfd: pytest.CaptureFixture[str]
) -> None:
    run, states = run_dag(etl_dag)
    assert str(run.state) == "success"
    assert states == dict.fromkeys(TASKS, "skipped")
    out = "".join(capfd.readouterr())
    assert "delta ETL skipped: Airflow connection 'pentaho_carte' (the Carte server) is not configured;" in out
    assert "set AIRFLOW_CONN_PENTAHO_CARTE=http://cluster:password@carte:8081" in out


def test_without_promptsales_the_run_is_skipped_too(
    etl_dag: Any,
    airflow_db: Path,
    no_etl_connections: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PENTAHO_CARTE", "http://cluster:x@127.0.0.1:9")
    _, states = run_dag(etl_dag)
    assert states == dict.fromkeys(TASKS, "skipped")
    assert "Airflow connection 'promptsales_pg' (PromptSales, where the job stages and applies)" in "".join(
        capfd.readouterr()
    )


# --------------------------------------------------------------------------- dag.test() end to end

SOURCE_HIGH = "0x00000000000007D1"
"""The rowversion the stand-in reports as each SQL Server's MIN_ACTIVE_ROWVERSION()."""
CAMPAIGNS = (1, 2, 3, 4, 5)
REDIS_TEST_URL = "redis://127.0.0.1:6379/13"


def _value(pg_type: str, campaign_id: int, column: str) -> Any:
    """A scripted aggregate, used only while generators/etl_local.py (the world's aggregates) does not exist."""
    base = pg_type.split("(")[0].strip().lower()
    if base.endswith("[]"):
        return "{email,social}"
    if base in ("bigint", "integer", "smallint"):
        return campaign_id if column == "campaign_id" else campaign_id % 7 + 2
    if base == "numeric":
        return f"{campaign_id % 97}.25"
    if base == "date":
        return "2025-12-01" if column != "ends_on" else "2026-01-15"
    return {"status": "active", "objective": "sales", "channel": "email"}.get(column, f"{column} {campaign_id}")


def world_source() -> Any | None:
    """generators.etl_local.WorldSource over the small generated world: what the source queries would return."""
    try:
        from generators.etl_local import WorldSource
    except ModuleNotFoundError:
        return None
    from generators import airflow_seed
    from tests.generators.test_data_portal import SEED

    return WorldSource(airflow_seed.world_for(SEED, "small"))


class PostgresHalf:
    """What the stand-in of Carte does with a job start: the rendered job's PostgreSQL side, run for real.

    It walks `pentaho/promptsales_delta.kjb` along its success hops and runs every SQL entry's text (clear, header,
    apply) with the job's variables substituted, exactly as Kettle would on `pg_target`. It reads each source's low
    bound (and the MongoDB high bound) with get_watermarks.ktr's own PostgreSQL queries. Only what needs a source
    database is scripted: the SQL Servers' MIN_ACTIVE_ROWVERSION() is SOURCE_HIGH, and the staging transformations'
    rows are the aggregates of CAMPAIGNS that generators.etl_local.WorldSource computes from the small generated
    world (what the T-SQL and Mongo queries would return), or scripted ones while that module does not exist.
    """

    def __init__(self, forget: str | None = None) -> None:
        from generators.pentaho_check import substitute

        self.substitute = substitute
        self.forget = forget
        self.world = world_source()
        self.job = ET.parse(ROOT / "pentaho" / "promptsales_delta.kjb").getroot()  # noqa: S314
        self.watermarks = ET.parse(ROOT / "pentaho" / "get_watermarks.ktr").getroot()  # noqa: S314

    def __call__(self, params: dict[str, str]) -> list[str]:
        from generators import render_etl
        from generators.model import load_models

        etl = next(m for m in load_models(ROOT / "model", root=ROOT) if m.store == "etl")
        variables = dict(params)
        log: list[str] = []
        dsn = {
            "host": params["PG_HOST"],
            "port": params["PG_PORT"],
            "dbname": params["PG_DB"],
            "user": params["PG_USER"],
            **({"password": params["PG_PASSWORD"]} if "PG_PASSWORD" in params else {}),
        }
        with psycopg.connect(**dsn, autocommit=True) as conn:
            self.read_watermarks(conn, variables)
            entries = {e.findtext("name"): e for e in self.job.findall("entries/entry")}
            success = {
                h.findtext("from"): h.findtext("to")
                for h in self.job.findall("hops/hop")
                if h.findtext("evaluation") == "Y"
            }
            current = "get watermarks"
            while current in success:
                current = success[current] or ""
                entry = entries[current]
                source = current.split(" ", 1)[-1]
                if source == self.forget:
                    continue  # the "forgetful" variant: this source's entries never run
                if entry.findtext("type") == "SQL":
                    for statement in self.statements(entry.findtext("sql") or "", variables):
                        conn.execute(statement)
                elif entry.findtext("type") == "TRANS" and current.startswith("stage "):
                    self.stage(conn, etl, render_etl, source, variables["BATCH_ID"])
                log.append(f"Finished job entry [{current}]")
        return log

    def statements(self, sql: str, variables: dict[str, str]) -> list[str]:
        text = self.substitute(sql, variables)
        return [s.strip() for s in text.split(";\n") if s.strip()]

    def read_watermarks(self, conn: Any, variables: dict[str, str]) -> None:
        steps = {s.findtext("name"): s for s in self.watermarks.findall("step")}
        for hop in self.watermarks.findall("order/hop"):
            read, setter = steps[hop.findtext("from")], steps[hop.findtext("to")]
            variable = setter.findtext("fields/field/variable_name") or ""
            if read.findtext("connection") == "pg_target":
                row = conn.execute(read.findtext("sql") or "").fetchone()
                variables[variable] = str(row[0])
            else:
                variables[variable] = SOURCE_HIGH  # MIN_ACTIVE_ROWVERSION() of a SQL Server that cannot run here

    def stage(self, conn: Any, etl: Any, render_etl: Any, source_name: str, batch_id: str) -> None:
        """What stage_<source>.ktr writes: the source query's rows for CAMPAIGNS, with batch_id (no header: the
        job's next entry writes it)."""
        if self.world is not None:
            self.world.stage(conn, etl, source_name, CAMPAIGNS, batch_id, "", "", header=False)
            return
        source = etl.source(source_name)
        for output in source.outputs:
            columns = render_etl.stage_columns(etl, source_name, output.name)
            names = ", ".join([c for c, _ in columns] + ["batch_id"])
            marks = ", ".join(["%s"] * (len(columns) + 1))
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {source.stage_table(output)} ({names}) VALUES ({marks})",
                    [[_value(t, cid, c) for c, t in columns] + [batch_id] for cid in CAMPAIGNS],
                )

    def expected_names(self) -> list[tuple[int, str]]:
        """(campaign_id, campaign_name) the summary must hold after the run."""
        if self.world is None:
            return [(c, f"campaign_name {c}") for c in CAMPAIGNS]
        rows = self.world.aggregates("ads_daily_results", "campaign", CAMPAIGNS)
        return sorted((int(r[0]), str(r[1])) for r in rows)


@pytest.fixture
def deployed(make_database: Callable[[], str]) -> str:
    from generators.deploy import deploy_postgres

    dsn = make_database()
    deploy_postgres(dsn, "sales")
    return dsn


@pytest.fixture
def carte_stand_in() -> Iterator[CarteStandIn]:
    with CarteStandIn() as stand_in:
        yield stand_in


def configure(monkeypatch: pytest.MonkeyPatch, carte: CarteStandIn, dsn: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PROMPTSALES_PG", dsn)
    monkeypatch.setenv(
        "AIRFLOW_CONN_PENTAHO_CARTE",
        f"{carte.url_with_credentials}/?poll_seconds=0.05&job_path=%2Fopt%2Fpromptsales%2Fpentaho%2Fpromptsales_delta.kjb",
    )
    monkeypatch.setenv(airflow_etl.REDIS_URL_VARIABLE, REDIS_TEST_URL)


@pytest.mark.postgres
@pytest.mark.redis
def test_dag_runs_the_job_on_the_stand_in_and_every_source_is_applied_once(
    etl_dag: Any,
    airflow_db: Path,
    deployed: str,
    carte_stand_in: CarteStandIn,
    no_etl_connections: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import redis

    configure(monkeypatch, carte_stand_in, deployed)
    half = PostgresHalf()
    carte_stand_in.outcome = Outcome(on_start=half)
    version_before = int(redis.Redis.from_url(REDIS_TEST_URL).get("ps:ver:sales") or 0)

    run, states = run_dag(etl_dag)
    assert str(run.state) == "success", states
    assert states == dict.fromkeys(TASKS, "success")
    sources = etl_plan().sources

    # Carte was asked for the job by path, with the run's batch, the run id and PromptSales' connection.
    path, params, _ = carte_stand_in.requests[0]
    assert path == "/kettle/executeJob/"
    assert params["job"] == "/opt/promptsales/pentaho/promptsales_delta.kjb"
    assert params["AIRFLOW_RUN_ID"] == run.run_id and params["BATCH_ID"] == batch_id_for(run.run_id)
    assert (params["PG_HOST"], params["PG_DB"]) == ("127.0.0.1", deployed.rsplit("/", 1)[1])

    with psycopg.connect(deployed) as conn:
        log = conn.execute(
            "SELECT source_name, status, rows_read, rows_changed FROM etl.run_log WHERE airflow_run_id = %s"
            " ORDER BY run_id",
            (run.run_id,),
        ).fetchall()
        assert [r[0] for r in log] == list(sources)
        assert {r[1] for r in log} == {"succeeded"}
        marks = dict(conn.execute("SELECT source_name, last_rowversion FROM etl.source_watermarks").fetchall())
        summary_rows = conn.execute(
            "SELECT campaign_id, campaign_name FROM analytics.campaign_effectiveness ORDER BY 1"
        ).fetchall()
    assert summary_rows == half.expected_names()
    assert {s: marks[s] for s in sources if s != "content_assets"} == dict.fromkeys(
        [s for s in sources if s != "content_assets"], bytes.fromhex(SOURCE_HIGH[2:])
    )

    verified = xcom(run, "verify_run_log")
    assert set(verified["sources"]) == set(sources) and verified["rows_changed"] > 0
    assert xcom(run, "invalidate_cache")["version"] == version_before + 1
    line = xcom(run, "summary")["summary"]
    assert line.startswith("delta ETL Finished in ")
    assert f"ads_daily_results {verified['sources']['ads_daily_results']['rows_read']} read/" in line
    assert f"@ {SOURCE_HIGH}" in line
    # Carte's password is in the connection only: not in the task logs, not in any XCom.
    assert carte_stand_in.password not in "".join(capfd.readouterr())


@pytest.mark.postgres
def test_a_job_that_forgets_a_source_fails_verify_run_log_naming_it(
    etl_dag: Any,
    airflow_db: Path,
    deployed: str,
    carte_stand_in: CarteStandIn,
    no_etl_connections: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure(monkeypatch, carte_stand_in, deployed)
    carte_stand_in.outcome = Outcome(on_start=PostgresHalf(forget="crm_sales"))

    run, states = run_dag(etl_dag)
    assert str(run.state) == "failed"
    assert (states["run_job"], states["verify_run_log"]) == ("success", "failed")
    assert {states["invalidate_cache"], states["summary"]} == {"upstream_failed"}
    out = "".join(capfd.readouterr())
    assert "does not match model/etl.yaml (1 mismatches): crm_sales: no succeeded row (the job never applied it)" in out
    from airflow.utils.session import create_session

    with create_session() as session:  # failed at once: a retry cannot make the missing row appear
        ti = run.get_task_instance("verify_run_log", session=session)
        assert ti is not None and ti.try_number == 1
