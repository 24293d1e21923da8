"""Load generated PromptContent documents into MongoDB: validated before every insert, resumable, never duplicated.

    from generators.data.load_mongo import load_tables
    results = load_tables(client["promptcontent"], content_tables)      # list[LoadResult], one per collection

Each TableData of the content store is one collection (`table` is its name) whose batches have one column,
`document`: the documents, each with a deterministic `_id` (an ObjectId), the same on every run of a seed.

Validation. Every document of a batch is checked with the project's validator for its collection
(generators.content_validation, the rendered `$jsonSchema` the server also enforces) before anything of the batch
is written: one invalid document fails the whole batch with one line naming the collection, the batch, the
document's `_id` and the path of the problem, and nothing of that batch is inserted.

The ledger. Every loaded batch is recorded in the collection `_seed_batches` (store, table_name, batch_no, rows,
sha256, loaded_at; unique on store + table_name + batch_no), like `ops.seed_batches` in SQL Server. A re-run
regenerates each batch, skips the ones recorded with the same row count and SHA-256 (a difference raises
SeedLedgerMismatch) and loads the rest.

Idempotence without transactions. A standalone MongoDB server has no multi-document transactions, so the data
and its ledger record cannot be committed together: a crash can fall between `insert_many` and the ledger write,
or in the middle of an ordered `insert_many`. The batch is therefore made idempotent instead. Because every
`_id` is deterministic, a batch without a ledger record first asks which of its `_id`s already exist: none (the
normal case) - one `insert_many(ordered=True)`; some - the batch is re-applied document by document with
`replace_one({_id}, document, upsert=True)`, which writes each document exactly once whether it was there or not.
Only then is the ledger record written. A crash anywhere is healed by the next run, without a duplicate and
without a lost document. (The heal path runs for at most one batch per crash, so per-document upserts cost little;
they also behave the same on the mongomock test double, whose bulk_write lags pymongo's.)

With a replica set or a sharded cluster (detected with the `hello` command: `setName`, or `msg: isdbgrid`), the
same writes and the ledger record run inside one transaction (`session.with_transaction`), so a batch is all or
nothing there as well.

CLI: `python -m generators.data.load_mongo [--seed N --scale small|full]` reads PROMPTSALES_CONTENT_URL; the
database is the manifest's (promptcontent). See docs/seeding-sqlserver-mongodb.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bson.objectid import ObjectId

from generators.content_validation import load_validators, validate_document
from generators.data.load_mssql import (
    DEFAULT_SEED,
    Reporter,
    error_detail,
    world_tables,
)
from generators.data.tables import (
    Batch,
    LoadResult,
    SeedLedgerMismatch,
    SeedLoadError,
    TableData,
    batch_length,
    batch_sha256,
)
from generators.deploy import ROOT
from generators.mongo_deploy import now_ms

log = logging.getLogger(__name__)

STORE = "content"
DEFAULT_BATCH_ROWS = 1_000
LEDGER = "_seed_batches"
LEDGER_INDEX = "ux_seed_batches"
DOCUMENT = "document"
CONTENT_ENV_VAR = "PROMPTSALES_CONTENT_URL"


def supports_transactions(db: Any) -> bool:
    """True when the server is a replica-set member or a mongos (multi-document transactions), per `hello`."""
    from pymongo.errors import OperationFailure, PyMongoError

    try:
        try:
            reply = db.command("hello")
        except OperationFailure:
            reply = db.command("isMaster")  # servers before 4.4.2 know only the legacy name
    except (PyMongoError, NotImplementedError):
        # No answer is no evidence of a replica set; the idempotent path is correct everywhere.
        return False
    return bool(reply.get("setName")) or reply.get("msg") == "isdbgrid"


def mongo_error_detail(exc: BaseException) -> str:
    """One line for a MongoDB error: the server's message and code, not pymongo's dump of the whole reply."""
    from pymongo.errors import BulkWriteError, OperationFailure

    if isinstance(exc, BulkWriteError):
        errors = (exc.details or {}).get("writeErrors") or [{}]
        first = errors[0]
        message = str(first.get("errmsg") or "bulk write failed").splitlines()[0]
        return f"{message} (code {first.get('code')}, document {first.get('index')} of the batch)"
    if isinstance(exc, OperationFailure):
        message = str((exc.details or {}).get("errmsg") or exc).strip().splitlines()[0]
        return f"{message} (code {exc.code})"
    return error_detail(exc)


def _documents(data: TableData, batch: Batch, batch_no: int) -> list[dict[str, Any]]:
    documents = list(batch[DOCUMENT])
    seen: set[Any] = set()
    for index, document in enumerate(documents):
        where = f"{STORE}: {data.table}: batch {batch_no}: document {index}"
        if not isinstance(document, Mapping):
            raise SeedLoadError(f"{where}: is a {type(document).__name__}, not a document")
        identifier = document.get("_id")
        if not isinstance(identifier, ObjectId):
            # A missing _id would be drawn at random on insert, and a re-run would then duplicate the document.
            raise SeedLoadError(f"{where}: needs a deterministic ObjectId _id (got {identifier!r})")
        if identifier in seen:
            raise SeedLoadError(f"{where}: _id {identifier} appears twice in the batch")
        seen.add(identifier)
    return [dict(document) for document in documents]


def _check(data: TableData, validator: Mapping[str, Any], documents: list[dict[str, Any]], batch_no: int) -> None:
    """All or nothing: the first invalid document fails the batch before anything of it is written."""
    invalid = [(doc, problems) for doc in documents if (problems := validate_document(validator, doc))]
    if not invalid:
        return
    document, problems = invalid[0]
    others = sum(len(p) for _, p in invalid) - 1
    more = f" (and {others} more problem(s) in {len(invalid)} invalid document(s))" if others else ""
    raise SeedLoadError(
        f"{STORE}: {data.table}: batch {batch_no}: document {document['_id']}: {problems[0]}{more};"
        f" nothing of this batch was inserted ({len(documents)} documents)"
    )


def _write(
    collection: Any, ledger: Any, documents: list[dict[str, Any]], entry: dict[str, Any], session: Any = None
) -> str:
    """Write a batch and then its ledger record; returns how ("insert" or "heal")."""
    # Only pass a session when there is one: the call is then the same as without transactions.
    extra = {"session": session} if session is not None else {}
    ids = [document["_id"] for document in documents]
    present = {found["_id"] for found in collection.find({"_id": {"$in": ids}}, {"_id": 1}, **extra)}
    if not present:
        collection.insert_many(documents, ordered=True, **extra)
        how = "insert"
    else:
        # An earlier run wrote part or all of this batch and stopped before its ledger record: write every
        # document exactly once more, replacing what is there.
        for document in documents:
            collection.replace_one({"_id": document["_id"]}, document, upsert=True, **extra)
        how = "heal"
    ledger.insert_one({**entry, "loaded_at": now_ms()}, **extra)
    return how


def _load_collection(
    db: Any, data: TableData, batch_rows: int, reporter: Reporter, transactions: bool, root: Path
) -> LoadResult:
    where = f"{STORE}: {data.table}"
    if data.columns != (DOCUMENT,):
        raise ValueError(f"{where}: a content TableData has the one column {DOCUMENT!r}, not {data.columns}")
    validators = load_validators(root)
    if data.table not in validators:
        raise ValueError(f"{where}: no rendered validator for this collection (known: {', '.join(sorted(validators))})")
    validator = validators[data.table]
    collection, ledger = db[data.table], db[LEDGER]
    started = time.perf_counter()
    advance = reporter.table(data.table, data.rows)
    loaded = skipped = rows_loaded = 0
    batch_no = 0
    batches = data.batches(batch_rows)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except Exception as exc:
            raise SeedLoadError(f"{where}: batch {batch_no + 1}: the generator failed: {error_detail(exc)}") from exc
        batch_no += 1
        rows = batch_length(batch)
        digest = batch_sha256(data.columns, batch)
        key = {"store": STORE, "table_name": data.table, "batch_no": batch_no}
        try:
            recorded = ledger.find_one(key)
            if recorded is not None:
                if recorded.get("rows") != rows or recorded.get("sha256") != digest:
                    raise SeedLedgerMismatch(
                        f"{where}: batch {batch_no}: the seed ledger ({LEDGER} in {db.name}) records"
                        f" {recorded.get('rows')} documents with SHA-256 {str(recorded.get('sha256'))[:12]}, this run"
                        f" generates {rows} with SHA-256 {digest[:12]}: the collection was loaded with another seed,"
                        f" scale, batch size or generator version. Re-run with the options of the first load, or"
                        f" start over: drop {data.table} and its {LEDGER} entries (store 'content', table_name"
                        f" '{data.table}'), or the whole {db.name} database, redeploy and load again"
                    )
                skipped += 1
                advance(rows)
                continue
            documents = _documents(data, batch, batch_no)
            _check(data, validator, documents, batch_no)
            entry = {**key, "rows": rows, "sha256": digest}
            if transactions:
                with db.client.start_session() as session:
                    # with_transaction retries on a transient error; the callback re-reads what exists each time.
                    how = session.with_transaction(functools.partial(_write, collection, ledger, documents, entry))
            else:
                how = _write(collection, ledger, documents, entry)
        except (SeedLedgerMismatch, SeedLoadError):
            raise
        except Exception as exc:
            raise SeedLoadError(f"{where}: batch {batch_no}: {mongo_error_detail(exc)}") from exc
        if how == "heal":
            log.info(
                "%s: batch %d re-applied with upserts (an earlier run stopped before its ledger record)",
                where,
                batch_no,
            )
        loaded += 1
        rows_loaded += rows
        advance(rows)
    try:
        beyond = ledger.count_documents({"store": STORE, "table_name": data.table, "batch_no": {"$gt": batch_no}})
    except Exception as exc:
        raise SeedLoadError(f"{where}: the seed ledger: {mongo_error_detail(exc)}") from exc
    if beyond:
        raise SeedLedgerMismatch(
            f"{where}: the seed ledger ({LEDGER} in {db.name}) records {beyond} more batches than the {batch_no} this"
            f" run generates: the collection was loaded with another seed, scale or batch size; re-run with the"
            f" options of the first load, or drop {data.table} and its {LEDGER} entries and load again"
        )
    result = LoadResult(STORE, data.table, data.rows, rows_loaded, loaded, skipped, time.perf_counter() - started)
    reporter.line(result.summary())
    return result


def load_tables(
    db: Any,
    tables: Sequence[TableData],
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: bool = True,
    root: Path = ROOT,
) -> list[LoadResult]:
    """Load content collections into `db` (a pymongo Database whose collections the deploy created), in order.

    Raises SeedLoadError (one line: collection, batch, document _id and path, or the server's message) or
    SeedLedgerMismatch; batches recorded before a failure stay, and a re-run continues (and heals) from there.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    other = sorted({t.store for t in tables} - {STORE})
    if other:
        raise ValueError(f"load_tables (MongoDB) loads the content store only, got {other}")
    if not tables:
        return []
    started = time.perf_counter()
    try:
        db[LEDGER].create_index([("store", 1), ("table_name", 1), ("batch_no", 1)], name=LEDGER_INDEX, unique=True)
    except Exception as exc:
        raise SeedLoadError(f"{STORE}: {LEDGER}: {mongo_error_detail(exc)}") from exc
    transactions = supports_transactions(db)
    log.info("%s: %s", STORE, "transactions per batch" if transactions else "idempotent batches (no transactions)")
    results: list[LoadResult] = []
    with Reporter(STORE, progress) as reporter:
        for data in tables:
            results.append(_load_collection(db, data, batch_rows, reporter, transactions, root))
        reporter.finish(results, time.perf_counter() - started)
    return results


def main(argv: list[str] | None = None) -> int:
    """`python -m generators.data.load_mongo [--seed N --scale small|full]`: seed PromptContent."""
    import pymongo
    from pymongo.errors import PyMongoError

    from generators.ads_client import mask_url
    from generators.deploy import load_manifest

    parser = argparse.ArgumentParser(prog="python -m generators.data.load_mongo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"world seed (default {DEFAULT_SEED}; a re-run must use the same)",
    )
    parser.add_argument("--scale", choices=("small", "full"), default="full", help="world size (default full)")
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS, help="documents per batch")
    parser.add_argument("--database", help="load into this database instead of the manifest's")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (summary lines are logged)")
    args = parser.parse_args(argv)
    url = os.environ.get(CONTENT_ENV_VAR, "").strip()
    if not url:
        print(
            f"error: {CONTENT_ENV_VAR} is not set; set it to mongodb://user:password@host:27017/admin and run again",
            file=sys.stderr,
        )
        return 1
    database = args.database or load_manifest()["stores"][STORE]["database"]
    client: Any = pymongo.MongoClient(url, appname="promptsales_seed", serverSelectionTimeoutMS=10_000)
    try:
        tables = world_tables(STORE, seed=args.seed, scale=args.scale)
        print(f"{STORE}: loading into {database} on {mask_url(url)}")
        load_tables(client[database], tables, batch_rows=args.batch_rows, progress=not args.no_progress)
    except (SeedLoadError, SeedLedgerMismatch, ValueError, PyMongoError) as exc:
        print(f"error: {mongo_error_detail(exc)}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
