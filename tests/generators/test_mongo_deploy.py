"""Deploying PromptContent on mongomock, a test double of MongoDB: collections, validators, indexes, ledger, re-runs.

No MongoDB server can run here. mongomock (itself a test double) lacks what the deploy relies on, so
`MongomockWithCollMod` below extends it with exactly that and nothing more. Neither enforces validators: on the
double, invalid documents are rejected by the project's own pre-insert check; the server's own rejection (code 121)
is tested against real MongoDB in tests/integration/test_content_mongodb.py when PROMPTSALES_CONTENT_URL is set.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mongomock
import pytest
import yaml
from pymongo.errors import CollectionInvalid, OperationFailure

from generators.content_validation import DocumentRejected, insert_validated
from generators.deploy import DeployError, load_manifest
from generators.mongo_deploy import LEDGER, apply_mongo_file, deploy_mongo, index_spec
from generators.render import main as render_main
from tests.generators.test_content_validation import image

ROOT = Path(__file__).resolve().parents[2]
FILES = load_manifest()["stores"]["content"]["deploy"]
COLLECTIONS_FILE, INDEXES_FILE, DOCUMENTS_FILE = FILES


def rendered(rel: str, root: Path = ROOT) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / rel).read_text(encoding="utf-8"))
    return data


# --------------------------------------------------------------------------- the test double


class _CollectionKeepingIndexOptions:
    """A mongomock collection whose create_indexes keeps partialFilterExpression (mongomock 4.3 drops it there)."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._collection, attr)

    def create_indexes(self, indexes: list[Any], session: Any = None) -> list[str]:
        names = []
        for model in indexes:
            spec = dict(model.document)
            key = list(spec.pop("key").items())
            names.append(self._collection.create_index(key, **spec))
        return names


class MongomockWithCollMod:
    """Test double: a mongomock database plus what the deploy uses and mongomock 4.3 lacks.

    - `create_collection(name, validator=..., validationLevel=..., validationAction=...)` (mongomock refuses options);
    - `list_collections(filter={"name": ...})` reporting those options, as the server does (not implemented there);
    - `command("collMod", name, ...)` replacing them, NamespaceNotFound (26) for a missing collection;
    - `create_indexes` keeping partialFilterExpression.

    It stores validator options; it does not enforce them (neither does mongomock). `commands` records each command.
    """

    def __init__(self, name: str = "promptcontent_test") -> None:
        self._db = mongomock.MongoClient()[name]
        self._options: dict[str, dict[str, Any]] = {}
        self.commands: list[tuple[str, Any]] = []

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._db, attr)

    def __getitem__(self, name: str) -> _CollectionKeepingIndexOptions:
        return _CollectionKeepingIndexOptions(self._db[name])

    def get_collection(self, name: str, **_: Any) -> _CollectionKeepingIndexOptions:
        return self[name]

    def create_collection(self, name: str, **options: Any) -> _CollectionKeepingIndexOptions:
        unknown = set(options) - {"validator", "validationLevel", "validationAction"}
        if unknown:
            raise NotImplementedError(f"MongomockWithCollMod: options {sorted(unknown)} are not modelled")
        if name in self._db.list_collection_names():
            raise CollectionInvalid(f"collection {name} already exists")
        self._db.create_collection(name)
        self._options[name] = copy.deepcopy(options)
        return self[name]

    def list_collections(self, filter: dict[str, Any] | None = None, **_: Any) -> Iterator[dict[str, Any]]:
        names = sorted(self._db.list_collection_names())
        if filter:
            names = [n for n in names if n == filter["name"]]
        return iter(
            [{"name": n, "type": "collection", "options": copy.deepcopy(self._options.get(n, {}))} for n in names]
        )

    def command(self, command: str, value: Any = None, **kwargs: Any) -> dict[str, Any]:
        self.commands.append((command, value))
        if command == "collMod":
            if value not in self._db.list_collection_names():
                raise OperationFailure(f"ns does not exist: {self._db.name}.{value}", code=26)
            self._options.setdefault(value, {}).update(copy.deepcopy(kwargs))
            return {"ok": 1.0}
        result: dict[str, Any] = self._db.command(command)
        return result


@pytest.fixture
def db() -> MongomockWithCollMod:
    return MongomockWithCollMod()


def index_names(db: Any) -> dict[str, list[str]]:
    return {name: sorted(db[name].index_information()) for name in sorted(db.list_collection_names())}


def ledger_rows(db: Any) -> list[dict[str, Any]]:
    return sorted(
        ({k: v for k, v in row.items() if k != "_id"} for row in db[LEDGER].find()),
        key=lambda r: (r["file"], r["sha256"]),
    )


# --------------------------------------------------------------------------- deploy and re-deploy


def test_first_deploy_on_the_mongomock_double_creates_collections_validators_indexes_and_documents(
    db: MongomockWithCollMod,
) -> None:
    results = deploy_mongo(db, "content")

    assert [(r.file, r.changed) for r in results] == [(f, True) for f in FILES]
    wanted = {c["name"]: c for c in rendered(COLLECTIONS_FILE)["collections"]}
    assert set(wanted) == {"images", "hashtags", "content_requests", "message_logs", "integrations"}
    for name, entry in wanted.items():
        (info,) = db.list_collections(filter={"name": name})
        assert info["options"] == {k: entry[k] for k in ("validator", "validationLevel", "validationAction")}
        assert info["options"]["validationLevel"] == "strict" and info["options"]["validationAction"] == "error"
    for entry in rendered(INDEXES_FILE)["collections"]:
        existing = {ix["name"]: ix for ix in db[entry["name"]].list_indexes()}
        assert set(existing) == {"_id_", *(ix["name"] for ix in entry["indexes"])}
        for ix in entry["indexes"]:
            assert index_spec(existing[ix["name"]]) == index_spec(ix), ix["name"]
    received = db["content_requests"].index_information()["ix_content_requests_received"]
    assert received["partialFilterExpression"] == {"status": "received"}
    assert db["hashtags"].index_information()["ux_hashtags_hashtag"]["unique"] is True

    reddit = db["integrations"].find_one({"name": "reddit"})
    assert reddit is not None
    assert reddit["token_url"] == "https://www.reddit.com/api/v1/access_token"
    assert isinstance(reddit["updated_at"], datetime)
    assert [(r["file"], r["store"]) for r in ledger_rows(db)] == [(f, "content") for f in FILES]


def test_second_deploy_on_the_double_changes_nothing(db: MongomockWithCollMod) -> None:
    deploy_mongo(db, "content")
    indexes, ledger = index_names(db), ledger_rows(db)
    reddit = db["integrations"].find_one({"name": "reddit"})
    db.commands.clear()

    again = deploy_mongo(db, "content")

    assert [(r.file, r.changed) for r in again] == [(f, False) for f in FILES]
    assert index_names(db) == indexes
    assert ledger_rows(db) == ledger  # same rows, same applied_at: nothing recorded twice
    assert db["integrations"].find_one({"name": "reddit"}) == reddit  # not rewritten: updated_at did not move
    assert db.commands == []  # no collMod when the options already match


def test_document_missing_required_fields_is_rejected_before_insert_on_the_double(db: MongomockWithCollMod) -> None:
    deploy_mongo(db, "content")
    incomplete = image()
    del incomplete["description"], incomplete["approval"]
    with pytest.raises(DocumentRejected) as rejected:
        insert_validated(db["images"], [image(), incomplete, image(url="https://cdn.example.com/img-3.webp")])
    assert str(rejected.value) == (
        "images: document 1: description: required field is missing (and 1 more problem(s) in 1 invalid"
        " document(s)); nothing was inserted (3 documents)"
    )
    assert db["images"].count_documents({}) == 0  # all or nothing: the two valid documents were not written either
    ids = insert_validated(db["images"], [image(), image(url="https://cdn.example.com/img-2.webp")])
    assert len(ids) == 2 and db["images"].count_documents({}) == 2


def test_a_validator_changed_by_hand_is_put_back_and_reported_changed(db: MongomockWithCollMod) -> None:
    deploy_mongo(db, "content")
    db.command("collMod", "images", validator={"$jsonSchema": {"bsonType": "object"}}, validationAction="warn")

    result = apply_mongo_file(db, "content", COLLECTIONS_FILE)

    assert result.changed
    (info,) = db.list_collections(filter={"name": "images"})
    images = next(c for c in rendered(COLLECTIONS_FILE)["collections"] if c["name"] == "images")
    assert info["options"]["validator"] == images["validator"]
    assert info["options"]["validationAction"] == "error"
    assert len(ledger_rows(db)) == len(FILES)  # same content: the ledger already has it


def test_index_with_the_same_name_and_another_spec_is_an_error_naming_the_fix(db: MongomockWithCollMod) -> None:
    apply_mongo_file(db, "content", COLLECTIONS_FILE)
    db["images"].create_index([("hashtags", -1)], name="ix_images_hashtags")

    with pytest.raises(DeployError) as failed:
        apply_mongo_file(db, "content", INDEXES_FILE)

    message = str(failed.value)
    assert message.startswith(
        "content: sql/content/020_indexes.json: images: index 'ix_images_hashtags' exists with a different"
        " specification (database: key=[('hashtags', -1)], unique=False; rendered: key=[('hashtags', 1)], unique=False)"
    )
    assert message.endswith("drop it (db.images.dropIndex('ix_images_hashtags')) and deploy again")
    assert "\n" not in message
    # Planned before any write: no index of the file was created, and nothing was recorded.
    assert sorted(db["images"].index_information()) == ["_id_", "ix_images_hashtags"]
    assert sorted(db["hashtags"].index_information()) == ["_id_"]
    assert [r["file"] for r in ledger_rows(db)] == [COLLECTIONS_FILE]


def test_the_rendered_spec_under_another_name_is_an_error_too(db: MongomockWithCollMod) -> None:
    apply_mongo_file(db, "content", COLLECTIONS_FILE)
    db["images"].create_index([("campaign_ids", 1)], name="campaign_ids_1")
    with pytest.raises(DeployError, match=r"index 'campaign_ids_1' has the specification of 'ix_images_campaign_ids'"):
        apply_mongo_file(db, "content", INDEXES_FILE)


def test_indexes_before_collections_fail_naming_the_order(db: MongomockWithCollMod) -> None:
    with pytest.raises(DeployError, match=r"020_indexes.json: collection 'images' does not exist: apply the collect"):
        apply_mongo_file(db, "content", INDEXES_FILE)


def test_a_server_error_fails_naming_the_file(db: MongomockWithCollMod) -> None:
    """A unique index over duplicates: the database's reason, one line, the file named."""
    apply_mongo_file(db, "content", COLLECTIONS_FILE)
    db["images"].insert_many([image(), image()])  # written past the project's checks, as a hand-made copy would be
    with pytest.raises(DeployError, match=r"^content: sql/content/020_indexes.json: E11000"):
        apply_mongo_file(db, "content", INDEXES_FILE)


def test_a_reference_document_edited_by_hand_is_restored_with_a_new_change_marker(db: MongomockWithCollMod) -> None:
    deploy_mongo(db, "content")
    before = db["integrations"].find_one({"name": "reddit"})
    assert before is not None
    db["integrations"].update_one({"name": "reddit"}, {"$set": {"token_url": "https://example.com/token"}})

    result = apply_mongo_file(db, "content", DOCUMENTS_FILE)

    after = db["integrations"].find_one({"name": "reddit"})
    assert result.changed and after is not None
    assert after["token_url"] == "https://www.reddit.com/api/v1/access_token"
    assert after["_id"] == before["_id"]  # replaced in place, not duplicated
    assert after["updated_at"] >= before["updated_at"]
    assert db["integrations"].count_documents({}) == 1


def test_a_re_rendered_model_change_is_applied_with_collmod_and_recorded(
    db: MongomockWithCollMod, tmp_path: Path
) -> None:
    for name in ("model", "templates", "sql", "docs/model"):
        shutil.copytree(ROOT / name, tmp_path / name)
    deploy_mongo(db, "content", root=tmp_path)
    path = tmp_path / "model" / "content.yaml"
    raw = yaml.safe_load(path.read_text())
    hashtags = next(c for c in raw["collections"] if c["name"] == "hashtags")
    hashtags["fields"].append({"name": "synonyms", "type": "array", "items": {"type": "string"}})
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert render_main(["--root", str(tmp_path)]) == 0

    results = {r.file: r.changed for r in deploy_mongo(db, "content", root=tmp_path)}

    assert results == {COLLECTIONS_FILE: True, INDEXES_FILE: False, DOCUMENTS_FILE: False}
    assert db.commands == [("collMod", "hashtags")]  # only the collection whose validator changed
    (info,) = db.list_collections(filter={"name": "hashtags"})
    assert "synonyms" in info["options"]["validator"]["$jsonSchema"]["properties"]
    assert [r["file"] for r in ledger_rows(db)].count(COLLECTIONS_FILE) == 2  # both contents are on record


def test_a_file_that_is_not_a_rendered_deploy_file_is_refused(db: MongomockWithCollMod, tmp_path: Path) -> None:
    path = tmp_path / "sql" / "content" / "010_collections.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"_generated": "x"}\n')
    with pytest.raises(DeployError, match=r"^content: sql/content/010_collections.json: not a rendered MongoDB"):
        apply_mongo_file(db, "content", "sql/content/010_collections.json", tmp_path)


def test_a_server_text_index_compares_equal_to_its_rendered_spec() -> None:
    """listIndexes reports a text index as _fts/_ftsx plus weights; the comparison must see through that."""
    from_server = {
        "v": 2,
        "key": {"_fts": "text", "_ftsx": 1},
        "name": "tx_images_description",
        "weights": {"description": 1},
        "default_language": "english",
        "language_override": "language",
        "textIndexVersion": 3,
    }
    entry = next(c for c in rendered(INDEXES_FILE)["collections"] if c["name"] == "images")
    text = next(ix for ix in entry["indexes"] if ix["name"] == "tx_images_description")
    assert index_spec(from_server) == index_spec(text) == {"key": [("description", "text")], "unique": False}
    assert index_spec({**from_server, "weights": {"description": 5}}) != index_spec(text)


def test_ledger_timestamps_are_utc_at_millisecond_precision(db: MongomockWithCollMod) -> None:
    started = datetime.now(UTC).replace(tzinfo=None)
    deploy_mongo(db, "content")
    for row in ledger_rows(db):
        assert row["applied_at"].microsecond % 1000 == 0
        assert row["applied_at"] >= started.replace(microsecond=started.microsecond // 1000 * 1000)
        assert isinstance(row["duration_ms"], int) and len(row["sha256"]) == 64


def test_the_command_line_deploys_and_ends_with_a_one_line_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m generators.mongo_deploy` with PROMPTSALES_CONTENT_URL; the client is the mongomock double here."""
    import pymongo

    from generators import mongo_deploy

    double = MongomockWithCollMod()
    monkeypatch.setattr(pymongo, "MongoClient", lambda *args, **kwargs: mongomock_client(double))
    monkeypatch.setenv("PROMPTSALES_CONTENT_URL", "mongodb://deployer:secret@mongo.internal:27017/admin")

    assert mongo_deploy.main([]) == 0
    assert mongo_deploy.main([]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "content: deploying into promptcontent on mongodb://deployer:***@mongo.internal:27017/admin"
    assert "secret" not in "\n".join(out)
    assert re.fullmatch(r"content: 3 files deployed \(3 new/changed, 0 unchanged\) in \d+\.\d\d s", out[4])
    assert re.fullmatch(r"content: 3 files deployed \(0 new/changed, 3 unchanged\) in \d+\.\d\d s", out[-1])


def test_the_command_line_without_a_url_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from generators import mongo_deploy

    monkeypatch.delenv("PROMPTSALES_CONTENT_URL", raising=False)
    assert mongo_deploy.main([]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: PROMPTSALES_CONTENT_URL is not set; set it to mongodb://user:password@host:27017/admin and run again"
    )


def mongomock_client(double: MongomockWithCollMod) -> Any:
    """A stand-in for pymongo.MongoClient whose every database is the given double."""

    class Client:
        def __getitem__(self, name: str) -> MongomockWithCollMod:
            return double

        def close(self) -> None:
            pass

    return Client()
