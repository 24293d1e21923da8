"""Run a rendered T-SQL script against its store's SQL Server, with its declared secrets in the session context.

    python -m generators.tsql_script sql/crm/scripts/sec_01_encrypt_decrypt.sql
    python -m generators.tsql_script sql/ads/scripts/08_brand_sentiment_drop.sql --url mssql://me@host:1433/PromptAds

The server comes from the store's variable (PROMPTSALES_ADS_URL for sql/ads/..., PROMPTSALES_CRM_URL for
sql/crm/...) or --url. The environment variables a script names on its `-- deploy: secrets` line are put into the
session context (sys.sp_set_session_context, values sent as parameters) before the first batch and cleared after
the last; a missing required one stops the run before anything is sent. The script runs batch by batch (split on
GO) like sqlcmd -b: result sets are printed as tables, PRINT/RAISERROR messages as lines, and the first error ends
the run with the batch's number and line and exit code 1. Scripts start with USE <database> (or USE master), so
the session opens in master.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generators.deploy import ROOT, DeployError, session_secrets, set_session_context, split_batches

STORE_URL_VARS: dict[str, str] = {"ads": "PROMPTSALES_ADS_URL", "crm": "PROMPTSALES_CRM_URL"}
"""The variable that holds each SQL Server store's URL (the same URI as its Airflow connection)."""

MAX_SHOWN_ROWS = 200


class ScriptError(Exception):
    """The script could not be run, or a batch failed; the message is one line and never holds a secret."""


@dataclass
class BatchResult:
    """What one batch returned: its result sets (column names, rows) and the server's informational messages."""

    number: int
    line: int
    result_sets: list[tuple[list[str], list[tuple[Any, ...]]]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def store_of(path: Path) -> str:
    """`sql/crm/scripts/x.sql` -> `crm`: the folder under sql/ names the store."""
    parts = path.resolve().relative_to(ROOT).parts if path.resolve().is_relative_to(ROOT) else path.parts
    if len(parts) >= 2 and parts[0] == "sql" and parts[1] in STORE_URL_VARS:
        return parts[1]
    raise ScriptError(f"{path}: not a rendered SQL Server file (expected sql/ads/... or sql/crm/...)")


def _messages(cur: Any) -> list[str]:
    found = getattr(cur, "messages", None) or []
    return [str(exc).strip() for _, exc in found if str(exc).strip()]


def batches_with_lines(sql: str) -> list[tuple[int, str]]:
    """Each batch of the script with the 1-based line of its first statement (comments skipped) in the file."""
    out: list[tuple[int, str]] = []
    cursor = 0
    for batch in split_batches(sql):
        lines = batch.strip().splitlines()
        code = next((ln for ln in lines if ln.strip() and not ln.strip().startswith("--")), lines[0])
        at = sql.find(code, cursor)
        line = sql.count("\n", 0, at) + 1 if at >= 0 else 0
        cursor = max(cursor, at + len(code))
        out.append((line, batch))
    return out


def run_script(
    conn: Any,
    sql: str,
    shown: str,
    env: Mapping[str, str] | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Run every batch of `sql` on a DB-API connection (autocommit); raise ScriptError at the first failure."""
    try:
        secrets = session_secrets(sql, os.environ if env is None else env, shown)
    except DeployError as exc:
        raise ScriptError(str(exc)) from None
    results: list[BatchResult] = []
    cur = conn.cursor()
    try:
        set_session_context(cur, secrets)
        for number, (line, batch) in enumerate(batches_with_lines(sql), start=1):
            result = BatchResult(number, line)
            try:
                cur.execute(batch)
                while True:
                    # The driver keeps every message of the request; take only the ones not seen yet.
                    result.messages.extend(_messages(cur)[len(result.messages) :])
                    if cur.description is not None:
                        columns = [d[0] or f"column{i + 1}" for i, d in enumerate(cur.description)]
                        result.result_sets.append((columns, [tuple(r) for r in cur.fetchall()]))
                    if not cur.nextset():
                        break
                result.messages.extend(_messages(cur)[len(result.messages) :])
            except Exception as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ScriptError(f"{shown}: batch {number} (line {line}): {detail}") from exc
            finally:
                if result.result_sets or result.messages:
                    results.append(result)
                    if on_batch:
                        on_batch(result)
    finally:
        with contextlib.suppress(Exception):  # a broken connection takes its session context with it
            set_session_context(cur, dict.fromkeys(secrets))
        cur.close()
    return results


def _print_batch(result: BatchResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for message in result.messages:
        console.print(f"[dim]-- {message}[/dim]", highlight=False)
    for columns, rows in result.result_sets:
        table = Table(*columns, caption=f"{len(rows)} row(s), batch {result.number}", show_lines=False)
        for row in rows[:MAX_SHOWN_ROWS]:
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        if len(rows) > MAX_SHOWN_ROWS:
            table.add_row(*(["..."] * len(columns)))
        console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.tsql_script", description=__doc__.split("\n\n")[0])
    parser.add_argument("script", type=Path, help="a rendered T-SQL file under sql/ads/ or sql/crm/")
    parser.add_argument("--url", help="mssql://user:password@host:1433/db (default: the store's variable)")
    args = parser.parse_args(argv)

    from generators import ads_client

    try:
        store = store_of(args.script)
        try:
            sql = args.script.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScriptError(f"{args.script}: cannot read: {exc.strerror}") from None
        url = args.url or os.environ.get(STORE_URL_VARS[store], "").strip()
        if not url:
            raise ScriptError(
                f"{STORE_URL_VARS[store]} is not set: set it to the {store} server"
                f" (for example {ads_client.EXAMPLE_URL.replace('PromptAds', store)}) or pass --url"
            )
        session_secrets(sql, os.environ, str(args.script))  # fail on a missing secret before connecting
        started = time.perf_counter()
        conn = ads_client.connect(url, database="master", autocommit=True)
        try:
            results = run_script(conn, sql, str(args.script), on_batch=_print_batch)
        finally:
            conn.close()
    except (ScriptError, DeployError, ads_client.AdsClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = sum(len(rows) for r in results for _, rows in r.result_sets)
    seconds = time.perf_counter() - started
    print(f"{args.script}: {len(batches_with_lines(sql))} batches, {rows} rows in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
