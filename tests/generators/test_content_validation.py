"""The validator logic applied before insert: hand-written documents, reference documents, all-or-nothing inserts."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import mongomock
import pytest
from bson.int64 import Int64
from bson.objectid import ObjectId

from generators.content_validation import (
    DocumentRejected,
    UnsupportedSchema,
    bson_type_of,
    insert_validated,
    load_validators,
    validate_document,
)
from generators.model import load_any_model
from generators.model_content import ContentModel, from_extended_json

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2025, 12, 1, 9, 30, tzinfo=UTC)
DESCRIPTION = (
    "A runner in a red jacket on a coastal path at dawn, the sea calm behind her, promoting the Ridge trail shoe."
)


def image(**changes: Any) -> dict[str, Any]:
    """A valid images document, as the content loader writes one; keyword arguments replace top-level fields."""
    doc: dict[str, Any] = {
        "url": "https://cdn.example.com/content/img-0001.webp",
        "format": "webp",
        "width": 1080,
        "height": 1080,
        "bytes": 182_344,
        "alt_text": "A runner at dawn on a coastal path",
        "description": DESCRIPTION,
        "description_sha256": hashlib.sha256(DESCRIPTION.encode()).hexdigest(),
        "hashtags": ["#trail_running", "#dawn", "#coastal"],
        "campaign_ids": [1042],
        "brand": "Northwind Outdoor",
        "product": "Ridge trail shoe",
        "audiences": ["weekend runners"],
        "channels": ["instagram"],
        "versions": [
            {
                "version": 1,
                "url": "https://cdn.example.com/content/img-0001.webp",
                "created_at": WHEN,
                "note": "first",
            }
        ],
        "approval": {"state": "pending", "approver": None, "approved_at": None},
        "licence": {
            "kind": "owned",
            "holder": "Northwind Outdoor",
            "expires_on": None,
            "territories": ["US", "CA"],
        },
        "created_at": WHEN,
        "updated_at": WHEN,
    }
    doc.update(changes)
    return doc


def message_log(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "request_id": ObjectId("65f000000000000000000001"),
        "campaign_id": 1042,
        "target_population": "weekend runners",
        "messages": [{"position": i, "text": f"Message {i} for weekend runners."} for i in (1, 2, 3)],
        "generator": "deterministic",
        "prompt": "Write three short messages for weekend runners about the Ridge trail shoe.",
        "created_at": WHEN,
        "updated_at": WHEN,
    }
    doc.update(changes)
    return doc


def test_a_valid_document_has_no_problems() -> None:
    assert validate_document("images", image()) == []
    assert validate_document("images", image(_id=ObjectId())) == []
    assert validate_document("message_logs", message_log()) == []


def without(doc: dict[str, Any], *path: str) -> dict[str, Any]:
    target = doc
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return doc


def nested(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return doc


CASES: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "hashtag not matching the pattern": (
        "images",
        image(hashtags=["#trail_running", "#dawn", "Coastal"]),
        ["hashtags[2]: does not match pattern '^#[a-z0-9_]{1,100}$' (got 'Coastal')"],
    ),
    "missing required field": ("images", without(image(), "url"), ["url: required field is missing"]),
    "missing nested required field": (
        "images",
        without(image(), "approval", "state"),
        ["approval.state: required field is missing"],
    ),
    "a float for an int field": ("images", image(bytes=182_344.0), ["bytes: is double, expected int"]),
    "null where the field is not nullable": (
        "images",
        image(brand=None),
        ["brand: is null, expected string"],
    ),
    "value outside the enum": (
        "images",
        image(format="tiff"),
        ["format: 'tiff' is not one of ['jpeg', 'png', 'webp', 'gif', 'avif', 'svg', 'mp4', 'webm']"],
    ),
    "a value outside a nested enum": (
        "images",
        nested(image(), ("approval", "state"), "done"),
        ["approval.state: 'done' is not one of ['draft', 'pending', 'approved', 'rejected']"],
    ),
    "undeclared top-level field": (
        "images",
        image(colour="red"),
        ["colour: is not a declared field (additionalProperties is false)"],
    ),
    "undeclared nested field": (
        "images",
        nested(image(), ("licence", "price"), 3),
        ["licence.price: is not a declared field (additionalProperties is false)"],
    ),
    "number below the minimum": (
        "images",
        image(width=0),
        ["width: 0 is below minimum 1"],
    ),
    "a bool is not an int": (
        "images",
        image(height=True),
        ["height: is bool, expected int"],
    ),
    "repeated hashtag": (
        "images",
        image(hashtags=["#dawn", "#dawn"]),
        ["hashtags[1]: repeats an earlier item ('#dawn'); items must be unique"],
    ),
    "empty string below minLength": (
        "images",
        image(alt_text=""),
        ["alt_text: is 0 characters long, shorter than minLength 1"],
    ),
    "a calendar date cannot be stored": (
        "images",
        image(created_at=date(2025, 12, 1)),
        ["created_at: is not storable in MongoDB (Python date), expected date"],
    ),
    "an element of an array of objects": (
        "images",
        nested(image(), ("versions", 0, "url"), "http://insecure.example.com/a.webp"),
        ["versions[0].url: does not match pattern '^https://[^\\\\s]+$' (got 'http://insecure.example.com/a.webp')"],
    ),
    "a string _id": ("images", image(_id="img-1"), ["_id: is string, expected objectId"]),
    "two messages instead of three": (
        "message_logs",
        message_log(messages=[{"position": 1, "text": "a"}, {"position": 2, "text": "b"}]),
        ["messages: has 2 items, fewer than minItems 3"],
    ),
    "four messages instead of three": (
        "message_logs",
        message_log(messages=[{"position": 1 + i % 3, "text": "x"} for i in range(4)]),
        ["messages: has 4 items, more than maxItems 3"],
    ),
    "several problems are all reported": (
        "message_logs",
        message_log(generator="", campaign_id=0, request_id="65f0"),
        [
            "request_id: is string, expected objectId",
            "campaign_id: 0 is below minimum 1",
            "generator: is 0 characters long, shorter than minLength 1",
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_broken_rule_is_reported_with_its_document_path(case: str) -> None:
    collection, document, expected = CASES[case]
    assert validate_document(collection, document) == expected


def reference_documents() -> list[tuple[str, dict[str, Any]]]:
    data = json.loads((ROOT / "sql" / "content" / "030_reference_documents.json").read_text(encoding="utf-8"))
    return [(c["name"], from_extended_json(d)) for c in data["collections"] for d in c["documents"]]


def test_every_rendered_reference_document_is_valid_once_the_deploy_stamps_its_change_marker() -> None:
    documents = reference_documents()
    assert [name for name, _ in documents] == ["integrations"]
    for name, document in documents:
        assert "updated_at" not in document  # stamped by the deploy, not rendered
        assert validate_document(name, document) == ["updated_at: required field is missing"]
        assert validate_document(name, {**document, "updated_at": WHEN}) == []


def test_an_integration_refuses_a_secret_value_where_an_env_var_name_belongs() -> None:
    """The secret fields hold environment-variable names; a value such as a real secret does not match."""
    ((_, reddit),) = reference_documents()
    leaked = {**reddit, "updated_at": WHEN, "client_secret_env": "s3cr3t-value"}
    assert validate_document("integrations", leaked) == [
        "client_secret_env: does not match pattern '^[A-Z][A-Z0-9_]{2,127}$' (got 's3cr3t-value')"
    ]


def test_the_rendered_validators_are_the_models() -> None:
    """validate_document("images", ...) reads the committed render; it must be what the model builds."""
    model = load_any_model(ROOT / "model" / "content.yaml", root=ROOT)
    assert isinstance(model, ContentModel)
    assert load_validators() == {c.name: json.loads(json.dumps(c.validator())) for c in model.collections}


def test_insert_validated_inserts_all_or_none_on_mongomock_a_test_double() -> None:
    collection = mongomock.MongoClient()["promptcontent_test"]["images"]
    batch = [image(url=f"https://cdn.example.com/img-{i}.webp") for i in range(5)]
    batch[3]["hashtags"] = ["#ok", "Not A Hashtag"]
    with pytest.raises(DocumentRejected) as rejected:
        insert_validated(collection, batch)
    assert str(rejected.value) == (
        "images: document 3: hashtags[1]: does not match pattern '^#[a-z0-9_]{1,100}$' (got 'Not A Hashtag');"
        " nothing was inserted (5 documents)"
    )
    assert rejected.value.problems == [
        (3, ["hashtags[1]: does not match pattern '^#[a-z0-9_]{1,100}$' (got 'Not A Hashtag')"])
    ]
    assert collection.count_documents({}) == 0
    batch[3]["hashtags"] = ["#ok"]
    assert len(insert_validated(collection, batch)) == 5
    assert collection.count_documents({}) == 5
    assert insert_validated(collection, []) == []


def test_a_small_int_for_a_long_field_is_refused_as_pymongo_sends_it_as_int32() -> None:
    validator = {"$jsonSchema": {"bsonType": "object", "properties": {"n": {"bsonType": "long"}}}}
    assert validate_document(validator, {"n": 5}) == ["n: is int, expected long"]
    assert validate_document(validator, {"n": Int64(5)}) == []
    assert validate_document(validator, {"n": 2**40}) == []


def test_an_explicit_validator_overrides_the_collection_name() -> None:
    collection = mongomock.MongoClient()["promptcontent_test"]["scratch"]
    validator = {"$jsonSchema": {"bsonType": "object", "required": ["n"], "properties": {"n": {"bsonType": "int"}}}}
    with pytest.raises(DocumentRejected, match=r"^scratch: document 0: n: required field is missing;"):
        insert_validated(collection, [{}], validator)
    assert insert_validated(collection, [{"n": 1}], validator) != []


def test_a_keyword_the_check_does_not_implement_is_refused_not_ignored() -> None:
    with pytest.raises(UnsupportedSchema, match=r"not implemented here: \['format'\]"):
        validate_document({"$jsonSchema": {"bsonType": "string", "format": "email"}}, "a@example.com")


def test_an_unknown_collection_names_the_rendered_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown collection 'imagez' \(rendered: content_requests, hashtags, images"):
        validate_document("imagez", {})


@pytest.mark.parametrize(
    ("value", "bson_type"),
    [
        (None, "null"),
        (True, "bool"),
        (7, "int"),
        (2**31, "long"),
        (Int64(7), "long"),
        (1.5, "double"),
        ("x", "string"),
        (WHEN, "date"),
        (ObjectId(), "objectId"),
        ({}, "object"),
        ([], "array"),
        (date(2025, 1, 1), None),
        (2**64, None),
    ],
)
def test_python_values_map_to_the_bson_types_pymongo_sends(value: Any, bson_type: str | None) -> None:
    assert bson_type_of(value) == bson_type
