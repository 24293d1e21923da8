"""`make demo`: deploy and seed the local stores through the Airflow DAGs (dag.test), then say how to reach everything.

Re-runnable: the second run reports every file as unchanged and every seeded table as already loaded. Airflow runs
with its own home under `.airflow/` (gitignored, SQLite metadata DB), so the runs it records are the ones the local
Airflow UI shows afterwards.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console
from rich.markup import escape

from generators.airflow_deploy import EVENT, ManifestError, StorePlan, deploy_plans

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = ROOT / ".airflow"
DAGS_FOLDER = ROOT / "dags"
DAG_ID = "promptsales_deploy"
SEED_DAG_ID = "promptsales_seed"
PG_ADMIN_URL = os.environ.get("PROMPTSALES_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class DemoError(Exception):
    """An expected problem the user can fix; printed as one line, without a traceback."""


def with_database(url: str, database: str) -> str:
    """The URL with its database (path) replaced; user, host, port and query stay."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def redact(url: str) -> str:
    """The URL as it may be printed: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def ensure_database(admin_url: str, database: str) -> bool:
    """Create `database` on the admin URL's server when it is missing; True when it was created now."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            return True
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DemoError(
            f"PostgreSQL is not reachable at {redact(admin_url)} ({reason}); run `make services`"
            " or set PROMPTSALES_PG_ADMIN_URL"
        ) from None


def airflow_environment(verbose: bool) -> dict[str, str]:
    """The demo's Airflow configuration; it must be in os.environ before `airflow` is first imported."""
    return {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Airflow's own INFO logs would bury the progress lines; --verbose shows them (and tracebacks).
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO" if verbose else "CRITICAL",
    }


class Progress(logging.Handler):
    """Turns the deploy tasks' structured log events into one printed line each, as they happen."""

    def __init__(self, console: Any, status: Any) -> None:
        super().__init__(logging.INFO)
        self.console, self.status = console, status
        self.files: list[dict[str, Any]] = []
        self.skipped: list[str] = []
        self.failed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, EVENT, None)
        if not isinstance(event, dict):
            return
        kind = event["kind"]
        text = escape(str(event.get("message", "")))  # database errors may contain [brackets]: not markup
        self.status.update(f"deploying {event['store']}: {len(self.files)} files done")
        if kind == "target":
            where = f"{event['host']}:{event['port']}/{event['database']}"
            self.console.print(f"[bold]{event['store']}[/] via {event['conn_id']} → {where}")
        elif kind == "file":
            self.files.append(event)
            label = {"changed": "new/changed", "unchanged": "unchanged", "applied": "applied"}[event["status"]]
            style = "green" if event["status"] == "changed" else "dim"
            self.console.print(
                f"  [green]✓[/] {escape(event['file']):<36} [{style}]{label:<11}[/] {event['duration_ms']:>6} ms",
                highlight=False,
            )
        elif kind == "summary":
            self.console.print(
                f"  {event['store']}: {event['files']} files — {event['changed']} new/changed,"
                f" {event['unchanged']} unchanged — {event['seconds']:.2f} s in the database",
                highlight=False,
            )
        elif kind == "skip":
            self.skipped.append(event["message"])
            self.console.print(f"[yellow]skip[/] {text}", highlight=False)
        elif kind == "fail":
            self.failed.append(event["message"])
            self.console.print(f"  [red]✗ {text}[/]", highlight=False)


class SeedProgress(logging.Handler):
    """Turns the seed tasks' structured log events into one printed line per table, store and skip."""

    def __init__(self, console: Any, status: Any) -> None:
        super().__init__(logging.INFO)
        self.console, self.status = console, status
        self.tables: list[dict[str, Any]] = []
        self.skipped: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        from generators.airflow_seed import EVENT as SEED_EVENT

        event = getattr(record, SEED_EVENT, None) or getattr(record, EVENT, None)
        if not isinstance(event, dict):
            return
        kind, text = event["kind"], escape(str(event.get("summary") or event.get("message", "")))
        self.status.update(f"seeding {event.get('store', '')}: {len(self.tables)} tables done")
        if kind == "table":
            self.tables.append(event)
            self.console.print(f"  [green]✓[/] {text}", highlight=False)
        elif kind == "summary":
            self.console.print(f"  {text}", highlight=False)
        elif kind == "skip":
            self.skipped.append(str(event["message"]))
            self.console.print(f"[yellow]skip[/] {text}", highlight=False)
        elif kind == "fail":
            self.console.print(f"  [red]✗ {text}[/]", highlight=False)


def run_seed(console: Any, verbose: bool, bag: Any) -> tuple[str, SeedProgress]:
    """Run the seed DAG once (dag.test) at full scale: the portal data of PromptSales, and every other store that
    has a connection; the seed ledgers make a re-run load nothing."""
    with console.status("seeding the stores") as status:
        progress = SeedProgress(console, status)
        loggers = [logging.getLogger(name) for name in ("generators.airflow_seed", "generators.airflow_deploy")]
        for logger in loggers:
            logger.setLevel(logging.INFO)
            logger.addHandler(progress)
            logger.propagate = verbose
        try:
            run = bag.dags[SEED_DAG_ID].test(run_conf={"scale": "full"})
        finally:
            for logger in loggers:
                logger.removeHandler(progress)
    return str(run.state), progress


def run_deploy(console: Any, verbose: bool) -> tuple[str, dict[str, str], Progress, Any]:
    """Run the deploy DAG once in this process (dag.test) with live progress; return its state and task states."""
    # The first task waits ~10 s while Airflow builds its in-process task API; the spinner covers that wait.
    with console.status("starting Airflow: metadata DB, DAG parse, in-process task API (~15 s)") as status:
        from airflow.dag_processing.dagbag import DagBag
        from airflow.utils.db import initdb

        initdb()  # what `airflow db migrate` does: creates .airflow/airflow.db, or upgrades it in place
        bag = DagBag(dag_folder=str(DAGS_FOLDER))
        if bag.import_errors:
            first = next(iter(bag.import_errors.values())).strip().splitlines()[-1]
            raise DemoError(f"the DAGs folder does not parse: {first}")
        dag = bag.dags[DAG_ID]

        progress = Progress(console, status)
        logger = logging.getLogger("generators.airflow_deploy")
        logger.setLevel(logging.INFO)
        logger.addHandler(progress)
        logger.propagate = verbose  # Airflow's handlers print these too only when its logs are wanted
        try:
            run = dag.test()
        finally:
            logger.removeHandler(progress)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return str(run.state), states, progress, bag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--verbose", action="store_true", help="show Airflow's own logs and tracebacks")
    args = parser.parse_args(argv)

    console = Console(highlight=False, soft_wrap=True)  # never wrap: the printed commands are for copy-paste
    started = time.perf_counter()
    try:
        plans = deploy_plans()
        local_urls = point_postgres_stores_at_local_server(console, plans)
        os.environ.update(airflow_environment(args.verbose))
        state, states, progress, bag = run_deploy(console, args.verbose)
        seed_state, seeding = run_seed(console, args.verbose, bag) if state == "success" else ("skipped", None)
    except (DemoError, ManifestError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return 1
    seconds = time.perf_counter() - started

    changed = sum(1 for f in progress.files if f["status"] != "unchanged")
    unchanged = len(progress.files) - changed
    failed_tasks = sorted(t for t, s in states.items() if s in ("failed", "upstream_failed"))
    line = (
        f"demo: {DAG_ID} {state} — {len(progress.files)} files ({changed} applied new/changed, {unchanged} unchanged),"
        f" {len(progress.skipped)} store(s) skipped, in {seconds:.1f} s"
    )
    console.print(f"[bold]{line}[/]", highlight=False)
    hint = "" if args.verbose else "; `.venv/bin/python -m generators.demo --verbose` shows Airflow's log"
    if state != "success":
        console.print(f"[red]failed tasks:[/] {', '.join(failed_tasks) or '-'}{hint}", highlight=False)
        return 1
    if seeding is not None:
        loaded = sum(int(t["rows_loaded"]) for t in seeding.tables)
        console.print(
            f"[bold]demo: {SEED_DAG_ID} {seed_state} — {len(seeding.tables)} tables seeded ({loaded:,} rows loaded"
            f" now), {len(seeding.skipped)} store(s) skipped[/]",
            highlight=False,
        )
    if seed_state != "success":
        console.print(f"[red]the seed DAG did not succeed[/]{hint}", highlight=False)
        return 1
    sales_url = local_urls.get("AIRFLOW_CONN_PROMPTSALES_PG")
    if sales_url:
        try:
            fill_summaries(console, sales_url)
        except DemoError as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            return 1
    print_next_steps(console, local_urls)
    return 0


def fill_summaries(console: Any, sales_url: str) -> None:
    """Give the campaign summaries their data when the ETL's sources cannot run here.

    The delta ETL (the `promptsales_etl` DAG) runs Pentaho on Carte against PromptAds, PromptCrm and PromptContent.
    Without those connections the demo stages what the source queries would return for the seeded world (a
    stand-in computed in Python, generators/etl_local.py) and applies it with the real PL/pgSQL apply procedures,
    so the summaries, the run log and the watermarks are what the first ETL run would leave."""
    import psycopg

    from generators.airflow_seed import DEFAULT_SEED, world_for
    from generators.etl_local import WorldSource, refresh_from_world

    configured = [v for v in ("AIRFLOW_CONN_PENTAHO_CARTE", "AIRFLOW_CONN_PROMPTADS_MSSQL") if os.environ.get(v)]
    if len(configured) == 2:
        console.print(
            "summaries: Carte and PromptAds are configured; trigger the promptsales_etl DAG to fill them",
            highlight=False,
        )
        return
    console.print(
        "summaries: no Carte/SQL Server/MongoDB here; applying a stand-in of the source queries"
        " (generators/etl_local.py, computed from the seeded world) through the real apply procedures",
        highlight=False,
    )
    with console.status("computing the sources' aggregates and applying them"):
        try:
            with psycopg.connect(sales_url, autocommit=True) as conn:
                runs = refresh_from_world(conn, WorldSource(world_for(DEFAULT_SEED, "full")))
        except psycopg.Error as exc:
            raise DemoError(f"filling the summaries failed: {str(exc).strip().splitlines()[0]}") from None
    for run in runs:
        detail = run.skipped or f"{run.rows_staged:,} rows staged, {run.rows_changed:,} summary rows changed"
        console.print(f"  [green]✓[/] etl {run.source:<22} {detail}", highlight=False)
    if any(run.rows_changed for run in runs):
        # What the ETL DAG does after a run that changed summaries: cached MCP answers become unreachable.
        from mcp_servers.cache import Cache, CacheError

        try:
            version = Cache().bump_version("sales")  # PROMPTSALES_REDIS_URL, the local Redis by default
            console.print(f"  cached sales answers invalidated (data version {version})", highlight=False)
        except CacheError as exc:
            console.print(f"  [yellow]cache not invalidated:[/] {escape(str(exc))}", highlight=False)


def point_postgres_stores_at_local_server(console: Any, plans: list[StorePlan]) -> dict[str, str]:
    """Every PostgreSQL store deploys into its own database on the local server (created when missing).

    The demo sets these connections itself, on purpose even when AIRFLOW_CONN_<ID> is already set: a demo must
    never deploy into whatever server a developer's shell happens to point at. Other stores keep their
    AIRFLOW_CONN_<ID> from the environment, or are skipped with the variable to set.
    """
    urls = {}
    for plan in plans:
        if plan.dialect != "postgresql":
            continue
        created = ensure_database(PG_ADMIN_URL, plan.database)
        url = with_database(PG_ADMIN_URL, plan.database)
        os.environ[plan.env_var] = url
        urls[plan.env_var] = url
        console.print(f"database {plan.database}: {'created' if created else 'exists'} at {redact(url)}")
    return urls


def print_next_steps(console: Any, local_urls: dict[str, str]) -> None:
    home, dags = AIRFLOW_HOME.relative_to(ROOT), DAGS_FOLDER.relative_to(ROOT)
    conns = " ".join(f"{name}={redact(url)}" for name, url in sorted(local_urls.items()))
    sales_url = local_urls.get("AIRFLOW_CONN_PROMPTSALES_PG")
    # standalone starts scheduler, DAG processor, triggerer and API server as `airflow …` subprocesses found on
    # PATH, hence .venv/bin on PATH. Checked on Airflow 3.3.2: UI on :8080, a triggered run succeeds.
    console.print(
        "\n[bold]Next[/]\n"
        f"  Airflow UI on this metadata DB (this run is in its history):\n"
        f"    PATH=$PWD/.venv/bin:$PATH AIRFLOW_HOME=$PWD/{home} AIRFLOW__CORE__DAGS_FOLDER=$PWD/{dags}"
        " AIRFLOW__CORE__LOAD_EXAMPLES=False \\\n"
        f"      {conns} airflow standalone\n"
        "    then open http://localhost:8080 as admin (password printed by standalone, kept in"
        f" {home}/simple_auth_manager_passwords.json.generated);\n"
        f"    new DAGs start paused: unpause {DAG_ID} if needed, then Trigger (Ctrl-C stops standalone)",
        highlight=False,
    )
    if sales_url:
        console.print(
            f"  PromptSales data: psql {redact(sales_url)} -c 'SELECT count(*) FROM portal.campaigns'"
            "   (reference: docs/sales.md, docs/model/sales.md, docs/seeding.md)",
            highlight=False,
        )
    pg = redact(sales_url) if sales_url else "postgresql://user@host:5432/promptsales"
    console.print(
        "  MCP sales server (answers from the summaries just filled; docs/mcp.md has the client configuration):\n"
        f"    PROMPTSALES_PG_URL={pg} .venv/bin/python -m mcp_servers.sales --transport http"
        "   → http://127.0.0.1:8000/mcp\n"
        "    or register `.venv/bin/python -m mcp_servers.sales --transport stdio` with an MCP client;"
        " content, ads and crm run the same way once their stores are configured (docs/mcp-content-ads-crm.md)",
        highlight=False,
    )


if __name__ == "__main__":
    sys.exit(main())
