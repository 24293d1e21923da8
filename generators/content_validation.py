"""Check documents against PromptContent's `$jsonSchema` validators before writing them; insert all or none.

The server validates every write against the validator `make render` put in `sql/content/010_collections.json`
(validationLevel strict, validationAction error). The project's writers apply the *same* validator here first, so a
bad batch fails as one clear line naming the document and the path inside it (`hashtags[2]: does not match pattern
...`) before anything is sent, instead of as a server error halfway through an insert:

    from generators.content_validation import insert_validated
    insert_validated(db["images"], documents)          # validator looked up by the collection's name

This implements the subset of `$jsonSchema` the renderer emits (bsonType, including arrays of types for nullable
values, required, properties, additionalProperties, enum, pattern, minimum/maximum, minLength/maxLength,
minItems/maxItems, uniqueItems, items); any other keyword is refused, never silently ignored.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bson.binary import Binary
from bson.datetime_ms import DatetimeMS
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_FILE = "sql/content/010_collections.json"

SUPPORTED_KEYWORDS = frozenset(
    {
        "bsonType",
        "required",
        "properties",
        "additionalProperties",
        "enum",
        "pattern",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "items",
        "title",
        "description",
    }
)
"""The `$jsonSchema` keywords this module implements: exactly the ones generators.render_content emits."""

_INT32 = range(-(2**31), 2**31)
_INT64 = range(-(2**63), 2**63)
_NUMBER = frozenset({"int", "long", "double", "decimal"})
_SHOWN_VALUE = 60


class UnsupportedSchema(ValueError):
    """The validator uses a keyword this module does not implement (it would otherwise be ignored silently)."""


class DocumentRejected(ValueError):
    """At least one document of a batch is invalid; nothing was inserted. `problems` holds (index, errors)."""

    def __init__(self, message: str, problems: list[tuple[int, list[str]]]) -> None:
        super().__init__(message)
        self.problems = problems


def bson_type_of(value: Any) -> str | None:
    """The BSON type pymongo encodes `value` as (None when it cannot encode it at all).

    This is what the server's `bsonType` check sees: a Python int within 32 bits is sent as `int`, a larger one
    as `long` (so a long field needs bson.int64.Int64 for small values), a float as `double`.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int" if value in _INT32 else "long" if value in _INT64 else None
    if isinstance(value, float):
        return "double"
    if isinstance(value, Decimal128):
        return "decimal"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime | DatetimeMS):
        return "date"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, bytes | Binary):
        return "binData"
    if isinstance(value, re.Pattern | Regex):
        return "regex"
    if isinstance(value, Timestamp):
        return "timestamp"
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 3] + "..."


def _number(value: Any) -> Decimal | float | int:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return value  # type: ignore[no-any-return]


def _bson_equal(a: Any, b: Any) -> bool:
    """Equality as MongoDB compares values: numbers across numeric types, never a bool with a number."""
    ta, tb = bson_type_of(a), bson_type_of(b)
    if ta in _NUMBER and tb in _NUMBER:
        return bool(_number(a) == _number(b))
    if ta != tb:
        return False
    if ta == "object":
        return list(a.keys()) == list(b.keys()) and all(_bson_equal(a[k], b[k]) for k in a)
    if ta == "array":
        return len(a) == len(b) and all(_bson_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check(schema: Mapping[str, Any], value: Any, path: str, out: list[tuple[str, str]]) -> None:
    unknown = sorted(set(schema) - SUPPORTED_KEYWORDS)
    if unknown:
        raise UnsupportedSchema(f"{path or '(document)'}: $jsonSchema keyword(s) not implemented here: {unknown}")
    actual = bson_type_of(value)
    if "bsonType" in schema:
        expected = schema["bsonType"]
        allowed = [expected] if isinstance(expected, str) else list(expected)
        fits = actual in allowed or ("number" in allowed and actual in _NUMBER)
        if not fits:
            got = actual or f"not storable in MongoDB (Python {type(value).__name__})"
            out.append((path, f"is {got}, expected {' or '.join(allowed)}"))
            return  # the server stops at the type too; the other keywords would only repeat the problem
    if "enum" in schema and not any(_bson_equal(value, option) for option in schema["enum"]):
        out.append((path, f"{_shown(value)} is not one of {schema['enum']}"))
    if actual == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append((path, f"does not match pattern {schema['pattern']!r} (got {_shown(value)})"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append((path, f"is {len(value)} characters long, shorter than minLength {schema['minLength']}"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append((path, f"is {len(value)} characters long, longer than maxLength {schema['maxLength']}"))
    if actual in _NUMBER:
        number = _number(value)
        if "minimum" in schema and number < schema["minimum"]:
            out.append((path, f"{_shown(value)} is below minimum {schema['minimum']}"))
        if "maximum" in schema and number > schema["maximum"]:
            out.append((path, f"{_shown(value)} is above maximum {schema['maximum']}"))
    if actual == "array":
        _check_array(schema, value, path, out)
    if actual == "object":
        _check_object(schema, value, path, out)


def _check_array(schema: Mapping[str, Any], value: Sequence[Any], path: str, out: list[tuple[str, str]]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        out.append((path, f"has {len(value)} items, fewer than minItems {schema['minItems']}"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        out.append((path, f"has {len(value)} items, more than maxItems {schema['maxItems']}"))
    if schema.get("uniqueItems"):
        for i, item in enumerate(value):
            if any(_bson_equal(item, earlier) for earlier in value[:i]):
                out.append((f"{path}[{i}]", f"repeats an earlier item ({_shown(item)}); items must be unique"))
    items = schema.get("items")
    if isinstance(items, Mapping):
        for i, item in enumerate(value):
            _check(items, item, f"{path}[{i}]", out)
    elif isinstance(items, list):
        for i, (item, item_schema) in enumerate(zip(value, items, strict=False)):
            _check(item_schema, item, f"{path}[{i}]", out)


def _check_object(schema: Mapping[str, Any], value: Mapping[str, Any], path: str, out: list[tuple[str, str]]) -> None:
    for key in schema.get("required", []):
        if key not in value:
            out.append((_join(path, key), "required field is missing"))
    properties: Mapping[str, Any] = schema.get("properties", {})
    additional = schema.get("additionalProperties", True)
    for key, item in value.items():
        where = _join(path, str(key))
        if key in properties:
            _check(properties[key], item, where, out)
        elif additional is False:
            out.append((where, "is not a declared field (additionalProperties is false)"))
        elif isinstance(additional, Mapping):
            _check(additional, item, where, out)


@functools.lru_cache(maxsize=8)
def _rendered_validators(path: Path, mtime_ns: int) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {c["name"]: c["validator"] for c in data["collections"]}


def load_validators(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """The rendered validator of every collection, by name, from sql/content/010_collections.json under `root`."""
    path = root / COLLECTIONS_FILE
    try:
        return _rendered_validators(path, path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise FileNotFoundError(f"{COLLECTIONS_FILE} not found under {root}: run make render") from None


def _schema_of(collection_name_or_validator: str | Mapping[str, Any], root: Path) -> Mapping[str, Any]:
    if isinstance(collection_name_or_validator, str):
        validators = load_validators(root)
        name = collection_name_or_validator
        if name not in validators:
            raise KeyError(f"unknown collection {name!r} (rendered: {', '.join(sorted(validators))})")
        validator: Mapping[str, Any] = validators[name]
    else:
        validator = collection_name_or_validator
    schema = validator.get("$jsonSchema", validator)
    if not isinstance(schema, Mapping):
        raise UnsupportedSchema("the validator's $jsonSchema is not an object")
    return schema


def document_problems(
    collection_name_or_validator: str | Mapping[str, Any], document: Any, *, root: Path = ROOT
) -> list[tuple[str, str]]:
    """(path inside the document, problem) for every rule the document breaks; empty when it is valid.

    The first argument is a collection name (its rendered validator is used), a validator (`{"$jsonSchema": ...}`)
    or a bare `$jsonSchema`.
    """
    out: list[tuple[str, str]] = []
    _check(_schema_of(collection_name_or_validator, root), document, "", out)
    return out


def validate_document(
    collection_name_or_validator: str | Mapping[str, Any], document: Any, *, root: Path = ROOT
) -> list[str]:
    """Every rule the document breaks, as `path: problem` lines (`hashtags[2]: does not match pattern ...`)."""
    return [
        f"{path or '(document)'}: {problem}"
        for path, problem in document_problems(collection_name_or_validator, document, root=root)
    ]


def insert_validated(
    collection: Any,
    documents: Iterable[Mapping[str, Any]],
    validator: str | Mapping[str, Any] | None = None,
    *,
    session: Any = None,
    root: Path = ROOT,
) -> list[Any]:
    """Validate every document, then insert them all; when any is invalid, insert none and raise DocumentRejected.

    `collection` is a pymongo Collection; `validator` defaults to the rendered validator of its name. The error is
    one line naming the first invalid document by its index and the path of its first problem. Validation is all or
    nothing; the insert itself is ordered, so a server-side failure (a duplicate key) stops at that document, and
    passing a `session` inside a transaction makes the write all or nothing too.
    """
    batch = list(documents)
    source = validator if validator is not None else collection.name
    problems = [(i, errors) for i, doc in enumerate(batch) if (errors := validate_document(source, doc, root=root))]
    if problems:
        index, errors = problems[0]
        others = sum(len(e) for _, e in problems) - 1
        more = f" (and {others} more problem(s) in {len(problems)} invalid document(s))" if others else ""
        raise DocumentRejected(
            f"{collection.name}: document {index}: {errors[0]}{more}; nothing was inserted ({len(batch)} documents)",
            problems,
        )
    if not batch:
        return []
    return list(collection.insert_many(batch, ordered=True, session=session).inserted_ids)
