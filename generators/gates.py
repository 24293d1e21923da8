"""SQL gates: rendered T-SQL must parse with sqlfluff, PostgreSQL with pglast, and PL/pgSQL must pass plpgsql_check.

No SQL Server can run here, so for T-SQL a full parse of every batch is the strongest check we have; for PostgreSQL
the parser gate runs without a server and plpgsql_check (which needs the deployed schema) finds what a parse cannot:
a body that names a missing table or column, or assigns a type that cannot fit.

    python -m generators.gates                      # parse every file of sql/manifest.json
    python -m generators.gates --plpgsql-dsn URL    # and run plpgsql_check on a database where they are deployed
"""

from __future__ import annotations

import argparse
import bisect
import functools
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pglast
from pglast import ast
from pglast.parser import ParseError
from rich.console import Console
from rich.progress import track

from generators.deploy import load_manifest, split_batches
from generators.model import ModelError, StoreModel, load_model

if TYPE_CHECKING:
    from sqlfluff.core import Linter

ROOT = Path(__file__).resolve().parent.parent
_MESSAGE_LIMIT = 240


@dataclass(frozen=True)
class GateFailure:
    """One gate failure, printed as one line: file, where in it, what is wrong."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


def _one_line(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _first_code_line(text: str) -> tuple[int, str]:
    """(0-based line offset, text) of the first line that is neither blank nor a `--` comment."""
    lines = text.splitlines() or [""]
    for offset, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            return offset, stripped
    return 0, lines[0].strip()


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# --------------------------------------------------------------------------- T-SQL: the allowlist

_ID = r"(?:\[[^\]]+\]|[A-Za-z_][\w@$#]*)"
_STR = r"N?'(?:[^']|'')*'"
_PASSWORD = rf"PASSWORD\s*=\s*{_STR}"
_AES = r"AES_(?:128|192|256)"


def _comma_list(item: str) -> str:
    return rf"{item}(?:\s*,\s*{item})*"


_KEY_FILE_OPTION = rf"(?:FILE\s*=\s*{_STR}|(?:DECRYPTION|ENCRYPTION)\s+BY\s+{_PASSWORD})"
_PRIVATE_KEY = rf"WITH\s+PRIVATE\s+KEY\s*\(\s*{_comma_list(_KEY_FILE_OPTION)}\s*\)"
_CERT_OPTION = rf"(?:SUBJECT|START_DATE|EXPIRY_DATE)\s*=\s*{_STR}"
_SYMKEY_OPTION = rf"(?:ALGORITHM\s*=\s*{_AES}|KEY_SOURCE\s*=\s*{_STR}|IDENTITY_VALUE\s*=\s*{_STR})"
_SYMKEY_PROTECTOR = rf"(?:CERTIFICATE\s+{_ID}|{_PASSWORD}|(?:A?SYMMETRIC)\s+KEY\s+{_ID})"
_SERVER_PROTECTOR = r"SERVER\s+(?:CERTIFICATE|ASYMMETRIC\s+KEY)"
_DEVICE = rf"(?:DISK|URL)\s*=\s*{_STR}"
_VARIABLE = r"@[A-Za-z_][\w@$#]*"
_FILELIST_OPTION = r"(?:FILE\s*=\s*\d+|(?:NO_)?CHECKSUM)"
_BACKUP_OPTION = (
    rf"(?:COPY_ONLY|(?:NO_)?COMPRESSION|(?:NO)?INIT|(?:NO)?FORMAT|(?:NO_)?CHECKSUM|STATS(?:\s*=\s*\d+)?"
    rf"|(?:NAME|DESCRIPTION)\s*=\s*{_STR}"
    rf"|ENCRYPTION\s*\(\s*ALGORITHM\s*=\s*{_AES}\s*,\s*{_SERVER_PROTECTOR}\s*=\s*{_ID}\s*\))"
)
_RESTORE_OPTION = (
    rf"(?:MOVE\s+(?:{_STR}|{_VARIABLE})\s+TO\s+(?:{_STR}|{_VARIABLE})|REPLACE|(?:NO)?RECOVERY|(?:NO_)?CHECKSUM"
    r"|STATS(?:\s*=\s*\d+)?|FILE\s*=\s*\d+)"
)


class AllowedStatement(NamedTuple):
    """A T-SQL statement kind that sqlfluff's grammar cannot parse, accepted on a strict pattern of its own."""

    name: str
    pattern: str
    """Regex (case-insensitive) of one complete statement without its terminating `;`, which is required."""
    example: str
    """A statement the pattern accepts and sqlfluff rejects; tests pin that sqlfluff still rejects it."""


# Column encryption in PromptCrm (master key -> certificate -> AES-256 symmetric key), the backup/restore
# demonstration that the encrypted data cannot be read on another server, and the impersonation (EXECUTE AS ...
# REVERT) that shows who may decrypt. sqlfluff 4.5's tsql grammar has no rule for any of these (OPEN SYMMETRIC
# KEY, ALTER MASTER KEY, CREATE USER ... WITHOUT LOGIN and every linked-server statement do parse, so they are not
# here). Each pattern spells out the statement's real option syntax, so an allowlisted statement cannot carry
# anything else to the server unparsed.
TSQL_PARSE_ALLOWLIST: tuple[AllowedStatement, ...] = (
    AllowedStatement(
        "CREATE MASTER KEY",
        rf"CREATE\s+MASTER\s+KEY\s+ENCRYPTION\s+BY\s+{_PASSWORD}",
        "CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'from-the-environment';",
    ),
    AllowedStatement(
        "OPEN MASTER KEY",
        rf"OPEN\s+MASTER\s+KEY\s+DECRYPTION\s+BY\s+{_PASSWORD}",
        "OPEN MASTER KEY DECRYPTION BY PASSWORD = N'from-the-environment';",
    ),
    AllowedStatement("CLOSE MASTER KEY", r"CLOSE\s+MASTER\s+KEY", "CLOSE MASTER KEY;"),
    AllowedStatement(
        "BACKUP MASTER KEY",
        rf"BACKUP\s+MASTER\s+KEY\s+TO\s+(?:FILE|URL)\s*=\s*{_STR}\s+ENCRYPTION\s+BY\s+{_PASSWORD}",
        "BACKUP MASTER KEY TO FILE = N'/var/opt/mssql/backup/crm_master_key.key' ENCRYPTION BY PASSWORD = N'x';",
    ),
    AllowedStatement(
        "CREATE CERTIFICATE",
        rf"CREATE\s+CERTIFICATE\s+{_ID}(?:\s+AUTHORIZATION\s+{_ID})?\s+"
        rf"(?:(?:ENCRYPTION\s+BY\s+{_PASSWORD}\s+)?WITH\s+{_comma_list(_CERT_OPTION)}"
        rf"|FROM\s+FILE\s*=\s*{_STR}(?:\s+{_PRIVATE_KEY})?)",
        "CREATE CERTIFICATE CrmColumnCert WITH SUBJECT = N'PromptCrm column keys', EXPIRY_DATE = '20301231';",
    ),
    AllowedStatement(
        "BACKUP CERTIFICATE",
        rf"BACKUP\s+CERTIFICATE\s+{_ID}\s+TO\s+FILE\s*=\s*{_STR}(?:\s+{_PRIVATE_KEY})?",
        "BACKUP CERTIFICATE CrmColumnCert TO FILE = N'/var/opt/mssql/backup/crm.cer'"
        " WITH PRIVATE KEY (FILE = N'/var/opt/mssql/backup/crm.pvk', ENCRYPTION BY PASSWORD = N'x');",
    ),
    AllowedStatement(
        "CREATE SYMMETRIC KEY",
        rf"CREATE\s+SYMMETRIC\s+KEY\s+{_ID}(?:\s+AUTHORIZATION\s+{_ID})?\s+WITH\s+{_comma_list(_SYMKEY_OPTION)}"
        rf"\s+ENCRYPTION\s+BY\s+{_comma_list(_SYMKEY_PROTECTOR)}",
        "CREATE SYMMETRIC KEY CrmColumnKey WITH ALGORITHM = AES_256 ENCRYPTION BY CERTIFICATE CrmColumnCert;",
    ),
    AllowedStatement(
        "CLOSE SYMMETRIC KEY",
        rf"CLOSE\s+(?:SYMMETRIC\s+KEY\s+{_ID}|ALL\s+SYMMETRIC\s+KEYS)",
        "CLOSE SYMMETRIC KEY CrmColumnKey;",
    ),
    AllowedStatement(
        "CREATE DATABASE ENCRYPTION KEY",
        rf"CREATE\s+DATABASE\s+ENCRYPTION\s+KEY\s+WITH\s+ALGORITHM\s*=\s*{_AES}\s+ENCRYPTION\s+BY\s+"
        rf"{_SERVER_PROTECTOR}\s+{_ID}",
        "CREATE DATABASE ENCRYPTION KEY WITH ALGORITHM = AES_256 ENCRYPTION BY SERVER CERTIFICATE TdeCert;",
    ),
    AllowedStatement(
        "BACKUP DATABASE",
        rf"BACKUP\s+DATABASE\s+{_ID}\s+TO\s+{_comma_list(_DEVICE)}(?:\s+WITH\s+{_comma_list(_BACKUP_OPTION)})?",
        "BACKUP DATABASE PromptCrm TO DISK = N'/var/opt/mssql/backup/crm.bak'"
        " WITH INIT, ENCRYPTION (ALGORITHM = AES_256, SERVER CERTIFICATE = BackupCert);",
    ),
    AllowedStatement(
        "RESTORE DATABASE",
        rf"RESTORE\s+DATABASE\s+{_ID}\s+FROM\s+{_comma_list(_DEVICE)}(?:\s+WITH\s+{_comma_list(_RESTORE_OPTION)})?",
        "RESTORE DATABASE PromptCrm FROM DISK = N'/var/opt/mssql/backup/crm.bak' WITH REPLACE, RECOVERY;",
    ),
    # The logical file names a RESTORE ... WITH MOVE needs, read from the backup itself (INSERT ... EXEC).
    AllowedStatement(
        "RESTORE FILELISTONLY",
        rf"RESTORE\s+FILELISTONLY\s+FROM\s+{_DEVICE}(?:\s+WITH\s+{_comma_list(_FILELIST_OPTION)})?",
        "RESTORE FILELISTONLY FROM DISK = N'/var/opt/mssql/backup/crm.bak';",
    ),
    # Impersonating a database user to show what its permissions allow; only the plain forms (no cookie, no
    # NO REVERT), so every impersonation can be, and is, undone by REVERT in the same batch.
    AllowedStatement(
        "EXECUTE AS",
        rf"EXEC(?:UTE)?\s+AS\s+(?:USER|LOGIN)\s*=\s*{_STR}",
        "EXECUTE AS USER = N'crm_app_demo';",
    ),
    AllowedStatement("REVERT", r"REVERT", "REVERT;"),
)

# The lookbehind keeps a pattern from starting mid-identifier (`xCLOSE MASTER KEY`) or on a qualified name.
_ALLOWLIST_RES = tuple(
    re.compile(rf"(?<![\w@#$.]){entry.pattern}\s*;", re.IGNORECASE) for entry in TSQL_PARSE_ALLOWLIST
)
# Any statement parses where an allowlisted one stood (after IF, inside BEGIN ... END), so the rest of the
# batch keeps its structure and is still parsed in full.
_PLACEHOLDER = "PRINT 0;"

_DYNAMIC_SQL_RES = (
    re.compile(r"(?<![\w@#$.])EXEC(?:UTE)?\s*\(\s*(N?'(?:[^']|'')*')\s*\)", re.IGNORECASE),
    re.compile(r"(?<![\w@#$])sp_executesql\s+(?:@stmt\s*=\s*)?(N'(?:[^']|'')*')", re.IGNORECASE),
)


def _inert_spans(sql: str) -> list[tuple[int, int]]:
    """Start/end of every comment, string literal and quoted identifier: text where no statement starts."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(sql)
    while i < n:
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            j = n if end < 0 else end
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2  # T-SQL block comments nest
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
        elif sql[i] in "'[\"":
            close = "]" if sql[i] == "[" else sql[i]
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if j + 1 < n and sql[j + 1] == close:  # doubled: an escaped quote, still inside
                        j += 2
                        continue
                    j += 1
                    break
                j += 1
        else:
            i += 1
            continue
        spans.append((i, j))
        i = j
    return spans


class _Code:
    """Answers "is this position live code?" for one text, by bisecting its inert spans."""

    def __init__(self, sql: str) -> None:
        self.spans = _inert_spans(sql)
        self.starts = [s for s, _ in self.spans]

    def live(self, pos: int) -> bool:
        k = bisect.bisect_right(self.starts, pos) - 1
        return k < 0 or not (self.spans[k][0] <= pos < self.spans[k][1])


def mask_allowlisted(sql: str) -> str:
    """Replace each allowlisted statement that starts in live code with a placeholder statement, keeping lines."""
    code = _Code(sql)
    found: list[tuple[int, int]] = []
    for regex in _ALLOWLIST_RES:
        found.extend(m.span() for m in regex.finditer(sql) if code.live(m.start()))
    for start, end in sorted(found, reverse=True):
        sql = sql[:start] + _PLACEHOLDER + "\n" * sql.count("\n", start, end) + sql[end:]
    return sql


# --------------------------------------------------------------------------- T-SQL: parsing


_SQLFLUFF_WHERE = re.compile(r"^Line \d+, Position \d+: ")


@functools.cache
def _linter() -> Linter:
    from sqlfluff.core import FluffConfig, Linter  # local import: sqlfluff is a dev dependency and slow to import

    # The raw templater: rendered SQL is final text, and a `{{` inside a string literal must not be templated.
    return Linter(config=FluffConfig(overrides={"dialect": "tsql", "templater": "raw"}))


def sqlfluff_problems(sql: str) -> list[tuple[int, str]]:
    """sqlfluff's tsql parse of `sql` as (line, message) pairs; empty only for a full, clean parse."""
    parsed = _linter().parse_string(sql)
    # The gate names the file line itself; sqlfluff's "Line 1, Position 7: " counts within the batch and would mislead.
    problems = [(v.line_no, _one_line(_SQLFLUFF_WHERE.sub("", v.desc()))) for v in parsed.violations]
    # Not `parsed.tree`: that property asserts, and an input sqlfluff cannot lex has no tree at all.
    tree = parsed.parsed_variants[0].tree if parsed.parsed_variants else None
    if tree is None:
        problems.append((1, "sqlfluff produced no parse tree"))
    elif not problems:
        # Belt and braces: an unparsable segment always comes with a violation today, but the gate must not
        # depend on that.
        for seg in tree.recursive_crawl("unparsable"):
            line = seg.pos_marker.line_no if seg.pos_marker else 1
            problems.append((line, f"unparsable section: {_one_line(seg.raw, 80)!r}"))
    return problems


@functools.lru_cache(maxsize=4096)
def check_tsql_batch(batch: str) -> tuple[tuple[int, str], ...]:
    """Problems of one batch as (line within the batch, message); empty when it passes the gate.

    Allowlisted statements are masked first and the rest must parse in full. String literals run by
    EXEC('...') or sp_executesql are batches of their own and go through the same gate.
    """
    masked = mask_allowlisted(batch)
    problems = list(sqlfluff_problems(masked))
    code = _Code(masked)
    for regex in _DYNAMIC_SQL_RES:
        for m in regex.finditer(masked):
            if not code.live(m.start()):
                continue
            literal = m.group(1)
            inner = literal[literal.index("'") + 1 : -1].replace("''", "'")
            first = _line_of(masked, m.start(1))
            runner = re.split(r"[\s(]", m.group(0), maxsplit=1)[0]
            problems.extend(
                (first + line - 1, f"in the dynamic SQL run by {runner}: {msg}")
                for line, msg in check_tsql_batch(inner)
            )
    return tuple(sorted(problems))


def check_tsql(sql: str, file: str) -> list[GateFailure]:
    """Split on GO like the deployer does and gate every batch; failures name the batch and its first line."""
    failures: list[GateFailure] = []
    cursor = 0
    for number, batch in enumerate(split_batches(sql), 1):
        body = batch.rstrip("\n")
        start = max(sql.find(body, cursor), 0)
        cursor = start + len(body)
        first_line = _line_of(sql, start)
        offset, head = _first_code_line(body)
        where = f"batch {number} (line {first_line + offset}: {_one_line(head, 60)})"
        for line, message in check_tsql_batch(batch):
            failures.append(GateFailure(file, where, f"line {first_line + line - 1}: {message}"))
    return failures


# --------------------------------------------------------------------------- PostgreSQL: pglast


class PlpgsqlBlock(NamedTuple):
    """A CREATE FUNCTION/PROCEDURE ... LANGUAGE plpgsql or a DO block, as its statement text."""

    number: int
    """1-based position of the statement in its file."""
    line: int
    """File line of the statement's first code line."""
    head: str
    text: str


def _language(stmt: Any) -> str | None:
    """The procedural language of a function definition or DO block; None for any other statement."""
    if isinstance(stmt, ast.CreateFunctionStmt):
        options = stmt.options or ()
        return next((o.arg.sval.lower() for o in options if o.defname == "language"), "sql")
    if isinstance(stmt, ast.DoStmt):
        return next((o.arg.sval.lower() for o in stmt.args or () if o.defname == "language"), "plpgsql")
    return None


def iter_plpgsql_blocks(sql: str) -> Iterator[PlpgsqlBlock]:
    """Every PL/pgSQL function, procedure and DO block of a file that pglast parses (raises ParseError if not)."""
    for number, raw in enumerate(pglast.parse_sql(sql), 1):
        if _language(raw.stmt) != "plpgsql":
            continue
        # pglast reports character offsets; a length of 0 means "to the end of the input".
        start = raw.stmt_location or 0
        text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
        offset, head = _first_code_line(text)
        yield PlpgsqlBlock(number, _line_of(sql, start) + offset, _one_line(head, 60), text)


def check_postgres(sql: str, file: str) -> list[GateFailure]:
    """The file parses with PostgreSQL's own parser (pglast), and so does every PL/pgSQL body in it."""
    try:
        blocks = list(iter_plpgsql_blocks(sql))
    except ParseError as exc:
        location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        return [GateFailure(file, f"line {_line_of(sql, location)}", f"pglast: {_one_line(str(exc.args[0]))}")]
    failures = []
    for block in blocks:
        try:
            pglast.parse_plpgsql(block.text)
        except ParseError as exc:
            where = f"statement {block.number} (line {block.line}: {block.head})"
            failures.append(GateFailure(file, where, f"PL/pgSQL body: {_one_line(str(exc.args[0]))}"))
    return failures


# --------------------------------------------------------------------------- MongoDB: the JSON gate (dialect mongodb)
# No MongoDB server runs here. A rendered MongoDB file must be well-formed JSON that says it is generated, and every
# validator must be a $jsonSchema MongoDB accepts: only the keywords it supports (no $ref, format, default, ...),
# only real BSON type aliases, and well-typed keyword values. The facts below are MongoDB's (the $jsonSchema and
# $type reference pages), kept here rather than imported from the renderer so a renderer bug cannot pass its own gate.

MONGO_DIALECTS = frozenset({"mongo", "mongodb"})
MONGO_JSON_SCHEMA_KEYWORDS = frozenset(
    {
        "additionalItems", "additionalProperties", "allOf", "anyOf", "bsonType", "dependencies", "description",
        "enum", "exclusiveMaximum", "exclusiveMinimum", "items", "maximum", "maxItems", "maxLength",
        "maxProperties", "minimum", "minItems", "minLength", "minProperties", "multipleOf", "not", "oneOf",
        "pattern", "patternProperties", "properties", "required", "title", "type", "uniqueItems",
    }
)  # fmt: skip
BSON_TYPE_ALIASES = frozenset(
    {
        "double", "string", "object", "array", "binData", "undefined", "objectId", "bool", "date", "null", "regex",
        "dbPointer", "javascript", "symbol", "javascriptWithScope", "int", "timestamp", "long", "decimal", "minKey",
        "maxKey", "number",
    }
)  # fmt: skip
_JSON_TYPES = frozenset({"object", "array", "number", "boolean", "string", "null"})  # MongoDB has no "integer"
_GENERATED = re.compile(r"^Code generated by generators\.render from \S+; DO NOT EDIT\.$")


def _schema_problems(schema: Any, where: str) -> Iterator[tuple[str, str]]:
    """(location, problem) for every way `schema` is not a $jsonSchema MongoDB accepts."""
    if not isinstance(schema, dict):
        yield where, f"a schema must be an object, not {type(schema).__name__}"
        return
    for key in sorted(set(schema) - MONGO_JSON_SCHEMA_KEYWORDS):
        yield f"{where}.{key}", f"keyword {key!r} is not supported by MongoDB's $jsonSchema"
    for key, aliases in (("bsonType", BSON_TYPE_ALIASES), ("type", _JSON_TYPES)):
        if key in schema:
            value = schema[key]
            names = value if isinstance(value, list) else [value]
            if not names or len(set(map(str, names))) != len(names):
                yield f"{where}.{key}", f"{key} needs one type or a list of distinct types"
            for name in names:
                if name not in aliases:
                    what = "BSON type alias" if key == "bsonType" else "JSON type"
                    yield f"{where}.{key}", f"{name!r} is not a {what}"
    for key in ("properties", "patternProperties"):
        children = schema.get(key, {})
        if not isinstance(children, dict):
            yield f"{where}.{key}", f"{key} must be an object"
            continue
        for name, child in children.items():
            yield from _schema_problems(child, f"{where}.{key}.{name}")
    for key in ("not", "additionalProperties", "additionalItems", "items"):
        child = schema.get(key)
        if isinstance(child, dict):
            yield from _schema_problems(child, f"{where}.{key}")
        elif child is not None and not (isinstance(child, bool) and key.startswith("additional")):
            if key == "items" and isinstance(child, list):
                for i, item in enumerate(child):
                    yield from _schema_problems(item, f"{where}.items[{i}]")
            else:
                yield f"{where}.{key}", f"{key} must be a schema" + (" or a boolean" if key != "not" else "")
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            if not isinstance(schema[key], list) or not schema[key]:
                yield f"{where}.{key}", f"{key} must be a non-empty list of schemas"
            else:
                for i, item in enumerate(schema[key]):
                    yield from _schema_problems(item, f"{where}.{key}[{i}]")
    if "required" in schema:
        names = schema["required"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            yield f"{where}.required", "required must be a non-empty list of field names"
        elif len(set(names)) != len(names):
            yield f"{where}.required", "required names a field twice"
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        yield f"{where}.enum", "enum must be a non-empty list"
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (re.error, TypeError) as exc:
            yield f"{where}.pattern", f"not a regular expression: {exc}"
    for key in ("minimum", "maximum", "multipleOf"):
        if key in schema and (isinstance(schema[key], bool) or not isinstance(schema[key], int | float)):
            yield f"{where}.{key}", f"{key} must be a number"
    for key in ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
        value = schema.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            yield f"{where}.{key}", f"{key} must be a non-negative integer"
    for key in ("uniqueItems", "exclusiveMinimum", "exclusiveMaximum"):
        if key in schema and not isinstance(schema[key], bool):
            yield f"{where}.{key}", f"{key} must be true or false"


def _mongo_file_problems(doc: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(doc, dict) or next(iter(doc), None) != "_generated":
        yield "(document)", 'the file must be a JSON object whose first member is "_generated"'
        return
    if not isinstance(doc["_generated"], str) or not _GENERATED.match(doc["_generated"]):
        yield "_generated", "must read 'Code generated by generators.render from <model>; DO NOT EDIT.'"
    templates = doc.get("_templates")
    if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
        yield "_templates", "must list the templates the file was rendered from"
    for i, entry in enumerate(doc.get("collections", [])):
        where = f"collections.{entry.get('name', i)}" if isinstance(entry, dict) else f"collections[{i}]"
        if not isinstance(entry, dict):
            yield where, "must be an object"
            continue
        if "validator" in entry:
            validator = entry["validator"]
            if not isinstance(validator, dict) or list(validator) != ["$jsonSchema"]:
                yield f"{where}.validator", 'a validator must be exactly {"$jsonSchema": {...}}'
            else:
                yield from _schema_problems(validator["$jsonSchema"], f"{where}.validator.$jsonSchema")
            if entry.get("validationLevel") not in {"off", "strict", "moderate"}:
                yield f"{where}.validationLevel", f"unknown validationLevel {entry.get('validationLevel')!r}"
            if entry.get("validationAction") not in {"error", "warn", "errorAndLog"}:
                yield f"{where}.validationAction", f"unknown validationAction {entry.get('validationAction')!r}"
        for k, index in enumerate(entry.get("indexes", [])):
            key = index.get("key") if isinstance(index, dict) else None
            if (
                not isinstance(key, list)
                or not key
                or not all(
                    isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and p[1] in (1, -1, "text", "hashed")
                    for p in key
                )
            ):
                yield f"{where}.indexes[{k}].key", "key must be a non-empty list of [field, 1 | -1 | text | hashed]"


def check_mongo_json(text: str, file: str) -> list[GateFailure]:
    """A rendered MongoDB file: well-formed JSON, marked as generated, every validator a $jsonSchema MongoDB accepts."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [GateFailure(file, f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}")]
    return [GateFailure(file, where, problem) for where, problem in _mongo_file_problems(doc)]


# --------------------------------------------------------------------------- files and the manifest


def check_file(path: Path, dialect: str, shown: str | None = None) -> list[GateFailure]:
    """Gate one rendered file of the given dialect ("tsql", "postgresql" or "mongodb")."""
    sql = path.read_text(encoding="utf-8")
    name = shown or str(path)
    if dialect in MONGO_DIALECTS:
        return check_mongo_json(sql, name)
    if dialect == "tsql":
        return check_tsql(sql, name)
    if dialect == "postgresql":
        return check_postgres(sql, name)
    raise ValueError(f"{name}: no SQL gate for dialect {dialect!r}")


def manifest_files(root: Path = ROOT) -> list[tuple[str, str]]:
    """(relative path, dialect) of every deploy file and script in sql/manifest.json, in manifest order."""
    manifest = load_manifest(root / "sql" / "manifest.json")
    return [
        (rel, entry["dialect"])
        for _, entry in sorted(manifest["stores"].items())
        for rel in [*entry.get("deploy", []), *entry.get("scripts", [])]
    ]


# --------------------------------------------------------------------------- PostgreSQL: plpgsql_check


@dataclass(frozen=True)
class PlpgsqlIssue:
    """One finding of plpgsql_check in one function (checked against one table when it is a trigger function)."""

    function: str
    relation: str | None
    level: str
    line: int | None
    message: str
    detail: str | None = None
    hint: str | None = None
    query: str | None = None

    def __str__(self) -> str:
        on = f" on {self.relation}" if self.relation else ""
        at = f"line {self.line}: " if self.line else ""
        extra = "".join(
            f" ({label}: {_one_line(v, 120)})" for label, v in (("detail", self.detail), ("hint", self.hint)) if v
        )
        return f"{self.function}{on}: {at}{self.level}: {self.message}{extra}"


@dataclass
class PlpgsqlReport:
    """What plpgsql_check saw: each (function, table) pair it checked, its errors, and the warnings worth reading."""

    checked: list[str] = field(default_factory=list)
    errors: list[PlpgsqlIssue] = field(default_factory=list)
    warnings: list[PlpgsqlIssue] = field(default_factory=list)


class GateError(Exception):
    """A gate could not run at all (no server, no extension); the message says what to do."""


_TARGETS_SQL = """
SELECT p.oid::regprocedure::text AS function,
       p.oid AS funcoid,
       p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype AS is_trigger,
       t.tgrelid::regclass::text AS relation,
       t.tgrelid AS relid
  FROM pg_catalog.pg_proc AS p
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
  LEFT JOIN (SELECT DISTINCT tgfoid, tgrelid FROM pg_catalog.pg_trigger WHERE NOT tgisinternal) AS t
    ON t.tgfoid = p.oid
 WHERE l.lanname = 'plpgsql' AND n.nspname = ANY (%s)
 ORDER BY 1, 4
"""


def plpgsql_check_report(dsn: str, schemas: Sequence[str]) -> PlpgsqlReport:
    """Run plpgsql_check on every PL/pgSQL function in `schemas` of an already deployed database.

    A trigger function can only be checked against a table (NEW/OLD take its row type), so it is checked once per
    table whose trigger calls it (pg_trigger.tgfoid/tgrelid); one that no trigger uses cannot be checked and is
    listed as a warning. Errors are what the gate fails on. Warnings are plpgsql_check's "other" and "security"
    warnings (for example a SECURITY DEFINER function without a fixed search_path); its "performance" (hidden casts)
    and "extra" (unused variables) warnings are style, not defects, and are not requested.

    Everything runs in one transaction that is rolled back, so the extension is created when missing and the
    database is left exactly as it was.
    """
    import psycopg
    from psycopg import sql

    report = PlpgsqlReport()
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise GateError(f"plpgsql_check: cannot connect ({_one_line(str(exc), 160)})") from None
    with conn, conn.transaction(force_rollback=True):
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
        except psycopg.Error as exc:
            raise GateError(
                f"plpgsql_check: the extension cannot be created ({_one_line(str(exc), 160)});"
                " install it on the server (postgresql-15-plpgsql-check) and connect as a superuser"
            ) from None
        row = conn.execute(
            "SELECT n.nspname FROM pg_catalog.pg_extension AS e"
            " JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace WHERE e.extname = 'plpgsql_check'"
        ).fetchone()
        assert row is not None
        check = sql.SQL(
            "SELECT level, lineno, message, detail, hint, query"
            " FROM {}.plpgsql_check_function_tb(%s::oid::regprocedure, %s::oid::regclass,"
            " fatal_errors => false, other_warnings => true, performance_warnings => false,"
            " extra_warnings => false, security_warnings => true)"
        ).format(sql.Identifier(row[0]))
        for function, funcoid, is_trigger, relation, relid in conn.execute(_TARGETS_SQL, (list(schemas),)):
            if is_trigger and relid is None:
                report.warnings.append(
                    PlpgsqlIssue(function, None, "warning", None, "not checked: no trigger uses this trigger function")
                )
                continue
            target = f"{function} on {relation}" if is_trigger else function
            try:
                with conn.transaction():  # a savepoint: one function that breaks the checker spoils nothing else
                    rows = conn.execute(check, (funcoid, relid if is_trigger else 0)).fetchall()
            except psycopg.Error as exc:
                rows = [("error", None, f"plpgsql_check failed: {_one_line(str(exc), 160)}", None, None, None)]
            report.checked.append(target)
            for level, lineno, message, detail, hint, query in rows:
                issue = PlpgsqlIssue(
                    function, relation if is_trigger else None, level, lineno, message, detail, hint, query
                )
                (report.errors if level == "error" else report.warnings).append(issue)
    return report


def plpgsql_check_database(dsn: str, schemas: Sequence[str]) -> list[PlpgsqlIssue]:
    """The errors plpgsql_check finds in the PL/pgSQL functions of `schemas`; see plpgsql_check_report."""
    return plpgsql_check_report(dsn, schemas).errors


# --------------------------------------------------------------------------- Pentaho: the structural gate (pentaho/)
# No PDI runs here. The rendered transformations and job must be what Spoon opens and Carte runs: well-formed, every
# hop and connection resolvable, every ${VAR} declared, and their embedded SQL parsing through the gates above
# (generators/pentaho_check.py has the checks; it imports this module, hence the import inside the function).


def pentaho_failures(root: Path = ROOT) -> list[GateFailure]:
    """Structural failures of every file in pentaho/ (none when the directory has not been rendered yet)."""
    from generators.pentaho_check import check_directory

    directory = root / "pentaho"
    return check_directory(directory) if directory.is_dir() else []


# --------------------------------------------------------------------------- command line


def _postgres_models(root: Path) -> list[StoreModel]:
    manifest = load_manifest(root / "sql" / "manifest.json")
    return [
        load_model(root / entry["model"], root=root)
        for _, entry in sorted(manifest["stores"].items())
        if entry["dialect"] == "postgresql"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.gates", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--plpgsql-dsn",
        metavar="URL",
        help="also run plpgsql_check on this database, where the PostgreSQL stores are already deployed",
    )
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        files = manifest_files(args.root)
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: sql/manifest.json: cannot read it ({exc}); run make render", file=sys.stderr)
        return 1
    failures: list[str] = []
    console = Console(stderr=True)
    for rel, dialect in track(files, "gates", console=console, transient=True, disable=not console.is_terminal):
        path = args.root / rel
        if not path.is_file():
            failures.append(f"{rel}: listed in sql/manifest.json but missing (run make render)")
            continue
        failures.extend(str(f) for f in check_file(path, dialect, rel))
    failures.extend(str(f) for f in pentaho_failures(args.root))  # pentaho/: see the Pentaho section
    checked = ""
    if args.plpgsql_dsn:
        try:
            models = _postgres_models(args.root)
            report = plpgsql_check_report(args.plpgsql_dsn, [s.name for m in models for s in m.schemas])
        except (GateError, ModelError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if not report.checked and any(m.routines for m in models):
            # A wrong URL must not pass as "nothing to complain about".
            failures.append("plpgsql_check: no PL/pgSQL function found in the database; is the store deployed there?")
        failures.extend(f"plpgsql_check: {issue}" for issue in report.errors)
        for issue in report.warnings:
            print(f"plpgsql_check: {issue}")
        checked = f", {len(report.checked)} PL/pgSQL checks ({len(report.warnings)} warnings)"
    for line in failures:
        print(line)
    elapsed = time.perf_counter() - started
    verdict = "FAILED" if failures else "ok"
    print(f"gates: {verdict}: {len(files)} files{checked}, {len(failures)} failures in {elapsed:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
