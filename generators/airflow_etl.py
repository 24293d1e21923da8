"""Task logic of the `promptsales_etl` Airflow DAG: run the Pentaho delta job on Carte, then check what it did.

The DAG file only wires these functions. Importing this module is cheap (no drivers, no renderer, no validated
model): the schedule and the source names come from model/etl.yaml read as plain YAML (a test checks them against
the validated model), and psycopg, redis and the Carte client are imported inside the functions that run in a task.

Why not the community `airflow-pentaho-plugin` (damavis/airflow-pentaho-plugin 1.2.3, `CarteJobOperator`)? It is
not usable as it stands on Airflow 3: it declares no Airflow support beyond 2.x (CI on Airflow 2.4, Python 3.6-3.9
classifiers), imports `airflow.AirflowException`, `airflow.hooks.base.BaseHook` and `airflow.models.BaseOperator`,
which Airflow 3 keeps only as deprecated aliases, and its `xcom_push=True` path calls `self.xcom_push(context, ...)`,
which the Task SDK's BaseOperator no longer has. Beyond Airflow 3, its job polling has no overall timeout and never
stops a job that hangs, its HTTP calls set no timeout, it hard-codes `level=Debug` on executeJob, and it puts
repository credentials in query arguments. Our needs are three GET endpoints, so `generators.carte` implements them
(httpx, one-line errors, stop on timeout, no secret in any log) and `CarteHook` below reads the Airflow connection.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from airflow.sdk import BaseHook

from generators.airflow_deploy import STORE_CONNECTIONS, env_var_for, libpq_params, mongo_uri

if TYPE_CHECKING:
    from generators.carte import CarteClient

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
ETL_MODEL = ROOT / "model" / "etl.yaml"

EVENT = "promptsales_etl"
"""LogRecord attribute with a structured event (kind: target, skip, job, verify, cache, summary) on each log line."""

CARTE_CONN_ID = "pentaho_carte"
PG_CONN_ID = STORE_CONNECTIONS["sales"]
REDIS_CONN_ID = "promptsales_redis"
REDIS_URL_VARIABLE = "PROMPTSALES_REDIS_URL"
CARTE_EXAMPLE_URI = "http://cluster:password@carte:8081"

DEFAULT_JOB_PATH = "/opt/promptsales/pentaho/promptsales_delta.kjb"
"""Where the Carte pod has pentaho/ (the connection's extra `job_path` overrides it)."""
DEFAULT_TIMEOUT_SECONDS = 540.0
"""Nine minutes: a run that is still going then is stopped, well before the next 11-minute run is due."""
DEFAULT_POLL_SECONDS = 5.0
MAX_POLL_SECONDS = 30.0

STORE_PARAMETER_PREFIX: dict[str, str] = {
    "sales": "PG",
    "ads": "ADS_MSSQL",
    "crm": "CRM_MSSQL",
    "content": "CONTENT_MONGO",
}
"""The Carte job's parameter prefix per store: `generators.render_pentaho.STORE_PARAMETER_PREFIX` (a test checks they
are equal; not imported here because the renderer pulls in Jinja and the model)."""

_RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]+$")
"""Airflow's default `allowed_run_id_pattern`: what may travel into the job's SQL as AIRFLOW_RUN_ID."""


class EtlError(RuntimeError):
    """The delta run cannot go ahead or did not do what the model says; the message is one line."""


# --------------------------------------------------------------------------- the model, read cheaply


@dataclass(frozen=True)
class EtlPlan:
    """What the DAG needs from model/etl.yaml at parse time: the interval and the sources."""

    schedule: timedelta
    sources: tuple[str, ...]
    target_store: str


def etl_plan(path: Path = ETL_MODEL) -> EtlPlan:
    """schedule_minutes and the source names, read as plain YAML (the full validation runs in `make render`)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        minutes = int(raw["schedule_minutes"])
        sources = tuple(str(s["name"]) for s in raw["sources"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise EtlError(f"{path.name}: cannot read schedule_minutes and sources ({exc}); run make render") from None
    return EtlPlan(timedelta(minutes=minutes), sources, str(raw.get("target_store", "sales")))


def batch_id_for(airflow_run_id: str) -> str:
    """The job's BATCH_ID: a UUID derived from the Airflow run id, so a retry of the same run stages the same batch."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"promptsales_etl/{airflow_run_id}"))


# --------------------------------------------------------------------------- the Carte hook


class CarteHook(BaseHook):
    """Reads the `pentaho_carte` Airflow connection (HTTP: host, port, login, password; extras job_path,
    timeout_seconds, poll_seconds) and hands out a `generators.carte.CarteClient`."""

    conn_name_attr = "carte_conn_id"
    default_conn_name = CARTE_CONN_ID
    conn_type = "http"
    hook_name = "Pentaho Carte"

    def __init__(self, carte_conn_id: str = CARTE_CONN_ID) -> None:
        super().__init__()
        self.carte_conn_id = carte_conn_id
        self.connection = self.get_connection(carte_conn_id)
        self.extras: dict[str, Any] = dict(self.connection.extra_dejson or {})

    @property
    def base_url(self) -> str:
        conn = self.connection
        host = conn.host or "localhost"
        if "://" in host:  # a host entered in the UI with its scheme
            scheme, _, host = host.partition("://")
        else:
            scheme = conn.conn_type if conn.conn_type in ("http", "https") else str(self.extras.get("scheme", "http"))
        port = f":{conn.port}" if conn.port else ""
        return f"{scheme}://{host.rstrip('/')}{port}"

    @property
    def job_path(self) -> str:
        return str(self.extras.get("job_path") or DEFAULT_JOB_PATH)

    @property
    def timeout_seconds(self) -> float:
        return float(self.extras.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS))

    @property
    def poll_seconds(self) -> float:
        return float(self.extras.get("poll_seconds", DEFAULT_POLL_SECONDS))

    def get_conn(self) -> CarteClient:
        from generators.carte import CarteClient, CarteSettings

        conn = self.connection
        return CarteClient(CarteSettings(self.base_url, conn.login or None, conn.password or None))


# --------------------------------------------------------------------------- task bodies


def _configured(conn_id: str) -> Any | None:
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def _skip(message: str) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    log.warning("%s", message, extra={EVENT: {"kind": "skip", "message": message}})
    raise AirflowSkipException(message)


def check_carte() -> dict[str, Any]:
    """Skip the run (with the fix named) unless both Carte and PromptSales are configured."""
    if _configured(CARTE_CONN_ID) is None:
        _skip(
            f"delta ETL skipped: Airflow connection {CARTE_CONN_ID!r} (the Carte server) is not configured;"
            f" set {env_var_for(CARTE_CONN_ID)}={CARTE_EXAMPLE_URI} (or add it in the Airflow UI) and re-run"
        )
    if _configured(PG_CONN_ID) is None:
        _skip(
            f"delta ETL skipped: Airflow connection {PG_CONN_ID!r} (PromptSales, where the job stages and applies)"
            f" is not configured; set {env_var_for(PG_CONN_ID)}=postgresql://user:password@host:5432/promptsales"
        )
    hook = CarteHook()
    target = {"carte": hook.base_url, "job_path": hook.job_path, "timeout_seconds": hook.timeout_seconds}
    log.info("carte: %s runs %s", hook.base_url, hook.job_path, extra={EVENT: {"kind": "target", **target}})
    return target


def job_parameters(airflow_run_id: str) -> tuple[dict[str, str], list[str]]:
    """The job's named parameters from the Airflow connections, and the stores whose connection was not set.

    A store without a connection here forwards nothing: the job then uses the Carte host's own variables
    (kettle.properties), which is how a deployment keeps the source credentials on the Carte pod only.
    """
    if not _RUN_ID.match(airflow_run_id):
        raise EtlError(
            f"Airflow run id {airflow_run_id!r} has characters outside {_RUN_ID.pattern}; it travels into the"
            " job's SQL, so trigger the run with a plain run id"
        )
    params = {"AIRFLOW_RUN_ID": airflow_run_id, "BATCH_ID": batch_id_for(airflow_run_id)}
    missing: list[str] = []
    for store in ("sales", "ads", "crm", "content"):
        conn = _configured(STORE_CONNECTIONS[store])
        prefix = STORE_PARAMETER_PREFIX[store]
        if conn is None:
            missing.append(store)
        elif store == "content":
            from generators.deploy import load_manifest

            params[f"{prefix}_URI"] = mongo_uri(conn)
            params[f"{prefix}_DB"] = str(load_manifest()["stores"]["content"]["database"])
        else:
            values = {
                "HOST": conn.host,
                "PORT": conn.port or (5432 if store == "sales" else 1433),
                "DB": conn.schema,
                "USER": conn.login,
                "PASSWORD": conn.password,
            }
            params.update({f"{prefix}_{k}": str(v) for k, v in values.items() if v not in (None, "")})
            sslmode = (conn.extra_dejson or {}).get("sslmode") if store == "sales" else None
            if sslmode:
                params["PG_SSLMODE"] = str(sslmode)
    return params, missing


def _pg_connect(application_name: str) -> Any:
    import psycopg

    params = {**libpq_params(BaseHook.get_connection(PG_CONN_ID)), "application_name": application_name}
    return psycopg.connect(**params, autocommit=True)


def run_log_cursor() -> int:
    """The highest run_id in etl.run_log before the job starts: the rows above it are this attempt's."""
    with _pg_connect("promptsales_etl") as conn:
        row = conn.execute("SELECT coalesce(max(run_id), 0) FROM etl.run_log").fetchone()
    return int(row[0]) if row else 0


def run_job(airflow_run_id: str) -> dict[str, Any]:
    """Start the delta job on Carte with this run's parameters and wait for it; fail with Carte's error."""
    from generators.carte import CarteError, CarteUnavailable

    params, missing = job_parameters(airflow_run_id)
    if missing:
        log.warning(
            "carte: no Airflow connection for %s; the job uses the Carte host's own variables for them",
            ", ".join(missing),
        )
    cursor = run_log_cursor()
    hook = CarteHook()
    started = time.perf_counter()
    # Parameter names only: their values include passwords, which travel to Carte over its authenticated HTTP.
    log.info("carte: starting %s with parameters %s", hook.job_path, ", ".join(sorted(params)))
    try:
        with hook.get_conn() as client:
            status = client.run_job(
                hook.job_path,
                params,
                poll_seconds=hook.poll_seconds,
                max_poll_seconds=MAX_POLL_SECONDS,
                timeout_seconds=hook.timeout_seconds,
            )
    except CarteUnavailable as exc:
        log.error("%s", exc, extra={EVENT: {"kind": "fail", "message": str(exc)}})
        raise  # a restarting Carte pod may be back for the retry
    except CarteError as exc:
        log.error("%s", exc, extra={EVENT: {"kind": "fail", "message": str(exc)}})
        raise EtlError(str(exc)) from None  # retried with backoff: the next try re-stages from the same watermark
    outcome = {
        "job_id": status.job_id,
        "status": status.status_desc,
        "batch_id": params["BATCH_ID"],
        "run_log_after": cursor,
        "seconds": round(time.perf_counter() - started, 3),
        "forwarded_stores": sorted(set(STORE_PARAMETER_PREFIX) - set(missing)),
    }
    log.info(
        "carte: %s %s %s in %.1f s",
        hook.job_path,
        status.job_id,
        status.status_desc,
        outcome["seconds"],
        extra={EVENT: {"kind": "job", **outcome}},
    )
    return outcome


_RUN_LOG_SQL = """
SELECT l.run_id, l.source_name, l.status, l.rows_read, l.rows_changed, l.error,
       w.last_run_id,
       coalesce('0x' || upper(encode(w.last_rowversion, 'hex')),
                to_char(w.last_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) AS watermark
  FROM etl.run_log AS l
  LEFT JOIN etl.source_watermarks AS w ON w.source_name = l.source_name
 WHERE l.airflow_run_id = %s AND l.run_id > %s
 ORDER BY l.run_id
"""


def run_log_problems(rows: list[dict[str, Any]], sources: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    """Compare this attempt's run-log rows with the model's sources: (mismatches, per-source result)."""
    problems: list[str] = []
    results: dict[str, Any] = {}
    for source in sources:
        mine = [r for r in rows if r["source_name"] == source]
        done = [r for r in mine if r["status"] == "succeeded"]
        if not done:
            seen = ", ".join(f"{r['status']}" + (f" ({r['error']})" if r.get("error") else "") for r in mine)
            problems.append(
                f"{source}: no succeeded row" + (f" (rows: {seen})" if seen else " (the job never applied it)")
            )
            continue
        if len(done) > 1:
            problems.append(f"{source}: {len(done)} succeeded rows (run_ids {[r['run_id'] for r in done]}), want 1")
            continue
        row = done[0]
        if not (row["rows_read"] >= row["rows_changed"] >= 0):
            problems.append(f"{source}: rows_read {row['rows_read']} < rows_changed {row['rows_changed']} or negative")
        if row["last_run_id"] != row["run_id"]:
            problems.append(
                f"{source}: etl.source_watermarks.last_run_id is {row['last_run_id']}, not this run's {row['run_id']}"
            )
        results[source] = {k: row[k] for k in ("run_id", "rows_read", "rows_changed", "watermark")}
    for r in rows:
        if r["source_name"] not in sources:
            problems.append(f"{r['source_name']}: in etl.run_log but not a source of model/etl.yaml")
    return problems, results


def verify_run_log(airflow_run_id: str, job: dict[str, Any]) -> dict[str, Any]:
    """Every source of model/etl.yaml succeeded exactly once in this attempt, and its watermark points at that row."""
    from airflow.sdk.exceptions import AirflowFailException
    from psycopg.rows import dict_row

    sources = etl_plan().sources
    with _pg_connect("promptsales_etl") as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_RUN_LOG_SQL, (airflow_run_id, int(job["run_log_after"]))).fetchall()
    problems, results = run_log_problems(list(rows), sources)
    if problems:
        message = (
            f"etl.run_log for Airflow run {airflow_run_id!r} does not match model/etl.yaml"
            f" ({len(problems)} mismatches): " + "; ".join(problems)
        )
        for problem in problems:
            log.error("verify_run_log: %s", problem, extra={EVENT: {"kind": "verify", "problem": problem}})
        # The job ran and reported success: a retry would not make the missing rows appear.
        raise AirflowFailException(message)
    verified = {"sources": results, "rows_changed": sum(r["rows_changed"] for r in results.values())}
    log.info(
        "verify_run_log: %d sources succeeded once each, %d rows changed",
        len(results),
        verified["rows_changed"],
        extra={EVENT: {"kind": "verify", **verified}},
    )
    return verified


def redis_url() -> str | None:
    """The `promptsales_redis` connection's URI, else PROMPTSALES_REDIS_URL, else None."""
    import os

    conn = _configured(REDIS_CONN_ID)
    if conn is not None:
        return str(conn.get_uri())
    return os.environ.get(REDIS_URL_VARIABLE) or None


def invalidate_cache(verified: dict[str, Any], target_store: str = "sales") -> dict[str, Any]:
    """Bump the Redis version of `sales` when any summary changed, so cached MCP answers become unreachable."""
    changed = int(verified["rows_changed"])
    if changed == 0:
        _skip(f"cache kept: no summary row changed in this run, cached {target_store} answers are still right")
    url = redis_url()
    if url is None:
        _skip(
            f"cache not invalidated: neither Airflow connection {REDIS_CONN_ID!r} nor {REDIS_URL_VARIABLE} is set;"
            f" cached {target_store} answers expire by their TTL instead"
        )
    from mcp_servers.cache import Cache

    cache = Cache(url=url)
    version = cache.bump_version(target_store)
    outcome = {
        "store": target_store,
        "version": version,
        "key": cache.version_key(target_store),
        "rows_changed": changed,
    }
    log.info(
        "cache: %s is now version %d (%d rows changed)",
        outcome["key"],
        version,
        changed,
        extra={EVENT: {"kind": "cache", **outcome}},
    )
    return outcome


def summarize(job: dict[str, Any], verified: dict[str, Any]) -> dict[str, Any]:
    """One line: per source rows read/changed and the watermark, and the job's time."""
    parts = [
        f"{name} {r['rows_read']} read/{r['rows_changed']} changed @ {r['watermark']}"
        for name, r in sorted(verified["sources"].items())
    ]
    line = f"delta ETL {job['status']} in {job['seconds']:.1f} s: " + "; ".join(parts)
    totals = {**verified, "job_id": job["job_id"], "seconds": job["seconds"], "summary": line}
    log.info("%s", line, extra={EVENT: {"kind": "summary", **totals}})
    return totals
