"""Broken PromptContent (MongoDB) models fail `make render` with one path-precise line and leave sql/ untouched."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators.model import ModelError, load_any_model
from generators.model_content import ContentModel
from generators.render import main as render_main

from .test_model import tree_digest


@pytest.fixture
def workspace(tmp_path: Path, root: Path) -> Path:
    """A copy of model/, templates/ and the committed sql/ and docs/model/ to break things in."""
    for name in ("model", "templates", "sql", "docs/model"):
        shutil.copytree(root / name, tmp_path / name)
    return tmp_path


def collection(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in raw["collections"] if c["name"] == name)


def field(raw: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    fields = collection(raw, name)["fields"]
    spec: dict[str, Any] = {}
    for part in path.split("."):
        spec = next(f for f in fields if f["name"] == part)
        inner = spec.get("items", spec)
        fields = inner.get("fields", [])
    return spec


def edit_content(workspace: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = workspace / "model" / "content.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def unknown_index_field(raw: dict[str, Any]) -> None:
    collection(raw, "images")["indexes"][2]["keys"][0]["field"] = "hashtag"


def unknown_dotted_index_field(raw: dict[str, Any]) -> None:
    collection(raw, "images")["indexes"][5]["keys"][0]["field"] = "approval.stat"


def duplicate_field(raw: dict[str, Any]) -> None:
    collection(raw, "images")["fields"].append({"name": "url", "type": "string"})


def duplicate_nested_field(raw: dict[str, Any]) -> None:
    field(raw, "images", "licence")["fields"].append({"name": "holder", "type": "string"})


def bad_bson_type(raw: dict[str, Any]) -> None:
    collection(raw, "images")["fields"][0]["type"] = "strng"


def unindexed_change_marker(raw: dict[str, Any]) -> None:
    hashtags = collection(raw, "hashtags")
    hashtags["indexes"] = [ix for ix in hashtags["indexes"] if ix["name"] != "ix_hashtags_updated_at"]


def change_marker_not_a_date(raw: dict[str, Any]) -> None:
    field(raw, "hashtags", "updated_at")["type"] = "string"


def enum_value_of_another_type(raw: dict[str, Any]) -> None:
    field(raw, "images", "format")["enum"].append(5)


def pattern_on_an_int(raw: dict[str, Any]) -> None:
    field(raw, "images", "width")["pattern"] = "^[0-9]+$"


def array_without_items(raw: dict[str, Any]) -> None:
    del field(raw, "images", "audiences")["items"]


def unknown_reference(raw: dict[str, Any]) -> None:
    field(raw, "message_logs", "request_id")["references"] = "content_request._id"


def misspelled_key(raw: dict[str, Any]) -> None:
    collection(raw, "images")["fields"][0]["requird"] = True


def second_text_index(raw: dict[str, Any]) -> None:
    collection(raw, "images")["indexes"].append(
        {"name": "tx_images_alt_text", "keys": [{"field": "alt_text", "kind": "text"}], "purpose": "x"}
    )


def invalid_reference_document(raw: dict[str, Any]) -> None:
    collection(raw, "integrations")["documents"][0]["client_secret_env"] = "s3cr3t-value"


def reference_document_sets_the_marker(raw: dict[str, Any]) -> None:
    collection(raw, "integrations")["documents"][0]["updated_at"] = "2025-01-01T00:00:00Z"


def key_fields_without_unique_index(raw: dict[str, Any]) -> None:
    collection(raw, "integrations")["key_fields"] = ["provider"]


def ttl_on_a_string(raw: dict[str, Any]) -> None:
    collection(raw, "hashtags")["indexes"][0]["expire_after_seconds"] = 3600


CASES = {
    "unknown index field": (
        unknown_index_field,
        "model/content.yaml: collections.images.indexes[2].keys[0].field: unknown field 'hashtag' in collection images",
    ),
    "unknown dotted index field": (
        unknown_dotted_index_field,
        "model/content.yaml: collections.images.indexes[5].keys[0].field: unknown field 'approval.stat' in"
        " collection images",
    ),
    "duplicate field": (
        duplicate_field,
        "model/content.yaml: collections.images.fields[19].name: duplicate field 'url' in collection images",
    ),
    "duplicate nested field": (
        duplicate_nested_field,
        "model/content.yaml: collections.images.fields[16].fields[4].name: duplicate field 'holder' in object"
        " images.licence",
    ),
    "bad BSON type": (
        bad_bson_type,
        "model/content.yaml: collections.images.fields[0].type: unknown BSON type 'strng' (known: string, int, long,"
        " double, decimal, bool, date, objectId, object, array)",
    ),
    "unindexed change marker": (
        unindexed_change_marker,
        "model/content.yaml: collections.hashtags.change_marker: no index leads on 'updated_at': the delta ETL's"
        " `updated_at > watermark` query would scan collection hashtags; add an index whose first key is updated_at",
    ),
    "change marker that is not a date": (
        change_marker_not_a_date,
        "model/content.yaml: collections.hashtags.change_marker: the change marker 'updated_at' must be a required,"
        " non-nullable date field",
    ),
    "enum value of another type": (
        enum_value_of_another_type,
        "model/content.yaml: collections.images.fields[1].enum[8]: 5 is not a string value",
    ),
    "pattern on an int": (
        pattern_on_an_int,
        "model/content.yaml: collections.images.fields[2].pattern: pattern does not apply to int values",
    ),
    "array without items": (
        array_without_items,
        "model/content.yaml: collections.images.fields[12].items: an array needs items: (the shape of its elements)",
    ),
    "unknown reference": (
        unknown_reference,
        "model/content.yaml: collections.message_logs.fields[0].references: unknown reference 'content_request._id'",
    ),
    "misspelled key": (misspelled_key, "model/content.yaml: collections.images.fields[0].requird: unknown field"),
    "second text index": (
        second_text_index,
        "model/content.yaml: collections.images.indexes[6]: collection images has a second text index (MongoDB"
        " allows one per collection)",
    ),
    "invalid reference document": (
        invalid_reference_document,
        "model/content.yaml: collections.integrations.documents[0].client_secret_env: does not match pattern"
        " '^[A-Z][A-Z0-9_]{2,127}$' (got 's3cr3t-value')",
    ),
    "reference document sets the change marker": (
        reference_document_sets_the_marker,
        "model/content.yaml: collections.integrations.documents[0].updated_at: the deploy sets the change marker",
    ),
    "upsert key without a unique index": (
        key_fields_without_unique_index,
        "model/content.yaml: collections.integrations.key_fields: no unique index on exactly provider in collection"
        " integrations",
    ),
    "TTL index on a string field": (
        ttl_on_a_string,
        "model/content.yaml: collections.hashtags.indexes[0].expire_after_seconds: a TTL index needs a date field;"
        " 'hashtag' is not",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_content_model_fails_with_one_precise_line_and_writes_nothing(
    case: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, expected = CASES[case]
    edit_content(workspace, change)
    before = tree_digest(workspace / "sql"), tree_digest(workspace / "docs" / "model")

    assert render_main(["--root", str(workspace)]) == 1

    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {expected}"), lines[0]
    assert (tree_digest(workspace / "sql"), tree_digest(workspace / "docs" / "model")) == before
    assert not list(workspace.glob(".sql*")), "no temporary render directory may be left behind"


def test_the_committed_content_model_is_valid(root: Path) -> None:
    model = load_any_model(root / "model" / "content.yaml", root=root)
    assert isinstance(model, ContentModel)
    assert [c.name for c in model.collections] == [
        "images",
        "hashtags",
        "content_requests",
        "message_logs",
        "integrations",
    ]
    for c in model.collections:
        # Every collection the ETL reads has its change marker, indexed as the leading key.
        assert c.change_marker == "updated_at"
        assert any(ix.keys[0].field == "updated_at" for ix in c.indexes), c.name


def test_a_non_mongodb_dialect_is_refused(workspace: Path) -> None:
    edit_content(workspace, lambda raw: raw.update(dialect="mongo"))
    with pytest.raises(ModelError, match=r"^model/content.yaml: dialect: "):
        load_any_model(workspace / "model" / "content.yaml", root=workspace)
