"""The PromptContent (MongoDB) model: collections, their fields and indexes, validated before any template runs.

A `dialect: mongodb` model file declares collections. Each collection lists its fields (BSON types, required,
nullable, enum, pattern, bounds, array items, nested object fields), its indexes, the change marker the delta
ETL watermarks on, and optional reference documents deployed with the schema. The same declarations become the
server-side `$jsonSchema` validator (`Collection.validator`) and the rules `generators.content_validation`
applies before insert, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Annotated, Any, Literal

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from pydantic import AfterValidator, ConfigDict, Field, field_validator

from generators.model import IDENT, ModelError, Strict, validate_model

BSON_TYPES = ("string", "int", "long", "double", "decimal", "bool", "date", "objectId", "object", "array")
"""The BSON types a field may declare (MongoDB `bsonType` aliases)."""

NUMERIC_TYPES = frozenset({"int", "long", "double", "decimal"})
ENUM_TYPES = frozenset({"string", "int", "long", "double", "decimal", "bool"})
FIELD_NAME = r"^(?:_id|[a-z][a-z0-9_]{0,63})$"
DATABASE_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"
EXTERNAL_REFERENCE = re.compile(
    r"^(?P<store>[a-z][a-z0-9_]*):(?P<table>[A-Za-z_]\w*\.[A-Za-z_]\w*)\.(?P<column>[A-Za-z_]\w*)$"
)
"""`ads:ads.campaigns.campaign_id`: a value that points at a row of another store (checked for form only)."""

VALIDATION_LEVEL = "strict"
"""Every insert and every update is validated, including updates of documents that were valid before."""
VALIDATION_ACTION = "error"
"""An invalid write is refused (code 121, DocumentValidationFailure), never merely logged."""

_CHANGE_MARKER_PLACEHOLDER = datetime(2000, 1, 1, tzinfo=UTC)
"""Stands in for the change marker the deploy stamps, so a reference document can be validated at load time."""


def _number(value: Any) -> Any:
    # bool is an int in Python; `minimum: true` is a typo, not a bound.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"expected a number, not {value!r}")
    return value


Number = Annotated[Any, AfterValidator(_number)]


# --------------------------------------------------------------------------- schema


class ValueSpec(Strict):
    """The shape of one value: what a field holds, or what each element of an array holds."""

    type: str = Field(description="a BSON type: " + ", ".join(BSON_TYPES))
    nullable: bool = False
    description: str = ""
    enum: list[Any] | None = None
    pattern: str | None = Field(default=None, description="a regular expression strings must match (searched)")
    minimum: Number = None
    maximum: Number = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    min_items: int | None = Field(default=None, ge=0)
    max_items: int | None = Field(default=None, ge=0)
    unique_items: bool = False
    items: ValueSpec | None = Field(default=None, description="arrays: the shape of every element")
    fields: list[FieldSpec] = Field(default=[], description="objects: the nested fields")
    additional_properties: bool = Field(default=False, description="objects: allow fields not declared here")
    references: str | None = Field(
        default=None, description="`collection.field` in this store, or `store:schema.table.column` in another"
    )

    @field_validator("type")
    @classmethod
    def _bson_type(cls, v: str) -> str:
        if v not in BSON_TYPES:
            raise ValueError(f"unknown BSON type {v!r} (known: {', '.join(BSON_TYPES)})")
        return v

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


class FieldSpec(ValueSpec):
    """A named field of a document or of a nested object."""

    name: str
    required: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(FIELD_NAME, v):
            raise ValueError(f"invalid field name {v!r} (lower_snake_case, or _id)")
        return v


class IndexKey(Strict):
    """One key of an index: a field (a dotted path reaches into objects and arrays), ascending, descending or text."""

    field: str
    order: Literal[1, -1] | None = None
    kind: Literal["text"] | None = None

    @property
    def direction(self) -> int | str:
        """The value MongoDB's index key takes: 1, -1 or "text"."""
        return "text" if self.kind else (self.order or 1)


class ContentIndex(Strict):
    """An index of a collection, named, with the query it serves."""

    name: str
    keys: list[IndexKey] = Field(min_length=1)
    unique: bool = False
    partial_filter: dict[str, Any] | None = Field(default=None, description="MongoDB partialFilterExpression")
    expire_after_seconds: int | None = Field(default=None, ge=0, description="a TTL index on a date field")
    purpose: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(IDENT, v):
            raise ValueError(f"invalid index name {v!r}")
        return v


class Collection(Strict):
    """A collection: its fields (the validator), indexes, change marker and reference documents."""

    name: str
    description: str
    fields: list[FieldSpec] = Field(min_length=1)
    additional_properties: bool = False
    indexes: list[ContentIndex] = Field(default=[])
    change_marker: str | None = Field(default=None, description="the date field the delta ETL watermarks on")
    key_fields: list[str] = Field(default=[], description="the natural key reference documents are upserted by")
    documents: list[dict[str, Any]] = Field(default=[], description="reference documents deployed with the schema")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(IDENT, v):
            raise ValueError(f"invalid collection name {v!r} (lower_snake_case)")
        return v

    @field_validator("indexes", "documents", "key_fields", mode="before")
    @classmethod
    def _empty_list(cls, value: Any) -> Any:
        """A list key holding only comments reads as null in YAML: treat it as empty."""
        return [] if value is None else value

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def resolve(self, path: str) -> ValueSpec | None:
        """The spec a dotted path reaches (through objects and into array elements); None when it reaches nothing."""
        return resolve_path(self.fields, path)

    def validator(self) -> dict[str, Any]:
        """The server-side validator: `{"$jsonSchema": ...}` built from the fields."""
        return {"$jsonSchema": object_schema(self.fields, self.additional_properties, self.name, self.description)}


class ContentModel(Strict):
    """A MongoDB store: its database and collections."""

    schema_version: int
    store: str = Field(pattern=IDENT)
    dialect: Literal["mongodb"]
    database: str = Field(pattern=DATABASE_NAME)
    description: str
    collections: list[Collection] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    @cached_property
    def collection_map(self) -> dict[str, Collection]:
        return {c.name: c for c in self.collections}

    def references(self) -> list[tuple[str, str, str]]:
        """Every (collection, field path, target) a field declares, in model order."""
        out: list[tuple[str, str, str]] = []
        for c in self.collections:
            for path, spec in walk_fields(c.fields):
                if spec.references:
                    out.append((c.name, path, spec.references))
        return out


ValueSpec.model_rebuild()
FieldSpec.model_rebuild()


# --------------------------------------------------------------------------- paths


def resolve_path(fields: list[FieldSpec], path: str) -> ValueSpec | None:
    """Follow `versions.url` through nested objects; an array is crossed into its elements (multikey)."""
    if path == "_id" and not any(f.name == "_id" for f in fields):
        return ValueSpec(type="objectId")
    current: list[FieldSpec] = fields
    spec: ValueSpec | None = None
    for part in path.split("."):
        spec = next((f for f in current if f.name == part), None)
        if spec is None:
            return None
        inner: ValueSpec = spec
        while inner.type == "array" and inner.items is not None:
            inner = inner.items
        current = inner.fields
    return spec


def element_type(spec: ValueSpec) -> str:
    """The type an index sees: an array's element type (multikey), else the value's own type."""
    while spec.type == "array" and spec.items is not None:
        spec = spec.items
    return spec.type


def walk_fields(fields: list[FieldSpec], prefix: str = "") -> Iterator[tuple[str, ValueSpec]]:
    """Every field and array-element spec with its display path (`versions[].url`), depth first, in model order."""
    for f in fields:
        path = f"{prefix}{f.name}"
        yield path, f
        spec: ValueSpec = f
        while spec.type == "array" and spec.items is not None:
            path += "[]"
            spec = spec.items
            yield path, spec
        if spec.fields:
            yield from walk_fields(spec.fields, f"{path}.")


# --------------------------------------------------------------------------- the $jsonSchema


def value_schema(spec: ValueSpec) -> dict[str, Any]:
    """The `$jsonSchema` of one value, in MongoDB's keywords."""
    schema: dict[str, Any] = {"bsonType": [spec.type, "null"] if spec.nullable else spec.type}
    if spec.description:
        schema["description"] = spec.description
    if spec.enum is not None:
        # A nullable enum must list null too: `enum` is checked against every value, null included.
        schema["enum"] = [*spec.enum, None] if spec.nullable else list(spec.enum)
    keywords = {
        "pattern": spec.pattern,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "minLength": spec.min_length,
        "maxLength": spec.max_length,
        "minItems": spec.min_items,
        "maxItems": spec.max_items,
    }
    schema.update({k: v for k, v in keywords.items() if v is not None})
    if spec.unique_items:
        schema["uniqueItems"] = True
    if spec.items is not None:
        schema["items"] = value_schema(spec.items)
    if spec.type == "object" and (spec.fields or not spec.additional_properties):
        nested = object_schema(spec.fields, spec.additional_properties)
        schema.update({k: v for k, v in nested.items() if k != "bsonType"})
    return schema


def object_schema(
    fields: list[FieldSpec], additional: bool, title: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """An object's schema; a top-level one (with a title) always admits `_id`, which every document carries."""
    properties = {f.name: value_schema(f) for f in fields}
    if title is not None and "_id" not in properties:
        properties = {"_id": {"bsonType": "objectId"}, **properties}
    schema: dict[str, Any] = {"bsonType": "object"}
    if title is not None:
        schema["title"] = title
    if description:
        schema["description"] = description
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    schema["properties"] = properties
    schema["additionalProperties"] = additional
    return schema


# --------------------------------------------------------------------------- documents: YAML -> BSON -> JSON


def to_bson_values(spec: ValueSpec, value: Any) -> Any:
    """A YAML value as the Python value pymongo must send for `spec` (an int for a long field is sent as Int64)."""
    if value is None:
        return None
    if spec.type == "long" and isinstance(value, int) and not isinstance(value, bool):
        return Int64(value)
    if spec.type == "double" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if spec.type == "array" and isinstance(value, list) and spec.items is not None:
        items = spec.items
        return [to_bson_values(items, v) for v in value]
    if spec.type == "object" and isinstance(value, Mapping):
        return {k: (to_bson_values(f, v) if (f := spec.field(k)) else v) for k, v in value.items()}
    return value


def document_values(collection: Collection, document: Mapping[str, Any]) -> dict[str, Any]:
    """A reference document's YAML values converted by its collection's field types."""
    return {k: (to_bson_values(f, v) if (f := collection.field(k)) else v) for k, v in document.items()}


def to_extended_json(value: Any) -> Any:
    """A BSON-ready value as MongoDB Extended JSON (canonical for the types plain JSON cannot carry)."""
    if isinstance(value, Int64):
        return {"$numberLong": str(int(value))}
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return {"$date": utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    if isinstance(value, ObjectId):
        return {"$oid": str(value)}
    if isinstance(value, Decimal128):
        return {"$numberDecimal": str(value)}
    if isinstance(value, Mapping):
        return {k: to_extended_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_extended_json(v) for v in value]
    return value


def from_extended_json(value: Any) -> Any:
    """The inverse of to_extended_json: `{"$date": ...}` becomes a datetime, `{"$numberLong": ...}` an Int64, ..."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "$date" and isinstance(inner, str):
                return datetime.fromisoformat(inner.replace("Z", "+00:00"))
            if key == "$numberLong":
                return Int64(int(inner))
            if key == "$oid":
                return ObjectId(inner)
            if key == "$numberDecimal":
                return Decimal128(inner)
        return {k: from_extended_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_extended_json(v) for v in value]
    return value


# --------------------------------------------------------------------------- cross-reference checks


def _enum_value_fits(type_: str, value: Any) -> bool:
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "bool":
        return isinstance(value, bool)
    if type_ in {"int", "long"}:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value_problems(spec: ValueSpec, path: str, shown: str, model: ContentModel) -> Iterator[tuple[str, str]]:
    """Keyword/type agreement, bounds, enums, patterns and references of one value spec, then of its children.

    `path` is the location in the model file; `shown` names the value inside its collection (`images.versions[]`).
    """
    t = spec.type
    given = spec.model_fields_set
    applies = {
        "pattern": t == "string",
        "min_length": t == "string",
        "max_length": t == "string",
        "minimum": t in NUMERIC_TYPES,
        "maximum": t in NUMERIC_TYPES,
        "min_items": t == "array",
        "max_items": t == "array",
        "unique_items": t == "array",
        "items": t == "array",
        "fields": t == "object",
        "additional_properties": t == "object",
    }
    for keyword, ok in applies.items():
        if keyword in given and not ok:
            yield f"{path}.{keyword}", f"{keyword} does not apply to {t} values"
    for low, high in (("minimum", "maximum"), ("min_length", "max_length"), ("min_items", "max_items")):
        lo, hi = getattr(spec, low), getattr(spec, high)
        if lo is not None and hi is not None and lo > hi:
            yield f"{path}.{high}", f"{high} {hi} is below {low} {lo}"
    if spec.pattern is not None:
        try:
            re.compile(spec.pattern)
        except re.error as exc:
            yield f"{path}.pattern", f"invalid regular expression {spec.pattern!r}: {exc}"
    if spec.enum is not None:
        if t not in ENUM_TYPES:
            yield f"{path}.enum", f"enum does not apply to {t} values"
        elif not spec.enum:
            yield f"{path}.enum", "an enum needs at least one value"
        for ei, value in enumerate(spec.enum):
            if t in ENUM_TYPES and not _enum_value_fits(t, value):
                yield f"{path}.enum[{ei}]", f"{value!r} is not a {t} value"
            elif spec.enum.index(value) != ei:
                yield f"{path}.enum[{ei}]", f"duplicate enum value {value!r}"
    if t == "array" and spec.items is None:
        yield f"{path}.items", "an array needs items: (the shape of its elements)"
    if t == "object" and not spec.fields and not spec.additional_properties:
        yield f"{path}.fields", "an object needs fields: (or additional_properties: true for free-form content)"
    if spec.references:
        yield from _reference_problems(spec.references, f"{path}.references", model)
    if spec.items is not None:
        yield from _value_problems(spec.items, f"{path}.items", f"{shown}[]", model)
    yield from _fields_problems(spec.fields, path, shown, model)


def _fields_problems(fields: list[FieldSpec], path: str, shown: str, model: ContentModel) -> Iterator[tuple[str, str]]:
    where = f"object {shown}" if "." in shown or "[" in shown else f"collection {shown}"
    seen: list[str] = []
    for fi, f in enumerate(fields):
        fp = f"{path}.fields[{fi}]"
        if f.name in seen:
            yield f"{fp}.name", f"duplicate field {f.name!r} in {where}"
        seen.append(f.name)
        yield from _value_problems(f, fp, f"{shown}.{f.name}", model)


def _reference_problems(target: str, path: str, model: ContentModel) -> Iterator[tuple[str, str]]:
    if EXTERNAL_REFERENCE.match(target):
        return
    collection, _, field = target.partition(".")
    other = model.collection_map.get(collection)
    if other is None or not field:
        yield path, f"unknown reference {target!r} (collection.field, or store:schema.table.column for another store)"
    elif other.resolve(field) is None:
        yield path, f"unknown field {field!r} in collection {collection}"


def _filter_fields(expression: Mapping[str, Any]) -> Iterator[str]:
    """The field paths a partial filter names (top level and inside $and)."""
    for key, value in expression.items():
        if key == "$and" and isinstance(value, list):
            for part in value:
                if isinstance(part, Mapping):
                    yield from _filter_fields(part)
        elif not key.startswith("$"):
            yield key


def _index_problems(c: Collection, cp: str) -> Iterator[tuple[str, str]]:
    names: list[str] = []
    text_indexes = 0
    for xi, ix in enumerate(c.indexes):
        xp = f"{cp}.indexes[{xi}]"
        if ix.name in names:
            yield f"{xp}.name", f"duplicate index {ix.name!r} in collection {c.name}"
        names.append(ix.name)
        fields = [k.field for k in ix.keys]
        for ki, key in enumerate(ix.keys):
            kp = f"{xp}.keys[{ki}]"
            if key.order is not None and key.kind is not None:
                yield kp, "give either order (1 or -1) or kind: text, not both"
            if fields.index(key.field) != ki:
                yield f"{kp}.field", f"field {key.field!r} appears twice in index {ix.name}"
            spec = c.resolve(key.field)
            if spec is None:
                yield f"{kp}.field", f"unknown field {key.field!r} in collection {c.name}"
            elif key.kind == "text" and element_type(spec) != "string":
                yield f"{kp}.kind", f"a text index needs a string field; {key.field!r} is {element_type(spec)}"
        if any(k.kind == "text" for k in ix.keys):
            text_indexes += 1
            if text_indexes == 2:
                yield xp, f"collection {c.name} has a second text index (MongoDB allows one per collection)"
        if ix.expire_after_seconds is not None:
            spec = c.resolve(ix.keys[0].field)
            if len(ix.keys) != 1 or ix.keys[0].kind:
                yield f"{xp}.expire_after_seconds", "a TTL index must have exactly one ascending or descending key"
            elif spec is not None and element_type(spec) != "date":
                yield f"{xp}.expire_after_seconds", f"a TTL index needs a date field; {ix.keys[0].field!r} is not"
        if ix.partial_filter is not None:
            for name in _filter_fields(ix.partial_filter):
                if c.resolve(name) is None:
                    yield f"{xp}.partial_filter", f"unknown field {name!r} in collection {c.name}"


def _marker_problems(c: Collection, cp: str) -> Iterator[tuple[str, str]]:
    marker = c.change_marker
    if marker is None:
        return
    spec = c.field(marker)
    if spec is None:
        yield f"{cp}.change_marker", f"unknown field {marker!r} in collection {c.name}"
    elif spec.type != "date" or spec.nullable or not spec.required:
        yield f"{cp}.change_marker", f"the change marker {marker!r} must be a required, non-nullable date field"
    elif not any(ix.keys[0].field == marker and not ix.keys[0].kind and not ix.partial_filter for ix in c.indexes):
        # The delta ETL asks `{marker: {$gt: watermark}}` every 11 minutes: without this index, a collection scan.
        yield (
            f"{cp}.change_marker",
            f"no index leads on {marker!r}: the delta ETL's `{marker} > watermark` query would scan collection"
            f" {c.name}; add an index whose first key is {marker}",
        )


def _document_problems(c: Collection, cp: str) -> Iterator[tuple[str, str]]:
    from generators.content_validation import document_problems

    if not c.documents:
        if c.key_fields:
            yield f"{cp}.key_fields", "key_fields without documents"
        return
    if not c.key_fields:
        yield f"{cp}.key_fields", "reference documents need key_fields: (the natural key they are upserted by)"
        return
    for ki, key in enumerate(c.key_fields):
        spec = c.field(key)
        if spec is None or not spec.required or spec.nullable:
            yield f"{cp}.key_fields[{ki}]", f"{key!r} is not a required, non-nullable field of collection {c.name}"
            return
    key_set = set(c.key_fields)
    if not any(ix.unique and not ix.partial_filter and {k.field for k in ix.keys} == key_set for ix in c.indexes):
        # An upsert by a key that is not unique could insert a second document when two deploys race.
        yield f"{cp}.key_fields", f"no unique index on exactly {', '.join(c.key_fields)} in collection {c.name}"
    validator = c.validator()
    seen: list[tuple[Any, ...]] = []
    for di, raw in enumerate(c.documents):
        dp = f"{cp}.documents[{di}]"
        if c.change_marker and c.change_marker in raw:
            yield f"{dp}.{c.change_marker}", "the deploy sets the change marker when the document changes; remove it"
            continue
        natural = tuple(repr(raw.get(k)) for k in c.key_fields)
        if natural in seen:
            yield dp, f"duplicate key {', '.join(f'{k}={raw.get(k)!r}' for k in c.key_fields)}"
        seen.append(natural)
        for name, value in raw.items():
            if isinstance(value, date) and not isinstance(value, datetime):
                yield f"{dp}.{name}", f"{value} is a calendar date; a BSON date needs a time (e.g. {value}T00:00:00Z)"
        document = document_values(c, raw)
        if c.change_marker:
            document[c.change_marker] = _CHANGE_MARKER_PLACEHOLDER
        for where, problem in document_problems(validator, document):
            yield (f"{dp}.{where}" if where else dp), problem


def _problems(model: ContentModel) -> Iterator[tuple[str, str]]:
    """Cross-reference checks the schema alone cannot express; yields (path, problem)."""
    names: list[str] = []
    for c in model.collections:
        cp = f"collections.{c.name}"
        if c.name in names:
            yield cp, f"duplicate collection {c.name!r}"
        names.append(c.name)
        yield from _fields_problems(c.fields, cp, c.name, model)
        yield from _index_problems(c, cp)
        yield from _marker_problems(c, cp)
        yield from _document_problems(c, cp)


_COLLECTION_INDEX = re.compile(r"^collections\[(\d+)\]")


def load_content_model(raw: dict[str, Any], shown: str) -> ContentModel:
    """Validate a `dialect: mongodb` model; raise ModelError (one line: file, path, problem) on the first defect."""
    try:
        return validate_model(raw, shown, ContentModel, _problems)
    except ModelError as exc:
        # Name collections like the SQL models name tables: `collections.images.fields[3]`, not `collections[0]`.
        match = _COLLECTION_INDEX.match(exc.path)
        collections = raw.get("collections")
        if match and isinstance(collections, list) and int(match[1]) < len(collections):
            entry = collections[int(match[1])]
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                raise ModelError(shown, f"collections.{entry['name']}{exc.path[match.end() :]}", exc.problem) from None
        raise
