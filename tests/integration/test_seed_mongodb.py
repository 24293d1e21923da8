"""Seeding PromptContent on a real MongoDB server: documents in, a re-run that inserts nothing, crashes healed.

Runs only when PROMPTSALES_CONTENT_URL points at a MongoDB server the tests may write to; skipped otherwise, and
`pytest -ra` prints why. Each test deploys into a throw-away database `promptcontent_seed_<random>` and drops it
afterwards. On a replica set the loader takes its transaction path, on a standalone server its idempotent path;
the assertions hold for both. The same scenarios run on mongomock, a test double, in
tests/generators/test_load_mongo.py. Here the server's own `$jsonSchema` validators (validationAction error)
also see every document the loader writes.

The documents are the generated world's content at small scale when generators.data.world provides
`build_world`, otherwise hand-built images documents.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bson.objectid import ObjectId

from generators.data.load_mongo import CONTENT_ENV_VAR, LEDGER, load_tables, supports_transactions
from generators.data.load_mssql import DEFAULT_SEED, world_tables
from generators.data.tables import SeedLoadError, TableData
from generators.mongo_deploy import deploy_mongo
from tests.generators.test_load_mongo import CrashingDb, images

SKIP_REASON = (
    f"{CONTENT_ENV_VAR} is not set: no MongoDB server to test against (the loader's logic runs on mongomock, a test"
    " double, in tests/generators/test_load_mongo.py); set it to mongodb://user:password@host:27017/admin"
)
BATCH_ROWS = 3

pytestmark = pytest.mark.skipif(not os.environ.get(CONTENT_ENV_VAR), reason=SKIP_REASON)


def masked(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    import pymongo
    from pymongo.errors import PyMongoError

    url = os.environ[CONTENT_ENV_VAR]
    mongo: Any = pymongo.MongoClient(url, serverSelectionTimeoutMS=10_000, appname="promptsales-tests")
    try:
        mongo.admin.command("ping")
    except PyMongoError as exc:
        mongo.close()
        pytest.fail(f"MongoDB at {masked(url)} is not reachable ({exc}); check {CONTENT_ENV_VAR}", pytrace=False)
    yield mongo
    mongo.close()


@pytest.fixture
def db(client: Any) -> Iterator[Any]:
    """A throw-away database on the real server with PromptContent deployed into it; dropped afterwards."""
    name = f"promptcontent_seed_{uuid.uuid4().hex[:12]}"
    deploy_mongo(client[name], "content")
    yield client[name]
    client.drop_database(name)


def content_tables() -> list[TableData]:
    return world_tables("content", seed=DEFAULT_SEED, scale="small")


def load(db: Any, tables: list[TableData]) -> Any:
    return load_tables(db, tables, batch_rows=BATCH_ROWS, progress=False)


def test_documents_are_inserted_and_a_rerun_inserts_nothing(db: Any) -> None:
    tables = content_tables()
    first = load(db, tables)
    for data, result in zip(tables, first, strict=True):
        assert db[data.table].count_documents({}) == data.rows == result.rows_loaded, data.table
    snapshot = {t.table: list(db[t.table].find({}, sort=[("_id", 1)])) for t in tables}
    recorded = list(db[LEDGER].find({}, {"_id": 0}, sort=[("table_name", 1), ("batch_no", 1)]))

    again = load(db, tables)

    assert [(r.rows_loaded, r.batches_loaded) for r in again] == [(0, 0)] * len(tables)
    assert {t.table: list(db[t.table].find({}, sort=[("_id", 1)])) for t in tables} == snapshot
    assert list(db[LEDGER].find({}, {"_id": 0}, sort=[("table_name", 1), ("batch_no", 1)])) == recorded


def test_a_crash_before_the_ledger_write_is_healed_without_duplicates(db: Any) -> None:
    data = images(7)
    with pytest.raises(SeedLoadError, match="batch 2: connection closed"):
        load(CrashingDb(db, ledger_batch=2), [data])
    # A transaction takes batch 2 back with its ledger record; without one its documents stay, unrecorded.
    assert db["images"].count_documents({}) == (3 if supports_transactions(db) else 6)

    (result,) = load(db, [data])

    assert (result.batches_skipped, result.batches_loaded) == (1, 2)
    ids = [doc["_id"] for doc in db["images"].find({}, {"_id": 1})]
    assert len(ids) == 7 and set(ids) == {ObjectId(f"{n:024x}") for n in range(1, 8)}
    assert sorted(r["batch_no"] for r in db[LEDGER].find({"table_name": "images"})) == [1, 2, 3]


def test_a_crash_in_the_middle_of_an_insert_many_is_healed(db: Any) -> None:
    with pytest.raises(SeedLoadError, match="batch 1: connection closed"):
        load(CrashingDb(db, insert_many_after=2), [images(7)])

    (result,) = load(db, [images(7)])

    assert result.batches_loaded == 3 and db["images"].count_documents({}) == 7


def test_an_invalid_document_never_reaches_the_server(db: Any) -> None:
    broken = images(7, bad={5: {"format": "bmp"}})
    with pytest.raises(SeedLoadError, match=r"batch 2: document 0{23}5: format: 'bmp' is not one of"):
        load(db, [broken])
    assert db["images"].count_documents({}) == 3
    assert db["images"].count_documents({"_id": {"$in": [ObjectId(f"{n:024x}") for n in (4, 5, 6)]}}) == 0
