"""Deploy the rendered schema of every PromptSales store, file by file in manifest order.

# promptsales_deploy

Applies what `make render` generated under `sql/` to the live stores. `sql/manifest.json` lists each store's
dialect and its deploy files in order; this DAG has **one task group per store** (sorted by name) and, inside it:

1. `check_connection` — is the store's Airflow connection configured? If not, the store is **skipped** (not
   failed) with a one-line message naming the connection id and the `AIRFLOW_CONN_<ID>` variable to set.
2. `apply_<file>` — one task per deploy file, chained in manifest order. PostgreSQL files run in one
   transaction each and are recorded by SHA-256 in `deploy.applied_files`; the log says whether the content
   was new/changed or unchanged, and how long it took. Every rendered statement is idempotent, so re-running
   the DAG is safe and changes nothing. T-SQL files run batch by batch (split on `GO`) in one transaction.
3. `summary` — one line: files new/changed, unchanged, and database time.

| store | connection id | dialect |
|---|---|---|
| sales | `promptsales_pg` | PostgreSQL |
| ads | `promptads_mssql` | SQL Server |
| crm | `promptcrm_mssql` | SQL Server |
| content | `promptcontent_mongo` | MongoDB |

Stores appear here as soon as `make render` puts them in the manifest. A file the database rejects fails its
task at once (retrying cannot fix it) with the file and the database's reason; lost connections and deadlocks
are retried. Triggered manually (`schedule=None`): deploys follow a render, not the clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import TaskGroup, chain, dag, task

from generators import airflow_deploy

PLANS = airflow_deploy.deploy_plans()  # reads sql/manifest.json only; raises "run `make render`" when absent


@task
def check_connection(store: str, conn_id: str, dialect: str) -> dict[str, Any]:
    """Skip the store (with the fix named) when its connection is not configured."""
    return airflow_deploy.check_connection(store, conn_id, dialect)


@task
def apply_file(store: str, dialect: str, conn_id: str, rel: str) -> dict[str, Any]:
    """Apply one rendered file; log whether it was new/changed or unchanged, and its duration."""
    return airflow_deploy.apply_file(store, dialect, conn_id, rel)


@task
def summary(store: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Log one line per store: counts of new/changed and unchanged files, and the database time."""
    return airflow_deploy.summarize(store, results)


@dag(
    dag_id="promptsales_deploy",
    schedule=None,
    catchup=False,
    max_active_runs=1,  # two deploys of one store at once would race on the same DDL
    tags=["promptsales", "deploy", *sorted(plan.store for plan in PLANS)],
    default_args={"owner": "promptsales-data", "retries": 2, "retry_delay": timedelta(seconds=30)},
    doc_md=__doc__,
)
def promptsales_deploy() -> None:
    for plan in PLANS:
        with TaskGroup(group_id=plan.store, tooltip=f"{plan.store}: {plan.dialect} via {plan.conn_id}"):
            steps = [check_connection.override(task_id="check_connection")(plan.store, plan.conn_id, plan.dialect)]
            for rel in plan.files:
                task_id = airflow_deploy.task_id_for(rel)
                steps.append(apply_file.override(task_id=task_id)(plan.store, plan.dialect, plan.conn_id, rel))
            chain(*steps, summary.override(task_id="summary")(plan.store, steps[1:]))


promptsales_deploy()
