"""PromptContent on a real MongoDB server: deploy, re-deploy without change, and the server's own validator rejections.

Runs only when PROMPTSALES_CONTENT_URL points at a MongoDB server the tests may write to; skipped otherwise, and
`pytest -ra` (the project's default) prints why. Each run deploys into a throw-away database
`promptcontent_test_<random>` on that server and drops it afterwards. The same scenarios run everywhere on mongomock,
a test double, in tests/generators/test_mongo_deploy.py; here it is the *server* that must refuse an invalid
document (WriteError, code 121 DocumentValidationFailure).
"""

from __future__ import annotations

import copy
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from generators.content_validation import DocumentRejected, insert_validated, validate_document
from generators.deploy import DeployError, FileResult
from generators.mongo_deploy import LEDGER, apply_mongo_file, deploy_mongo, index_spec
from tests.generators.test_content_validation import CASES, image, message_log
from tests.generators.test_mongo_deploy import COLLECTIONS_FILE, FILES, INDEXES_FILE, rendered

CONTENT_ENV_VAR = "PROMPTSALES_CONTENT_URL"
SKIP_REASON = (
    f"{CONTENT_ENV_VAR} is not set: no MongoDB server to test against (the deploy and validation logic runs on"
    " mongomock, a test double, in tests/generators/test_mongo_deploy.py); set it to"
    " mongodb://user:password@host:27017/admin"
)
DOCUMENT_VALIDATION_FAILURE = 121

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
def fresh_db(client: Any) -> Iterator[Any]:
    """An empty throw-away database on the real server, dropped afterwards."""
    name = f"promptcontent_test_{uuid.uuid4().hex[:12]}"
    yield client[name]
    client.drop_database(name)


def snapshot(db: Any) -> dict[str, Any]:
    """Everything a deploy can change: collection options, index definitions, ledger rows, reference documents."""
    names = sorted(db.list_collection_names())
    return {
        "options": {c["name"]: c.get("options", {}) for c in db.list_collections()},
        "indexes": {n: sorted((dict(ix) for ix in db[n].list_indexes()), key=lambda ix: ix["name"]) for n in names},
        "ledger": sorted((r["file"], r["sha256"], r["applied_at"]) for r in db[LEDGER].find()),
        "integrations": list(db["integrations"].find({}, sort=[("name", 1)])),
    }


@dataclass(frozen=True)
class Deployment:
    db: Any
    first: list[FileResult]
    second: list[FileResult]
    after_first: dict[str, Any]
    after_second: dict[str, Any]


@pytest.fixture(scope="module")
def deployment(client: Any) -> Iterator[Deployment]:
    """Deploy twice into one throw-away database; the module's tests read what each deploy did."""
    name = f"promptcontent_test_{uuid.uuid4().hex[:12]}"
    db = client[name]
    try:
        first = deploy_mongo(db, "content")
        after_first = snapshot(db)
        second = deploy_mongo(db, "content")
        yield Deployment(db, first, second, after_first, snapshot(db))
    finally:
        client.drop_database(name)


def test_first_deploy_creates_validated_collections_and_indexes_on_mongodb(deployment: Deployment) -> None:
    assert [(r.file, r.changed) for r in deployment.first] == [(f, True) for f in FILES]
    options = deployment.after_first["options"]
    for entry in rendered(COLLECTIONS_FILE)["collections"]:
        assert options[entry["name"]]["validator"] == entry["validator"], entry["name"]
        assert options[entry["name"]]["validationLevel"] == "strict"
        assert options[entry["name"]]["validationAction"] == "error"
    for entry in rendered(INDEXES_FILE)["collections"]:
        on_server = {ix["name"]: ix for ix in deployment.after_first["indexes"][entry["name"]]}
        assert set(on_server) == {"_id_", *(ix["name"] for ix in entry["indexes"])}
        for ix in entry["indexes"]:
            assert index_spec(on_server[ix["name"]]) == index_spec(ix), ix["name"]
    (reddit,) = deployment.after_first["integrations"]
    assert reddit["name"] == "reddit" and reddit["token_url"] == "https://www.reddit.com/api/v1/access_token"


def test_second_deploy_changes_nothing_on_mongodb(deployment: Deployment) -> None:
    assert [(r.file, r.changed) for r in deployment.second] == [(f, False) for f in FILES]
    for part in ("options", "indexes", "ledger", "integrations"):
        assert deployment.after_second[part] == deployment.after_first[part], part


def test_the_server_rejects_a_document_missing_required_fields(deployment: Deployment) -> None:
    from pymongo.errors import WriteError

    incomplete = image(url=f"https://cdn.example.com/{uuid.uuid4().hex}.webp")
    del incomplete["description"]
    assert validate_document("images", incomplete) == ["description: required field is missing"]
    with pytest.raises(WriteError) as refused:
        deployment.db["images"].insert_one(incomplete)
    assert refused.value.code == DOCUMENT_VALIDATION_FAILURE
    with pytest.raises(DocumentRejected):
        insert_validated(deployment.db["images"], [incomplete])


UNENCODABLE = "a calendar date cannot be stored"
"""pymongo refuses that document itself (bson.errors.InvalidDocument), so it never reaches the server's validator."""


@pytest.mark.parametrize("case", sorted(set(CASES) - {UNENCODABLE}))
def test_the_server_and_the_pre_insert_check_agree_on_every_broken_rule(deployment: Deployment, case: str) -> None:
    """Each document the project's check rejects is rejected by the server's validator too (code 121)."""
    from pymongo.errors import WriteError

    collection, document, _ = CASES[case]
    document = copy.deepcopy(document)
    assert validate_document(collection, document) != []
    with pytest.raises(WriteError) as refused:
        deployment.db[collection].insert_one(document)
    assert refused.value.code == DOCUMENT_VALIDATION_FAILURE, case


def test_the_server_accepts_what_the_pre_insert_check_accepts(deployment: Deployment) -> None:
    batch = [image(url=f"https://cdn.example.com/{uuid.uuid4().hex}.webp") for _ in range(3)]
    assert len(insert_validated(deployment.db["images"], batch)) == 3
    assert len(insert_validated(deployment.db["message_logs"], [message_log(target_population=uuid.uuid4().hex)])) == 1


def test_a_calendar_date_is_refused_by_pymongo_before_the_server(deployment: Deployment) -> None:
    from bson.errors import InvalidDocument

    collection, document, _ = CASES[UNENCODABLE]
    with pytest.raises(InvalidDocument):
        deployment.db[collection].insert_one(copy.deepcopy(document))


def test_an_index_with_the_same_name_and_another_spec_fails_on_mongodb(fresh_db: Any) -> None:
    apply_mongo_file(fresh_db, "content", COLLECTIONS_FILE)
    fresh_db["images"].create_index([("hashtags", -1)], name="ix_images_hashtags")
    with pytest.raises(DeployError, match=r"index 'ix_images_hashtags' exists with a different specification"):
        apply_mongo_file(fresh_db, "content", INDEXES_FILE)


def test_a_validator_changed_by_hand_is_put_back_on_mongodb(fresh_db: Any) -> None:
    apply_mongo_file(fresh_db, "content", COLLECTIONS_FILE)
    fresh_db.command("collMod", "hashtags", validator={"$jsonSchema": {"bsonType": "object"}})
    assert apply_mongo_file(fresh_db, "content", COLLECTIONS_FILE).changed
    (info,) = fresh_db.list_collections(filter={"name": "hashtags"})
    wanted = next(c for c in rendered(COLLECTIONS_FILE)["collections"] if c["name"] == "hashtags")
    assert info["options"]["validator"] == wanted["validator"]
