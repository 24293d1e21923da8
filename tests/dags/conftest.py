"""Airflow isolation for tests/dags: a throwaway AIRFLOW_HOME with its own SQLite metadata DB, set up before import.

Airflow reads its configuration once, when `airflow` is first imported. So the environment is set here, at
conftest import time — pytest imports this file while collecting tests/dags, before any test module in it (and
nothing outside tests/dags imports airflow). The guard below turns "airflow was imported earlier with another
configuration" into a clear error instead of tests silently using a real Airflow home. Tests outside tests/dags
never load this file, so they run without Airflow at all. With pytest-xdist every worker gets its own home.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"

if "airflow" in sys.modules:
    raise pytest.UsageError(
        "airflow was imported before tests/dags/conftest.py could isolate it; import airflow only inside tests/dags"
    )

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="promptsales-airflow-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    }
)
# A developer's own connections must not leak into the tests: each test sets exactly the ones it needs.
for _name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_")]:
    del os.environ[_name]


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    return DAGS


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the metadata DB once per session (what `airflow db migrate` does for an empty database)."""
    from airflow.utils.db import initdb

    initdb()
    return AIRFLOW_HOME / "airflow.db"


@pytest.fixture(scope="session")
def dagbag() -> Any:
    """The DAGs folder parsed once, the way the DAG processor parses it."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="session")
def deploy_dag(dagbag: Any) -> Any:
    dag = dagbag.dags.get("promptsales_deploy")
    assert dag is not None, f"promptsales_deploy did not load: {dagbag.import_errors}"
    return dag


@pytest.fixture
def no_store_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No store connection configured (each test adds the ones it needs)."""
    from generators.airflow_deploy import STORE_CONNECTIONS, env_var_for

    for conn_id in STORE_CONNECTIONS.values():
        monkeypatch.delenv(env_var_for(conn_id), raising=False)
    yield
