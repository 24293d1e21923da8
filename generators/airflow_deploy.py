"""Task logic of the `promptsales_deploy` Airflow DAG: which connection serves which store, and how a file is applied.

The DAG file only wires these functions into task groups. Everything here is importable at DAG-parse time:
database drivers and provider hooks are imported inside the functions that run in a task.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode, urlunsplit

from generators.deploy import MANIFEST, ROOT, DeployError, FileResult

log = logging.getLogger(__name__)

EVENT = "promptsales_deploy"
"""LogRecord attribute with a structured event (kind: target, file, skip, fail, summary) on each deploy log line.

`generators.demo` runs the tasks in its own process (dag.test) and turns these events into its progress lines."""

STORE_CONNECTIONS: dict[str, str] = {
    "ads": "promptads_mssql",
    "content": "promptcontent_mongo",
    "crm": "promptcrm_mssql",
    "sales": "promptsales_pg",
}
"""The one place that says which Airflow connection id deploys which store of sql/manifest.json."""

EXAMPLE_URIS: dict[str, str] = {
    "ads": "mssql://user:password@host:1433/PromptAds",
    "content": "mongodb://user:password@host:27017/promptcontent",
    "crm": "mssql://user:password@host:1433/PromptCrm",
    "sales": "postgresql://user:password@host:5432/promptsales",
}
"""Shown in the skip message, by store, so the fix is one copy-paste away (placeholders, never credentials)."""

MONGO_DIALECTS = frozenset({"mongo", "mongodb"})
SQL_DIALECTS = frozenset({"postgresql", "tsql"})


class ManifestError(RuntimeError):
    """sql/manifest.json is missing, unreadable, or names a store or dialect the deploy DAG cannot serve."""


@dataclass(frozen=True)
class StorePlan:
    """What the DAG deploys for one store: its dialect, its connection and its files in deploy order."""

    store: str
    dialect: str
    database: str
    conn_id: str
    files: tuple[str, ...]

    @property
    def env_var(self) -> str:
        return env_var_for(self.conn_id)


def env_var_for(conn_id: str) -> str:
    """The environment variable Airflow reads a connection from (`AIRFLOW_CONN_<ID>`)."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def task_id_for(rel: str) -> str:
    """`sql/sales/010_schemas.sql` -> `apply_010_schemas` (Airflow task ids allow only [A-Za-z0-9_.-])."""
    return "apply_" + re.sub(r"[^A-Za-z0-9_]", "_", Path(rel).stem)


def deploy_plans(manifest_path: Path = MANIFEST) -> list[StorePlan]:
    """Read the manifest (small, local: allowed at parse time) into one plan per store, sorted by store name."""
    shown = manifest_path.relative_to(ROOT) if manifest_path.is_relative_to(ROOT) else manifest_path
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{shown} not found: run `make render` to generate sql/ first") from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{shown} is unreadable ({exc}): run `make render` to regenerate it") from None
    plans = []
    for store, entry in sorted(manifest.get("stores", {}).items()):
        conn_id = STORE_CONNECTIONS.get(store)
        if conn_id is None:
            raise ManifestError(
                f"{shown}: store {store!r} has no Airflow connection id; add it to STORE_CONNECTIONS"
                " in generators/airflow_deploy.py"
            )
        dialect = entry["dialect"]
        if dialect not in SQL_DIALECTS | MONGO_DIALECTS:
            raise ManifestError(f"{shown}: store {store!r} has unknown dialect {dialect!r}")
        files = tuple(entry.get("deploy", []))
        ids = [task_id_for(f) for f in files]
        if len(set(ids)) != len(ids):
            raise ManifestError(f"{shown}: store {store!r} has two deploy files with the same task id")
        plans.append(StorePlan(store, dialect, entry.get("database", store), conn_id, files))
    return plans


# --------------------------------------------------------------------------- task bodies


def check_connection(store: str, conn_id: str, dialect: str) -> dict[str, Any]:
    """Fail soft: a store whose connection is not configured is skipped (with the fix named), never faked."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSkipException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        example = EXAMPLE_URIS.get(store, "<uri>")
        message = (
            f"store {store!r} skipped: Airflow connection {conn_id!r} is not configured;"
            f" set {env_var_for(conn_id)}={example} (or add it in the Airflow UI) and re-run"
        )
        log.warning("%s", message, extra={EVENT: {"kind": "skip", "store": store, "message": message}})
        raise AirflowSkipException(message) from None
    target = {"store": store, "conn_id": conn_id, "host": conn.host, "port": conn.port, "database": conn.schema}
    log.info(
        "%s: connection %r reaches %s:%s/%s",
        store,
        conn_id,
        conn.host,
        conn.port,
        conn.schema,
        extra={EVENT: {"kind": "target", **target}},
    )
    return target


def libpq_params(conn: Any) -> dict[str, Any]:
    """psycopg keyword arguments from an Airflow Connection; extras (sslmode, …) pass through as libpq options."""
    params: dict[str, Any] = {
        "host": conn.host,
        "port": conn.port,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema,
        "connect_timeout": 10,
        "application_name": "promptsales_deploy",
    }
    params.update({k: v for k, v in (conn.extra_dejson or {}).items() if isinstance(v, str | int)})
    return {k: v for k, v in params.items() if v not in (None, "")}


def is_transient(exc: BaseException) -> bool:
    """A DB-API `OperationalError` (lost connection, deadlock, lock timeout) may pass on retry; a bad file never."""
    cause = exc.__cause__ or exc
    return any(klass.__name__ == "OperationalError" for klass in type(cause).__mro__)


def _describe(result: FileResult, ledger: bool) -> str:
    if not ledger:
        return "applied (T-SQL: no ledger yet, so new and unchanged look alike)"
    return "new or changed: applied and recorded" if result.changed else "unchanged: same SHA-256 as the ledger"


def apply_file(store: str, dialect: str, conn_id: str, rel: str, root: Path = ROOT) -> dict[str, Any]:
    """Apply one rendered file through the store's connection; return what happened (the task's XCom)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowFailException

    from generators.deploy import apply_postgres_file, apply_tsql_file

    try:
        if dialect in MONGO_DIALECTS:
            result = apply_mongo_file_through(store, conn_id, rel, root)
        elif dialect == "postgresql":
            import psycopg

            with psycopg.connect(**libpq_params(BaseHook.get_connection(conn_id)), autocommit=True) as pg:
                result = apply_postgres_file(pg, store, rel, root)
        else:
            from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook

            # Connect to master: the first file creates the database and every other file starts with USE <db>,
            # so the deploy works before the database exists, whatever database the connection names.
            db = MsSqlHook(mssql_conn_id=conn_id, schema="master").get_conn()
            try:
                result = apply_tsql_file(db, store, rel, root)
            finally:
                db.close()
    except DeployError as exc:
        log.error("%s", exc, extra={EVENT: {"kind": "fail", "store": store, "file": rel, "message": str(exc)}})
        if is_transient(exc) or is_transient_mongo(exc):
            raise  # retried by Airflow (default_args retries)
        # Retrying cannot fix a file the database rejects: fail now, with the file and the database's reason.
        raise AirflowFailException(str(exc)) from exc
    ledger = dialect == "postgresql" or dialect in MONGO_DIALECTS  # MongoDB: the _deploy_applied_files ledger
    status = ("changed" if result.changed else "unchanged") if ledger else "applied"
    outcome = {**asdict(result), "status": status}
    log.info(
        "%s: %s %s in %d ms",
        store,
        rel,
        _describe(result, ledger),
        result.duration_ms,
        extra={EVENT: {"kind": "file", **outcome}},
    )
    return outcome


# --------------------------------------------------------------------------- MongoDB (the content store)


def mongo_uri(conn: Any) -> str:
    """A MongoDB connection string from an Airflow Connection: `mongodb://` (or `mongodb+srv://`), extras as options.

    Built here rather than by the provider's MongoHook: that hook accepts only conn_type `mongo`, while the URI form
    the project documents (`AIRFLOW_CONN_PROMPTCONTENT_MONGO=mongodb://...`) gives conn_type `mongodb`. The path
    (the connection's schema) stays what it is in MongoDB: the default authentication database.
    """
    extras = dict(conn.extra_dejson or {})
    srv = conn.conn_type == "mongodb+srv" or str(extras.pop("srv", "false")).lower() == "true"
    netloc = conn.host or "localhost"
    if conn.login:
        auth = quote_plus(conn.login) + (f":{quote_plus(conn.password)}" if conn.password else "")
        netloc = f"{auth}@{netloc}"
    if conn.port and not srv:
        netloc = f"{netloc}:{conn.port}"
    options = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in sorted(extras.items())}
    return urlunsplit(("mongodb+srv" if srv else "mongodb", netloc, f"/{conn.schema or ''}", urlencode(options), ""))


def apply_mongo_file_through(store: str, conn_id: str, rel: str, root: Path = ROOT) -> FileResult:
    """Apply one rendered MongoDB file through the connection, into the database the manifest names for the store."""
    import pymongo
    from airflow.sdk import BaseHook

    from generators.deploy import load_manifest
    from generators.mongo_deploy import apply_mongo_file

    database = load_manifest(root / "sql" / "manifest.json")["stores"][store]["database"]
    client: Any = pymongo.MongoClient(
        mongo_uri(BaseHook.get_connection(conn_id)),
        appname="promptsales_deploy",
        serverSelectionTimeoutMS=10_000,
        connectTimeoutMS=10_000,
    )
    try:
        return apply_mongo_file(client[database], store, rel, root)
    finally:
        client.close()


def is_transient_mongo(exc: BaseException) -> bool:
    """A lost connection or an election (pymongo ConnectionFailure, a retryable write error) may pass on retry."""
    cause = exc.__cause__ or exc
    names = {klass.__name__ for klass in type(cause).__mro__}
    labelled = getattr(cause, "has_error_label", None)
    return "ConnectionFailure" in names or bool(callable(labelled) and labelled("RetryableWriteError"))


def summarize(store: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """One line per store: how many files were new/changed, unchanged or applied without a ledger, and the time."""
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("changed", "unchanged", "applied")}
    seconds = sum(r["duration_ms"] for r in results) / 1000
    parts = [f"{counts['changed']} new/changed", f"{counts['unchanged']} unchanged"]
    if counts["applied"]:
        parts.append(f"{counts['applied']} applied without ledger")
    totals = {"store": store, "files": len(results), **counts, "seconds": round(seconds, 3)}
    log.info(
        "%s: %d files deployed (%s) in %.2f s of database time",
        store,
        len(results),
        ", ".join(parts),
        seconds,
        extra={EVENT: {"kind": "summary", **totals}},
    )
    return totals
