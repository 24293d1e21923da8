"""DagBag integrity and structure: every DAG parses cheaply and follows the house rules; deploy follows the manifest."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generators.airflow_deploy import ManifestError, deploy_plans, task_id_for
from generators.deploy import MANIFEST, load_manifest

pytestmark = pytest.mark.airflow

# Modules a DAG file must not pull in at parse time: drivers (network), provider hooks that import them, and the
# Jinja renderer (DAGs read the rendered manifest; they never render while the DAG processor parses them).
HEAVY_MODULES = (
    "psycopg",
    "psycopg2",
    "pymssql",
    "pymongo",
    "redis",
    "numpy",
    "faker",
    "faiss",
    "pinecone",
    "generators.render",
    "generators.model",
    "airflow.providers.postgres.hooks.postgres",
    "airflow.providers.microsoft.mssql.hooks.mssql",
    "airflow.providers.mongo.hooks.mongo",
)

PARSE_PROBE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
before = set(sys.modules)
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "dags": sorted(bag.dag_ids),
    "errors": bag.import_errors,
    "preloaded": sorted(set(sys.argv[2:]) & before),
    "imported": sorted(set(sys.modules) - before),
    "seconds": time.perf_counter() - started,
}))
"""


def test_every_dag_file_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert "promptsales_deploy" in dagbag.dag_ids


def test_every_dag_follows_the_house_rules(dagbag: Any) -> None:
    problems = []
    for dag_id, dag in sorted(dagbag.dags.items()):
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        if dag.catchup:
            problems.append(f"{dag_id}: catchup is on")
        if not (dag.doc_md or "").strip() or len(dag.doc_md) < 200:
            problems.append(f"{dag_id}: doc_md is missing or too short to explain anything")
        for task in dag.tasks:
            if task.owner in ("", "airflow"):
                problems.append(f"{dag_id}.{task.task_id}: owner not set")
            if task.retries < 2:
                problems.append(f"{dag_id}.{task.task_id}: retries={task.retries}, want >= 2")
            if not task.retry_delay:
                problems.append(f"{dag_id}.{task.task_id}: no retry_delay")
    assert problems == []


def test_parsing_the_dags_folder_imports_no_driver_renderer_or_hook(dags_folder: Path) -> None:
    # A fresh interpreter, so modules imported by earlier tests cannot hide an import done by a DAG file.
    out = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(dags_folder), *HEAVY_MODULES],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
        timeout=180,
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["errors"] == {}
    assert "promptsales_deploy" in probe["dags"]
    assert probe["preloaded"] == [], "airflow itself loaded these, so this test could not see a DAG importing them"
    heavy = [m for m in probe["imported"] if m.split(".")[0] in HEAVY_MODULES or m in HEAVY_MODULES]
    assert heavy == []


def test_one_task_group_per_manifest_store_in_sorted_order(deploy_dag: Any) -> None:
    stores = sorted(load_manifest()["stores"])
    assert list(deploy_dag.task_group.children) == stores
    assert {t.task_id.split(".")[0] for t in deploy_dag.tasks} == set(stores)


def test_sales_tasks_chain_in_manifest_order(deploy_dag: Any) -> None:
    files = load_manifest()["stores"]["sales"]["deploy"]
    expected = ["sales.check_connection", *(f"sales.{task_id_for(f)}" for f in files), "sales.summary"]
    assert expected[1] == "sales.apply_010_schemas"
    assert [t for t in expected if t not in deploy_dag.task_dict] == []
    # Each step waits for exactly the one before it: a strict chain, not a fan-out.
    for previous, current in itertools.pairwise(expected[:-1]):
        assert deploy_dag.task_dict[current].upstream_task_ids == {previous}, current
    assert deploy_dag.task_dict["sales.check_connection"].upstream_task_ids == set()
    # The summary reads every file's result and runs last.
    assert deploy_dag.task_dict["sales.summary"].upstream_task_ids == set(expected[1:-1])
    assert [t.task_id for t in deploy_dag.topological_sort() if t.task_id.startswith("sales.")] == expected


def test_deploy_dag_is_manual_and_runs_one_deploy_at_a_time(deploy_dag: Any) -> None:
    assert deploy_dag.schedule is None
    assert deploy_dag.max_active_runs == 1
    assert {"promptsales", "deploy"} <= set(deploy_dag.tags)


# --------------------------------------------------------------------------- parse-time errors


def test_missing_manifest_is_one_line_that_says_run_make_render(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"manifest\.json not found: run `make render`") as err:
        deploy_plans(tmp_path / "sql" / "manifest.json")
    assert "\n" not in str(err.value)


def test_store_without_connection_id_names_where_to_add_it(tmp_path: Path) -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    manifest["stores"]["billing"] = {"dialect": "postgresql", "database": "billing", "deploy": []}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ManifestError, match=r"store 'billing' has no Airflow connection id.*STORE_CONNECTIONS"):
        deploy_plans(path)


def test_plans_map_each_store_to_its_connection_and_env_var() -> None:
    plans = {p.store: p for p in deploy_plans()}
    assert plans["sales"].conn_id == "promptsales_pg"
    assert plans["sales"].env_var == "AIRFLOW_CONN_PROMPTSALES_PG"
    assert plans["sales"].files == tuple(load_manifest()["stores"]["sales"]["deploy"])
