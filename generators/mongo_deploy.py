"""Apply the rendered PromptContent (MongoDB) files to a database, idempotently and with a ledger.

Each file of `sql/content/` is one JSON document whose `kind` says what it holds:

- `collections`: a collection that is missing is created with its validator; one that exists is brought to the
  rendered validator with `collMod` when its options differ (and left alone when they match);
- `indexes`: every missing index is created by name; an index that exists under the same name with a different
  specification is an error that says so (drop it, then deploy again) — never silently kept;
- `reference_documents`: upserted by their key fields; a document that already matches is not written, one that
  is new or differs is written with its change marker stamped, so the delta ETL sees the change.

Every applied file is recorded by SHA-256 in the collection `_deploy_applied_files` (store, file, sha256,
applied_at, duration_ms), like the PostgreSQL ledger `deploy.applied_files`. A file reports `changed` when it
altered the database or its content was not in the ledger yet; a re-run of the same files reports unchanged.
Everything is planned (and every conflict found) before the first write of a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generators.content_validation import validate_document
from generators.deploy import ROOT, DeployError, FileResult
from generators.model_content import from_extended_json

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

LEDGER = "_deploy_applied_files"
LEDGER_INDEX = "ux_deploy_applied_files"
_DEFAULT_OPTIONS = {"validator": {}, "validationLevel": "strict", "validationAction": "error"}
"""What a collection created without options reports (MongoDB omits the defaults from listCollections)."""


def now_ms() -> datetime:
    """The current UTC time at the millisecond precision a BSON date keeps (so a re-read compares equal)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# --------------------------------------------------------------------------- collections and validators


def collection_options(db: Database[Any], name: str) -> dict[str, Any] | None:
    """The validator options of an existing collection (defaults filled in); None when it does not exist."""
    info = next(iter(db.list_collections(filter={"name": name})), None)
    if info is None:
        return None
    if info.get("type", "collection") != "collection":
        raise DeployError(f"{name} exists but is a {info['type']}, not a collection; drop it and deploy again")
    options = info.get("options", {})
    return {key: options.get(key, default) for key, default in _DEFAULT_OPTIONS.items()}


def apply_collections(db: Database[Any], spec: Mapping[str, Any]) -> list[str]:
    """Create missing collections with their validators and collMod those whose options differ; return the actions."""
    plan: list[tuple[str, str, dict[str, Any]]] = []
    for entry in spec["collections"]:
        desired = {key: entry[key] for key in _DEFAULT_OPTIONS}
        current = collection_options(db, entry["name"])
        if current is None:
            plan.append(("create", entry["name"], desired))
        elif current != desired:
            plan.append(("collMod", entry["name"], desired))
    actions: list[str] = []
    for action, name, options in plan:
        if action == "create":
            db.create_collection(name, **options)
            actions.append(f"created collection {name} with its validator")
        else:
            db.command("collMod", name, **options)
            actions.append(f"updated the validator of {name} (collMod)")
    return actions


# --------------------------------------------------------------------------- indexes


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def index_spec(index: Mapping[str, Any]) -> dict[str, Any]:
    """An index as a comparable value, from the rendered file or from listIndexes.

    The server reports a text index as `{_fts: "text", _ftsx: 1}` with the fields in `weights`; both sides are
    brought to `[field, "text"]` pairs (text fields sorted: their order means nothing), numbers to int where whole.
    """
    raw = index["key"]
    pairs = [(str(k), _number(v)) for k, v in (raw.items() if isinstance(raw, Mapping) else raw)]
    spec: dict[str, Any] = {}
    if any(k == "_fts" for k, _ in pairs):
        weights = dict(index.get("weights", {}))
        expanded: list[tuple[str, Any]] = []
        for k, v in pairs:
            if k == "_fts":
                expanded.extend((field, "text") for field in weights)
            elif k != "_ftsx":
                expanded.append((k, v))
        pairs = expanded
        if any(_number(w) != 1 for w in weights.values()):
            spec["weights"] = {k: _number(w) for k, w in weights.items()}
        for option, default in (("default_language", "english"), ("language_override", "language")):
            if index.get(option, default) != default:
                spec[option] = index[option]
    text = sorted(k for k, v in pairs if v == "text")
    if text:
        first = next(i for i, (_, v) in enumerate(pairs) if v == "text")
        rest = [(k, v) for k, v in pairs if v != "text"]
        pairs = [*rest[:first], *((k, "text") for k in text), *rest[first:]]
    spec["key"] = pairs
    spec["unique"] = bool(index.get("unique", False))
    for option in ("partialFilterExpression", "expireAfterSeconds", "sparse", "collation", "hidden"):
        value = index.get(option)
        if value is not None and value is not False:
            spec[option] = _number(value)
    return spec


def _describe(spec: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.items())


def apply_indexes(db: Database[Any], spec: Mapping[str, Any]) -> list[str]:
    """Create every missing index by name; refuse (before any write) an index whose name or spec is taken."""
    from pymongo import IndexModel

    plan: list[tuple[str, list[Mapping[str, Any]]]] = []
    existing_names = set(db.list_collection_names())
    for entry in spec["collections"]:
        name = entry["name"]
        if name not in existing_names:
            raise DeployError(f"collection {name!r} does not exist: apply the collections file (010) first")
        existing = {ix["name"]: ix for ix in db[name].list_indexes()}
        missing = []
        for wanted in entry["indexes"]:
            desired = index_spec(wanted)
            current = existing.get(wanted["name"])
            if current is None:
                twin = next((n for n, ix in existing.items() if index_spec(ix) == desired), None)
                if twin is not None:
                    raise DeployError(
                        f"{name}: index {twin!r} has the specification of {wanted['name']!r} under another name;"
                        f" drop it (db.{name}.dropIndex({twin!r})) and deploy again"
                    )
                missing.append(wanted)
            elif index_spec(current) != desired:
                raise DeployError(
                    f"{name}: index {wanted['name']!r} exists with a different specification"
                    f" (database: {_describe(index_spec(current))}; rendered: {_describe(desired)});"
                    f" drop it (db.{name}.dropIndex({wanted['name']!r})) and deploy again"
                )
        unknown = sorted(set(existing) - {ix["name"] for ix in entry["indexes"]} - {"_id_"})
        if unknown:
            log.warning("%s: index(es) not in the model, left in place: %s", name, ", ".join(unknown))
        plan.append((name, missing))
    actions: list[str] = []
    for name, missing in plan:
        if not missing:
            continue
        models = []
        for ix in missing:
            options = {k: ix[k] for k in ("unique", "partialFilterExpression", "expireAfterSeconds") if k in ix}
            models.append(IndexModel([(k, v) for k, v in ix["key"]], name=ix["name"], **options))
        db[name].create_indexes(models)
        actions.extend(f"created index {name}.{ix['name']}" for ix in missing)
    return actions


# --------------------------------------------------------------------------- reference documents


def _comparable(value: Any) -> Any:
    """A BSON value as it reads back: datetimes naive UTC at millisecond precision (pymongo's default decoding)."""
    if isinstance(value, datetime):
        utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return utc.replace(microsecond=utc.microsecond // 1000 * 1000)
    if isinstance(value, Mapping):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_comparable(v) for v in value]
    return value


def apply_reference_documents(
    db: Database[Any], spec: Mapping[str, Any], validators: Callable[[str], Mapping[str, Any]]
) -> list[str]:
    """Upsert every reference document by its key fields; write only those that are new or differ."""
    plan: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = []
    for entry in spec["collections"]:
        name, marker, keys = entry["name"], entry.get("change_marker"), entry["key_fields"]
        ignored = {"_id", marker}
        for index, raw in enumerate(entry["documents"]):
            desired = from_extended_json(raw)
            key = {k: desired[k] for k in keys}
            found = db[name].find_one(key)
            if found is not None:
                current = {k: v for k, v in found.items() if k not in ignored}
                if _comparable(current) == _comparable({k: v for k, v in desired.items() if k not in ignored}):
                    continue
            document = {**desired, marker: now_ms()} if marker else desired
            problems = validate_document(validators(name), document)
            if problems:
                raise DeployError(f"{name}: reference document {index}: {problems[0]}")
            plan.append((name, key, document, found is None))
    actions: list[str] = []
    for name, key, document, new in plan:
        db[name].replace_one(key, document, upsert=True)
        shown = ", ".join(f"{k}={v!r}" for k, v in key.items())
        actions.append(f"{'inserted' if new else 'updated'} {name} document {shown}")
    return actions


# --------------------------------------------------------------------------- the file and its ledger


def record_applied(db: Database[Any], store: str, rel: str, digest: str, duration_ms: int) -> bool:
    """Record the file's content in the ledger; True when this content had not been recorded before."""
    ledger = db[LEDGER]
    ledger.create_index([("store", 1), ("file", 1), ("sha256", 1)], name=LEDGER_INDEX, unique=True)
    result = ledger.update_one(
        {"store": store, "file": rel, "sha256": digest},
        {"$setOnInsert": {"applied_at": now_ms(), "duration_ms": duration_ms}},
        upsert=True,
    )
    return result.upserted_id is not None


def _validators_from(root: Path) -> Callable[[str], Mapping[str, Any]]:
    from generators.content_validation import load_validators

    return lambda name: load_validators(root)[name]


def apply_mongo_file(db: Database[Any], store: str, rel: str, root: Path = ROOT) -> FileResult:
    """Apply one rendered MongoDB file to `db` (a pymongo Database) and record it; raise DeployError naming the file."""
    from pymongo.errors import PyMongoError

    path = root / rel
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    where = f"{store}: {rel}"
    try:
        spec = json.loads(data)
        kind = spec["kind"]
    except (ValueError, KeyError):
        raise DeployError(
            f"{where}: not a rendered MongoDB deploy file (no JSON, or no kind); run make render"
        ) from None
    appliers: dict[str, Callable[[], list[str]]] = {
        "collections": lambda: apply_collections(db, spec),
        "indexes": lambda: apply_indexes(db, spec),
        "reference_documents": lambda: apply_reference_documents(db, spec, _validators_from(root)),
    }
    if kind not in appliers:
        raise DeployError(f"{where}: unknown kind {kind!r} (known: {', '.join(appliers)})")
    started = time.perf_counter()
    try:
        actions = appliers[kind]()
        elapsed = int((time.perf_counter() - started) * 1000)
        new_content = record_applied(db, store, rel, digest, elapsed)
    except DeployError as exc:
        raise DeployError(f"{where}: {exc}") from exc
    except PyMongoError as exc:  # the server's reason is the useful part; the traceback is not
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeployError(f"{where}: {detail}") from exc
    for action in actions:
        log.info("%s: %s", where, action)
    return FileResult(store, rel, digest, bool(actions) or new_content, elapsed)


def deploy_mongo(
    db: Database[Any],
    store: str = "content",
    *,
    root: Path = ROOT,
    progress: Callable[[FileResult], None] | None = None,
    files: Iterable[str] | None = None,
) -> list[FileResult]:
    """Apply every deploy file of a MongoDB store to `db`, in manifest order."""
    from generators.deploy import load_manifest, store_files

    results = []
    for rel in files if files is not None else store_files(store, load_manifest(root / "sql" / "manifest.json")):
        result = apply_mongo_file(db, store, rel, root)
        results.append(result)
        if progress:
            progress(result)
    return results


# --------------------------------------------------------------------------- command line

CONTENT_ENV_VAR = "PROMPTSALES_CONTENT_URL"


def _masked(url: str) -> str:
    """The URL with its password replaced, for messages."""
    head, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    return f"{head}{sep}{auth.split(':', 1)[0]}:***@{host}" if ":" in auth else url


def main(argv: list[str] | None = None) -> int:
    """`python -m generators.mongo_deploy`: deploy sql/content/ to the server named by PROMPTSALES_CONTENT_URL."""
    import argparse
    import os
    import sys

    import pymongo
    from pymongo.errors import PyMongoError

    from generators.deploy import load_manifest

    parser = argparse.ArgumentParser(prog="python -m generators.mongo_deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="content", help="the manifest's MongoDB store (default: content)")
    parser.add_argument("--database", help="deploy into this database instead of the manifest's")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    url = os.environ.get(CONTENT_ENV_VAR)
    if not url:
        print(
            f"error: {CONTENT_ENV_VAR} is not set; set it to mongodb://user:password@host:27017/admin and run again",
            file=sys.stderr,
        )
        return 1
    database = args.database or load_manifest(args.root / "sql" / "manifest.json")["stores"][args.store]["database"]
    started = time.perf_counter()
    client: Any = pymongo.MongoClient(url, appname="promptsales_deploy", serverSelectionTimeoutMS=10_000)
    print(f"{args.store}: deploying into {database} on {_masked(url)}")

    def show(result: FileResult) -> None:
        status = "new or changed" if result.changed else "unchanged"
        print(f"  {result.file}: {status} ({result.duration_ms} ms)")

    try:
        results = deploy_mongo(client[database], args.store, root=args.root, progress=show)
    except (DeployError, PyMongoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    changed = sum(r.changed for r in results)
    print(
        f"{args.store}: {len(results)} files deployed ({changed} new/changed, {len(results) - changed} unchanged)"
        f" in {time.perf_counter() - started:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
