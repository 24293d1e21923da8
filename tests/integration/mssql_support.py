"""Helpers every SQL Server integration test shares (PromptAds, PromptCrm): result sets, the deploy, script verdicts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from generators import ads_client
from generators.deploy import NO_TRANSACTION_MARK, ROOT, FileResult, apply_tsql_file, store_files
from generators.tsql_script import BatchResult


def url_or_none(variable: str) -> str | None:
    return os.environ.get(variable, "").strip() or None


def run(conn: Any, sql: str, params: tuple[Any, ...] | None = None) -> list[list[tuple[Any, ...]]]:
    """Execute one batch and return every result set; draining them all surfaces an error in a later statement.

    pytds stops reading a response at the first result set or row count and cancels the unread rest when the
    next request starts, so a batch whose tail is not read could fail silently. Batches here open with
    SET NOCOUNT ON so that only real result sets stop the reader.
    """
    sets: list[list[tuple[Any, ...]]] = []
    with conn.cursor() as cur:
        if params is None:
            cur.execute(sql)  # no parameters: sent as a plain batch, so a "%" in the text stays as it is
        else:
            cur.execute(sql, params)
        while True:
            if cur.description is not None:
                sets.append([tuple(row) for row in cur.fetchall()])
            if not cur.nextset():
                return sets


def scalar(conn: Any, sql: str, params: tuple[Any, ...] | None = None) -> Any:
    sets = run(conn, "SET NOCOUNT ON;\n" + sql, params)
    assert sets and sets[-1], f"no row from: {sql}"
    return sets[-1][0][0]


def connection_factory(url: str, default_database: str, variable: str) -> Iterator[Callable[..., Any]]:
    """Generator for a session fixture: yields connect(autocommit=True, database=None); closes all at the end."""
    opened: list[Any] = []

    def connect(*, autocommit: bool = True, database: str | None = None) -> Any:
        problem = None
        try:
            conn = ads_client.connect(url, database=database or default_database, autocommit=autocommit)
        except ads_client.AdsClientError as exc:
            problem = f"{exc}; check {variable}"
        if problem is not None:
            # Configured but unreachable is a failure, not a skip: the URL says a server should be there.
            pytest.fail(problem, pytrace=False)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


# --------------------------------------------------------------------------- deploy


def deploy_store(connect: Callable[..., Any], store: str, env: Mapping[str, str] | None = None) -> list[FileResult]:
    """Every file of the store in manifest order with apply_tsql_file: no-transaction files on master, the rest in it.

    `env` holds the secrets the files declare (None: the process environment), as for the real deploy.
    """
    results = []
    master = connect(autocommit=False, database="master")
    in_database = None
    for rel in store_files(store):
        if NO_TRANSACTION_MARK in (ROOT / rel).read_text(encoding="utf-8").splitlines():
            results.append(apply_tsql_file(master, store, rel, env=env))
        else:
            # The database exists from here on; every file opens with USE <database> anyway.
            in_database = in_database or connect(autocommit=False)
            results.append(apply_tsql_file(in_database, store, rel, env=env))
    return results


@dataclass(frozen=True)
class Deployment:
    first: list[FileResult]
    second: list[FileResult]
    catalog_after_first: list[tuple[Any, ...]]
    catalog_after_second: list[tuple[Any, ...]]
    sentinel_survived: bool


# --------------------------------------------------------------------------- verdicts of the explanatory scripts


@dataclass(frozen=True)
class Verdict:
    batch: int
    column: str
    value: str


def _is_verdict(value: Any) -> bool:
    return isinstance(value, str) and value.strip().upper() in ("PASS", "FAIL")


def verdicts(results: Iterable[BatchResult]) -> list[Verdict]:
    """Every verdict a script returned: the values of a column named `verdict` (or `..._verdict`), which may
    explain themselves ("PASS - decrypted"), and of any column whose values are all exactly PASS or FAIL (the
    scripts name their checks: `three_rows_written`, `nothing_left_after_rollback`)."""
    found = []
    for result in results:
        for columns, rows in result.result_sets:
            for index, column in enumerate(columns):
                values = [row[index] for row in rows if row[index] is not None]
                named = column.lower() == "verdict" or column.lower().endswith("_verdict")
                if values and (named or all(_is_verdict(v) for v in values)):
                    found += [Verdict(result.number, column, str(v).strip()) for v in values]
    return found


def failed_verdicts(found: list[Verdict]) -> list[Verdict]:
    """Anything but a PASS: in a verdict column, a value that does not start with PASS fails too."""
    return [v for v in found if not v.value.upper().startswith("PASS")]
