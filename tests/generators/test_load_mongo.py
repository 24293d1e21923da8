"""The PromptContent loader on mongomock, a test double of MongoDB: validation, ledger, re-runs, crash healing.

No MongoDB server can run here. The collections are created by the project's deploy on `MongomockWithCollMod`
(tests/generators/test_mongo_deploy.py), itself a test double over mongomock. The doubles below add only the faults
a test injects - a process that dies after insert_many and before the ledger write, or in the middle of an ordered
insert_many - and, for the transaction path, a replica-set stand-in that records sessions. None of them enforces
the `$jsonSchema` validators: the project's own pre-insert check is what refuses a document here. The same
scenarios run against a real server in tests/integration/test_seed_mongodb.py when PROMPTSALES_CONTENT_URL is set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson.objectid import ObjectId
from pymongo.errors import AutoReconnect

from generators.data import load_mongo
from generators.data.load_mongo import LEDGER, load_tables, supports_transactions
from generators.data.tables import SeedLedgerMismatch, SeedLoadError, TableData, batch_sha256
from generators.mongo_deploy import deploy_mongo
from tests.generators.test_content_validation import image
from tests.generators.test_mongo_deploy import MongomockWithCollMod

WHEN = datetime(2025, 12, 1, 9, 30, tzinfo=UTC)


def image_documents(
    count: int, *, first: int = 1, bad: dict[int, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Valid images documents with deterministic _ids (as the content generator makes them)."""
    documents = []
    for number in range(first, first + count):
        url = f"https://cdn.promptcontent.example/images/seed-{number:04d}.webp"
        description = f"A runner in a red jacket on a coastal path at dawn, asset {number} of the Ridge trail shoe."
        document = image(
            url=url,
            description=description,
            description_sha256=hashlib.sha256(description.encode()).hexdigest(),
            versions=[{"version": 1, "url": url, "created_at": WHEN, "note": "first"}],
            created_at=WHEN + timedelta(minutes=number),
            updated_at=WHEN + timedelta(minutes=number),
        )
        documents.append({"_id": ObjectId(f"{number:024x}"), **document, **(bad or {}).get(number, {})})
    return documents


def images(count: int = 7, **kwargs: Any) -> TableData:
    def make(batch_rows: int) -> Iterator[dict[str, Any]]:
        # Fresh documents on every call, as a generator makes them: nothing the loader does to one run leaks.
        documents = image_documents(count, **kwargs)
        for start in range(0, count, batch_rows):
            yield {"document": documents[start : start + batch_rows]}

    return TableData("content", "images", ("document",), count, make)


@pytest.fixture
def db() -> MongomockWithCollMod:
    double = MongomockWithCollMod()
    deploy_mongo(double, "content")
    return double


def load(db: Any, tables: list[TableData], batch_rows: int = 3) -> Any:
    return load_tables(db, tables, batch_rows=batch_rows, progress=False)


def ledger(db: Any) -> list[tuple[int, int]]:
    return sorted((row["batch_no"], row["rows"]) for row in db[LEDGER].find({"table_name": "images"}))


# --------------------------------------------------------------------------- fault-injecting doubles


class _Faulty:
    """A collection of the double whose chosen write raises AutoReconnect (the process lost its server) once."""

    def __init__(self, collection: Any, faults: dict[str, Any]) -> None:
        self._collection = collection
        self._faults = faults

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._collection, attr)

    def insert_one(self, document: dict[str, Any], **kwargs: Any) -> Any:
        if "ledger_batch" in self._faults and self._faults["ledger_batch"] == document.get("batch_no"):
            del self._faults["ledger_batch"]
            raise AutoReconnect("connection closed")
        return self._collection.insert_one(document, **kwargs)

    def insert_many(self, documents: list[dict[str, Any]], **kwargs: Any) -> Any:
        count = self._faults.pop("insert_many_after", None)
        if count is not None:
            self._collection.insert_many(documents[:count], **kwargs)  # ordered: the first ones are written
            raise AutoReconnect("connection closed")
        return self._collection.insert_many(documents, **kwargs)


class CrashingDb:
    """TEST DOUBLE: the deployed mongomock database, with one crash armed (see _Faulty)."""

    def __init__(self, db: MongomockWithCollMod, **faults: Any) -> None:
        self._db = db
        self.faults = faults

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._db, attr)

    def __getitem__(self, name: str) -> Any:
        return _Faulty(self._db[name], self.faults)


# --------------------------------------------------------------------------- loading and re-running


def test_documents_are_inserted_and_each_batch_is_recorded(db: MongomockWithCollMod) -> None:
    (result,) = load(db, [images(7)])

    stored = list(db["images"].find({}, sort=[("_id", 1)]))
    assert [doc["_id"] for doc in stored] == [ObjectId(f"{n:024x}") for n in range(1, 8)]
    assert stored[0]["url"] == "https://cdn.promptcontent.example/images/seed-0001.webp"
    assert ledger(db) == [(1, 3), (2, 3), (3, 1)]
    data = images(7)
    hashes = [batch_sha256(data.columns, batch) for batch in data.batches(3)]
    assert [row["sha256"] for row in db[LEDGER].find({}, sort=[("batch_no", 1)])] == hashes
    assert all(isinstance(row["loaded_at"], datetime) for row in db[LEDGER].find())
    assert (result.rows, result.rows_loaded, result.batches_loaded, result.batches_skipped) == (7, 7, 3, 0)


def test_a_rerun_inserts_nothing(db: MongomockWithCollMod) -> None:
    load(db, [images(7)])
    before = list(db["images"].find({}, sort=[("_id", 1)]))
    recorded = list(db[LEDGER].find({}, sort=[("batch_no", 1)]))

    (result,) = load(db, [images(7)])

    assert (result.rows_loaded, result.batches_skipped) == (0, 3)
    assert result.summary() == "content: images: 7 rows already loaded (3 batches)"
    assert list(db["images"].find({}, sort=[("_id", 1)])) == before
    assert list(db[LEDGER].find({}, sort=[("batch_no", 1)])) == recorded  # same loaded_at: not rewritten


def test_a_crash_between_insert_many_and_the_ledger_write_is_healed_without_duplicates(
    db: MongomockWithCollMod, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(SeedLoadError) as crashed:
        load(CrashingDb(db, ledger_batch=2), [images(7)])
    assert str(crashed.value) == "content: images: batch 2: connection closed"
    assert db["images"].count_documents({}) == 6  # batch 2's documents are in, its ledger record is not
    assert ledger(db) == [(1, 3)]

    with caplog.at_level("INFO", logger=load_mongo.__name__):
        (result,) = load(db, [images(7)])

    assert "batch 2 re-applied with upserts" in caplog.text
    assert (result.batches_skipped, result.batches_loaded, result.rows_loaded) == (1, 2, 4)
    ids = [doc["_id"] for doc in db["images"].find()]
    assert len(ids) == 7 and len(set(ids)) == 7
    assert ledger(db) == [(1, 3), (2, 3), (3, 1)]


def test_a_crash_in_the_middle_of_an_ordered_insert_many_is_healed(db: MongomockWithCollMod) -> None:
    with pytest.raises(SeedLoadError, match="batch 1: connection closed"):
        load(CrashingDb(db, insert_many_after=2), [images(7)])
    assert db["images"].count_documents({}) == 2 and ledger(db) == []

    (result,) = load(db, [images(7)])

    assert result.batches_loaded == 3 and db["images"].count_documents({}) == 7
    assert sorted(doc["url"] for doc in db["images"].find())[0].endswith("seed-0001.webp")


def test_an_invalid_document_fails_its_batch_with_one_line_and_inserts_nothing_of_it(db: MongomockWithCollMod) -> None:
    broken = images(7, bad={5: {"hashtags": ["#ok", "Not A Hashtag"]}})
    with pytest.raises(SeedLoadError) as rejected:
        load(db, [broken])

    assert str(rejected.value) == (
        f"content: images: batch 2: document {ObjectId(f'{5:024x}')}: hashtags[1]: does not match pattern"
        " '^#[a-z0-9_]{1,100}$' (got 'Not A Hashtag'); nothing of this batch was inserted (3 documents)"
    )
    assert "\n" not in str(rejected.value)
    assert db["images"].count_documents({}) == 3  # batch 1 only: batch 2's two valid documents were not written
    assert ledger(db) == [(1, 3)]

    (result,) = load(db, [images(7)])  # the generator fixed: the load completes from batch 2
    assert (result.batches_skipped, result.batches_loaded) == (1, 2)
    assert db["images"].count_documents({}) == 7


def test_a_batch_that_differs_from_its_ledger_record_raises_seed_ledger_mismatch(db: MongomockWithCollMod) -> None:
    load(db, [images(7)])
    changed = images(7, bad={2: {"alt_text": "Another alt text"}})
    with pytest.raises(SeedLedgerMismatch) as mismatch:
        load(db, [changed])
    message = str(mismatch.value)
    assert message.startswith("content: images: batch 1: the seed ledger (_seed_batches in promptcontent_test)")
    assert "another seed, scale, batch size or generator version" in message and "\n" not in message
    assert db["images"].find_one({"_id": ObjectId(f"{2:024x}")})["alt_text"] != "Another alt text"


def test_a_ledger_with_more_batches_than_generated_is_a_mismatch(db: MongomockWithCollMod) -> None:
    load(db, [images(7)])
    with pytest.raises(SeedLedgerMismatch, match="records 2 more batches than the 1 this run generates"):
        load(db, [images(3)])


def test_a_document_without_a_deterministic_id_is_refused(db: MongomockWithCollMod) -> None:
    def make(batch_rows: int) -> Iterator[dict[str, Any]]:
        documents = image_documents(2)
        del documents[1]["_id"]
        yield {"document": documents}

    with pytest.raises(SeedLoadError, match="document 1: needs a deterministic ObjectId _id"):
        load(db, [TableData("content", "images", ("document",), 2, make)])
    assert db["images"].count_documents({}) == 0


def test_other_stores_and_unknown_collections_are_refused_before_writing(db: MongomockWithCollMod) -> None:
    data = images(2)
    with pytest.raises(ValueError, match="content store only"):
        load(db, [TableData("ads", "images", data.columns, 2, data.make_batches)])
    with pytest.raises(ValueError, match="no rendered validator for this collection"):
        load(db, [TableData("content", "pictures", data.columns, 2, data.make_batches)])
    assert db["images"].count_documents({}) == 0


# --------------------------------------------------------------------------- transactions on a replica set


class RecordingSession:
    """TEST DOUBLE of a pymongo ClientSession: runs the with_transaction callback once and records it."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    def __enter__(self) -> RecordingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.append(("end_session", self))

    def with_transaction(self, callback: Any) -> Any:
        self.log.append(("with_transaction", self))
        return callback(self)


class _SessionRecordingCollection:
    def __init__(self, collection: Any, log: list[tuple[str, Any]]) -> None:
        self._collection = collection
        self._log = log

    def __getattr__(self, attr: str) -> Any:
        method = getattr(self._collection, attr)
        if attr not in ("find", "insert_many", "insert_one", "replace_one"):
            return method

        def call(*args: Any, session: Any = None, **kwargs: Any) -> Any:
            self._log.append((attr, session))
            return method(*args, **kwargs)  # mongomock has no sessions: the double strips it after recording

        return call


class ReplicaSetDouble:
    """TEST DOUBLE: the deployed mongomock database answering `hello` as a replica-set primary, with sessions."""

    def __init__(self, db: MongomockWithCollMod) -> None:
        self._db = db
        self.log: list[tuple[str, Any]] = []
        self.client = self

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._db, attr)

    def __getitem__(self, name: str) -> Any:
        return _SessionRecordingCollection(self._db[name], self.log)

    def command(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if name == "hello":
            return {"isWritablePrimary": True, "setName": "rs0", "ok": 1.0}
        return self._db.command(name, *args, **kwargs)

    def start_session(self) -> RecordingSession:
        return RecordingSession(self.log)


def test_on_a_replica_set_each_batch_and_its_ledger_record_run_in_one_transaction(db: MongomockWithCollMod) -> None:
    replica = ReplicaSetDouble(db)
    assert supports_transactions(replica) and not supports_transactions(db)

    load(replica, [images(7)])

    transactions = [session for kind, session in replica.log if kind == "with_transaction"]
    assert len(transactions) == 3 and len(set(map(id, transactions))) == 3
    for session in transactions:
        writes = [kind for kind, used in replica.log if used is session]
        assert writes == ["with_transaction", "find", "insert_many", "insert_one", "end_session"]
    assert db["images"].count_documents({}) == 7 and ledger(db) == [(1, 3), (2, 3), (3, 1)]


# --------------------------------------------------------------------------- command line


def test_the_command_line_names_the_missing_url_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PROMPTSALES_CONTENT_URL", raising=False)
    assert load_mongo.main([]) == 1
    assert capsys.readouterr().err.startswith("error: PROMPTSALES_CONTENT_URL is not set")
