"""Task logic of the `promptsales_seed` Airflow DAG: which tables each store seeds, in which order, and how one loads.

The DAG file only wires these functions into task groups. Importing this module is cheap (no numpy, no drivers, no
world generation): the DAG's structure comes from `SEED_TABLES`, a constant that a test checks against the tables
the generated world actually produces. The world is built inside the tasks, once per process and (seed, scale).
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from generators.airflow_deploy import STORE_CONNECTIONS, env_var_for, is_transient, libpq_params
from generators.data.load_order import PORTAL_TABLES

log = logging.getLogger(__name__)

EVENT = "promptsales_seed"
"""LogRecord attribute with a structured event (kind: table, fail, summary) on each seed log line."""

SEED_ORDER = ("ads", "crm", "content", "sales")
"""`generators.data.tables.STORES` (not imported here: that module imports numpy, too heavy for DAG parsing)."""

DIALECTS = {"ads": "tsql", "crm": "tsql", "content": "mongodb", "sales": "postgresql"}

DEFAULT_SEED = 20260131
SCALES = ("full", "small")

SEED_TABLES: dict[str, tuple[str, ...]] = {
    "ads": (
        "ads.audiences",
        "ads.brands",
        "ads.influencers",
        "ads.campaigns",
        "ads.campaign_channels",
        "ads.campaign_markets",
        "ads.campaign_audiences",
        "ads.ads",
        "perf.daily_results",
        "perf.social_reactions",
    ),
    "crm": (
        "crm.clients",
        "crm.client_locations",
        "crm.client_campaigns",
        "crm.leads",
        "crm.interactions",
        "crm.bot_flows",
        "crm.bot_responses",
        "crm.purchase_intent_scores",
        "sales.sales",
    ),
    "content": ("images", "hashtags", "content_requests", "message_logs"),
    "sales": PORTAL_TABLES,
}
"""Each store's generated tables in load order: one DAG task each. Must equal `[t.table for t in
build_world(seed, scale).tables(store)]` (tests/dags/test_seed_dag.py checks it); a task fails with the fix named when
the world and this list disagree."""


@dataclass(frozen=True)
class SeedPlan:
    """What the DAG seeds for one store: its dialect, its connection and its tables in load order."""

    store: str
    dialect: str
    conn_id: str
    tables: tuple[str, ...]

    @property
    def env_var(self) -> str:
        return env_var_for(self.conn_id)


def seed_plans() -> list[SeedPlan]:
    """One plan per store, in load order (ads, crm, content, sales)."""
    return [SeedPlan(s, DIALECTS[s], STORE_CONNECTIONS[s], SEED_TABLES[s]) for s in SEED_ORDER]


def task_id_for(table: str) -> str:
    """`portal.companies` -> `load_portal_companies` (Airflow task ids allow only [A-Za-z0-9_.-])."""
    return "load_" + re.sub(r"[^A-Za-z0-9_]", "_", table)


@functools.lru_cache(maxsize=2)
def world_for(seed: int, scale: str) -> Any:
    """The generated world, built once per process and (seed, scale); same seed, same bytes."""
    world = importlib.import_module("generators.data.world")
    return world.build_world(seed, scale)  # a name of generators.data.world.SCALES


@functools.lru_cache(maxsize=8)
def store_tables(seed: int, scale: str, store: str) -> tuple[Any, ...]:
    """The world's TableData of one store (immutable, re-iterable batches: safe to share between tasks)."""
    return tuple(world_for(seed, scale).tables(store))


def seed_params(params: Any) -> tuple[int, str]:
    """The run's `seed` and `scale` params, checked (Airflow validates them too, at trigger time)."""
    seed, scale = int(params.get("seed", DEFAULT_SEED)), str(params.get("scale", "full"))
    if seed < 0 or scale not in SCALES:
        raise ValueError(f"seed must be a non-negative integer and scale one of {', '.join(SCALES)}")
    return seed, scale


def world_table(store: str, table: str, seed: int, scale: str) -> Any:
    """The generated TableData of `table`; fails with the fix named when SEED_TABLES no longer matches the world."""
    from airflow.sdk.exceptions import AirflowFailException

    generated = store_tables(seed, scale, store)
    names = tuple(t.table for t in generated)
    if names != SEED_TABLES[store]:
        raise AirflowFailException(
            f"store {store!r}: the world generates {list(names)} but the DAG loads {list(SEED_TABLES[store])};"
            " update SEED_TABLES in generators/airflow_seed.py to the world's list, in its order"
        )
    return next(t for t in generated if t.table == table)


# --------------------------------------------------------------------------- task bodies


def check_connection(store: str, conn_id: str, dialect: str) -> dict[str, Any]:
    """The deploy DAG's check: skip the store (naming AIRFLOW_CONN_<ID>) when its connection is not configured."""
    from generators.airflow_deploy import check_connection as check

    return check(store, conn_id, dialect)


def seed_table(store: str, dialect: str, conn_id: str, table: str, params: Any) -> dict[str, Any]:
    """Load one generated table through the store's connection; return its LoadResult and summary (the XCom)."""
    from airflow.sdk.exceptions import AirflowFailException

    from generators.airflow_deploy import is_transient_mongo
    from generators.data.tables import SeedLedgerMismatch, SeedLoadError

    seed, scale = seed_params(params)
    data = world_table(store, table, seed, scale)
    try:
        if dialect == "postgresql":
            result = _load_postgres(conn_id, data)
        elif dialect == "tsql":
            result = _load_mssql(store, conn_id, data)
        else:
            result = _load_mongo(store, conn_id, data)
    except SeedLedgerMismatch as exc:
        # Another seed already loaded this store: retrying would fail the same way.
        log.error("%s", exc, extra={EVENT: {"kind": "fail", "store": store, "table": table, "message": str(exc)}})
        raise AirflowFailException(str(exc)) from exc
    except SeedLoadError as exc:
        log.error("%s", exc, extra={EVENT: {"kind": "fail", "store": store, "table": table, "message": str(exc)}})
        if is_transient(exc) or is_transient_mongo(exc):
            raise  # lost connection or deadlock: Airflow retries, and the ledger resumes at the failed batch
        raise AirflowFailException(str(exc)) from exc
    outcome = {**asdict(result), "seed": seed, "scale": scale, "summary": result.summary()}
    log.info("%s", result.summary(), extra={EVENT: {"kind": "table", **outcome}})
    return outcome


def _load_postgres(conn_id: str, data: Any) -> Any:
    import psycopg
    from airflow.sdk import BaseHook

    from generators.data.load_postgres import ensure_ledger, load_table

    params = {**libpq_params(BaseHook.get_connection(conn_id)), "application_name": "promptsales_seed"}
    with psycopg.connect(**params, autocommit=True) as conn:
        ensure_ledger(conn)
        return load_table(conn, data)


def _load_mssql(store: str, conn_id: str, data: Any) -> Any:
    """PromptAds / PromptCrm: `load_mssql.load_tables(connect, tables, ...)`.

    `connect` (from `load_mssql.connector`) opens python-tds connections to the store's database, from the
    Airflow connection's URI (`AIRFLOW_CONN_<ID>=mssql://user:password@host:1433/<database>`).
    """
    from airflow.sdk import BaseHook

    load_mssql = importlib.import_module("generators.data.load_mssql")
    connect = load_mssql.connector(store, BaseHook.get_connection(conn_id).get_uri())
    return load_mssql.load_tables(connect, [data], progress=False)[0]


def _load_mongo(store: str, conn_id: str, data: Any) -> Any:
    """PromptContent: `load_mongo.load_tables(db, tables, ...)` with `db` the store's pymongo Database."""
    import pymongo
    from airflow.sdk import BaseHook

    from generators.airflow_deploy import mongo_uri
    from generators.deploy import load_manifest

    load_mongo = importlib.import_module("generators.data.load_mongo")
    database = load_manifest()["stores"][store]["database"]
    client: Any = pymongo.MongoClient(
        mongo_uri(BaseHook.get_connection(conn_id)), appname="promptsales_seed", serverSelectionTimeoutMS=10_000
    )
    try:
        return load_mongo.load_tables(client[database], [data], progress=False)[0]
    finally:
        client.close()


def summarize(store: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """One line per store: tables, rows loaded and already there, seconds and rows/s."""
    from generators.data.load_postgres import summary_line
    from generators.data.tables import LoadResult

    fields = set(LoadResult.__dataclass_fields__)
    loads = [LoadResult(**{k: v for k, v in r.items() if k in fields}) for r in results]
    seconds = sum(r.seconds for r in loads)
    line = summary_line(loads, seconds) if loads else f"{store}: nothing to seed"
    totals = {
        "store": store,
        "tables": len(loads),
        "rows": sum(r.rows for r in loads),
        "rows_loaded": sum(r.rows_loaded for r in loads),
        "batches_loaded": sum(r.batches_loaded for r in loads),
        "batches_skipped": sum(r.batches_skipped for r in loads),
        "seconds": round(seconds, 3),
        "summary": line,
    }
    log.info("%s", line, extra={EVENT: {"kind": "summary", **totals}})
    return totals
