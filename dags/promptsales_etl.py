"""Every 11 minutes, run the Pentaho delta job on Carte and check, in PromptSales, that it did what the model says.

# promptsales_etl

The delta ETL itself is the Pentaho job rendered into `pentaho/` from `model/etl.yaml` (see docs/etl.md): for each
source it reads the rows changed since the source's watermark, stages the recomputed campaign aggregates in
PostgreSQL and calls the source's apply procedure, which upserts the summaries, logs the run and advances the
watermark in one transaction. This DAG triggers it and checks the outcome:

1. `check_carte` — are the `pentaho_carte` (Carte) and `promptsales_pg` (PromptSales) connections configured?
   If not, the run is **skipped** (not failed) with a one-line message naming the `AIRFLOW_CONN_<ID>` to set.
2. `run_job` — starts `promptsales_delta.kjb` on Carte (`executeJob`) with `BATCH_ID` (derived from the Airflow
   run id, so a retry stages the same batch), `AIRFLOW_RUN_ID` and the connection parameters of the stores
   (passwords travel only as Carte parameters over its authenticated HTTP and are never logged), then polls
   `jobStatus` with backoff. A job that ends with errors or is stopped fails the task with Carte's error and
   the last lines of its log; one still running after the timeout is stopped first.
3. `verify_run_log` — reads `etl.run_log` for this Airflow run: every source of `model/etl.yaml` must have
   exactly one `succeeded` row in this attempt with `rows_read >= rows_changed >= 0`, and its watermark's
   `last_run_id` must point at it. Any mismatch fails the run at once, naming each source.
4. `invalidate_cache` — when any summary row changed, bumps the Redis version key of `sales` (`ps:ver:sales`),
   so every cached MCP answer about sales becomes unreachable; skipped (with the reason) when nothing changed or
   neither `promptsales_redis` nor `PROMPTSALES_REDIS_URL` is configured.
5. `summary` — one line: rows read/changed and the watermark per source, and the job's time.

The schedule is a true interval of `schedule_minutes` (11) from `model/etl.yaml` — not cron `*/11`, which would
restart at every full hour. One run at a time; no catch-up (each run takes every change since the watermark, so
a skipped interval loses nothing). Failed tasks retry with exponential backoff; a failed job leaves every
watermark where it was, so the retry (or the next run) re-stages a superset and counts nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import chain, dag, get_current_context, task

from generators import airflow_etl

PLAN = airflow_etl.etl_plan()  # model/etl.yaml as plain YAML: the interval and the source names, nothing else


def _run_id() -> str:
    return str(get_current_context()["run_id"])


@task
def check_carte() -> dict[str, Any]:
    """Skip the run (with the fix named) unless the Carte and PromptSales connections are configured."""
    return airflow_etl.check_carte()


@task(execution_timeout=timedelta(minutes=10))
def run_job(target: dict[str, Any]) -> dict[str, Any]:
    """Run promptsales_delta.kjb on Carte with this run's parameters; fail with Carte's error and log tail."""
    return airflow_etl.run_job(_run_id())


@task
def verify_run_log(job: dict[str, Any]) -> dict[str, Any]:
    """Every source succeeded exactly once in this attempt and its watermark points at that run-log row."""
    return airflow_etl.verify_run_log(_run_id(), job)


@task
def invalidate_cache(verified: dict[str, Any]) -> dict[str, Any]:
    """Bump ps:ver:sales when summaries changed, so cached MCP answers become unreachable."""
    return airflow_etl.invalidate_cache(verified, PLAN.target_store)


@task(trigger_rule="none_failed_min_one_success")
def summary(job: dict[str, Any], verified: dict[str, Any]) -> dict[str, Any]:
    """One line: per source rows read/changed and the watermark."""
    return airflow_etl.summarize(job, verified)


@dag(
    dag_id="promptsales_etl",
    schedule=PLAN.schedule,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,  # two jobs at once would clear each other's staging tables
    tags=["promptsales", "etl", "pentaho"],
    default_args={
        "owner": "promptsales-data",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        # Airflow 3 takes a multiplier here (True would mean 1.0, a constant delay): 30 s, 60 s, 120 s.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=4),
    },
    doc_md=__doc__,
)
def promptsales_etl() -> None:
    target = check_carte()
    job = run_job(target)
    verified = verify_run_log(job)
    cache = invalidate_cache(verified)
    done = summary(job, verified)
    chain(cache, done)


promptsales_etl()
