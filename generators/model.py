"""Load, validate and cross-check the YAML data model before any template sees it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA_VERSION = 1
"""The model-schema version this loader understands; every model file declares it."""

IDENT = r"^[a-z][a-z0-9_]{0,62}$"
TSQL_IDENT = r"^[A-Za-z][A-Za-z0-9_]{0,127}$"
ENV_VAR_NAME = r"^[A-Z][A-Z0-9_]{2,127}$"
"""An environment variable that holds a secret at deploy time (the model names it; the value never is in the repo)."""

Dialect = Literal["postgresql", "tsql"]


class ModelError(Exception):
    """A model file is invalid; the message is one line: file, path, problem."""

    def __init__(self, file: str, path: str, problem: str) -> None:
        self.file, self.path, self.problem = file, path, problem
        where = f"{file}: {path}: " if path else f"{file}: "
        super().__init__(f"{where}{problem}")


# --------------------------------------------------------------------------- types

_PG_TYPES: dict[str, str] = {
    # name -> regex for the optional "(...)" suffix ("" = no parameters allowed)
    "smallint": "",
    "integer": "",
    "bigint": "",
    "numeric": r"\(\d{1,4}(,\s*\d{1,4})?\)",
    "real": "",
    "double precision": "",
    "boolean": "",
    "text": "",
    "varchar": r"\(\d{1,5}\)",
    "char": r"\(\d{1,5}\)",
    "date": "",
    "timestamptz": "",
    "timestamp": "",
    "interval": "",
    "jsonb": "",
    "uuid": "",
    "bytea": "",
    "inet": "",
    "citext": "",
}
_TSQL_TYPES: dict[str, str] = {
    "tinyint": "",
    "smallint": "",
    "int": "",
    "bigint": "",
    "bit": "",
    "decimal": r"\(\d{1,2}(,\s*\d{1,2})?\)",
    "numeric": r"\(\d{1,2}(,\s*\d{1,2})?\)",
    "money": "",
    "float": "",
    "real": "",
    "date": "",
    "datetime2": r"\([0-7]\)",
    "datetimeoffset": r"\([0-7]\)",
    "time": r"\([0-7]\)",
    "char": r"\(\d{1,4}\)",
    "varchar": r"\((\d{1,4}|max)\)",
    "nchar": r"\(\d{1,4}\)",
    "nvarchar": r"\((\d{1,4}|max)\)",
    "varbinary": r"\((\d{1,4}|max)\)",
    "binary": r"\(\d{1,4}\)",
    "uniqueidentifier": "",
    "rowversion": "",
    "geography": "",
    "xml": "",
    "sysname": "",
}
DIALECT_TYPES: dict[str, dict[str, str]] = {"postgresql": _PG_TYPES, "tsql": _TSQL_TYPES}
DIALECT_NAMES = {"postgresql": "PostgreSQL", "tsql": "T-SQL"}


def check_type(dialect: str, type_: str) -> str | None:
    """Return None when `type_` is valid for `dialect`, else the problem as one phrase."""
    text = type_.strip()
    array = dialect == "postgresql" and text.endswith("[]")
    if array:
        text = text[:-2]
    for name, params in DIALECT_TYPES[dialect].items():
        if text.lower() == name:
            return None
        if params and text.lower().startswith(name) and re.fullmatch(params, text[len(name) :].strip(), re.I):
            return None
    known = ", ".join(sorted(DIALECT_TYPES[dialect]))
    return f"unknown {DIALECT_NAMES[dialect]} type {type_!r} (known: {known})"


# --------------------------------------------------------------------------- schema


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(Strict):
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    identity: bool = False
    description: str = ""
    pii: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(TSQL_IDENT, v):
            raise ValueError(f"invalid column name {v!r}")
        return v


class ForeignKey(Strict):
    columns: list[str] = Field(min_length=1)
    references: str = Field(description="schema.table")
    ref_columns: list[str] = Field(min_length=1)
    on_delete: Literal["no action", "cascade", "set null", "restrict"] = "no action"
    name: str | None = None


class Index(Strict):
    name: str
    columns: list[str] = Field(
        min_length=1,
        description="key columns, each optionally followed by DESC; PostgreSQL also takes an expression in"
        ' parentheses, e.g. "(lower(brand_name))", whose column references are checked',
    )
    unique: bool = False
    include: list[str] = []
    where: str | None = None
    purpose: str = ""


class Check(Strict):
    name: str
    expression: str


class Trigger(Strict):
    name: str
    timing: Literal["before", "after"]
    events: list[Literal["insert", "update", "delete"]] = Field(min_length=1)
    function: str = Field(description="schema.function of a routine declared in this model")
    purpose: str = ""


class PartitionBy(Strict):
    scheme: str = Field(description="a partition scheme declared under partitions")
    column: str


class MonthlyPartitions(Strict):
    """A RANGE RIGHT partition function with one boundary per month, and its scheme (T-SQL)."""

    function: str
    scheme: str
    first_month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM of the first boundary")
    last_month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM of the last boundary")
    filegroup: str = "PRIMARY"
    purpose: str

    @property
    def boundaries(self) -> list[str]:
        """The first day of every month from first_month to last_month, as ISO dates."""
        year, month = (int(x) for x in self.first_month.split("-"))
        end = tuple(int(x) for x in self.last_month.split("-"))
        out = []
        while (year, month) <= end:
            out.append(f"{year:04d}-{month:02d}-01")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out


class Table(Strict):
    name: str
    schema_: str = Field(alias="schema")
    description: str
    columns: list[Column] = Field(min_length=1)
    primary_key: list[str] = Field(min_length=1)
    unique: list[list[str]] = []
    checks: list[Check] = []
    foreign_keys: list[ForeignKey] = []
    indexes: list[Index] = []
    triggers: list[Trigger] = []
    audited: bool = False
    updated_at: str | None = Field(default=None, description="column kept current by the updated_at trigger")
    rows: list[dict[str, Any]] = Field(default=[], description="reference rows deployed with the schema")
    partition_by: PartitionBy | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema_}.{self.name}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


class TableType(Strict):
    """A user-defined table type: the shape of a table-valued parameter (T-SQL)."""

    name: str
    schema_: str = Field(alias="schema")
    description: str
    columns: list[Column] = Field(min_length=1)
    primary_key: list[str] = []

    @property
    def qualified(self) -> str:
        return f"{self.schema_}.{self.name}"


class DatabaseSettings(Strict):
    """Server-level settings of the store's database; rendered as the first, non-transactional deploy step."""

    create: bool = Field(default=False, description="create the database when it does not exist")
    query_store: bool = Field(default=False, description="enable Query Store (T-SQL) for performance monitoring")
    recovery_model: Literal["FULL", "SIMPLE"] | None = None


class Routine(Strict):
    name: str
    schema_: str = Field(alias="schema")
    kind: Literal["function", "procedure", "trigger_function", "view"] = "function"
    template: str = Field(description="path under templates/<dialect>/ of the routine's body")
    description: str

    @property
    def qualified(self) -> str:
        return f"{self.schema_}.{self.name}"


class Grant(Strict):
    privileges: list[str] = Field(min_length=1)
    schemas: list[str] = []
    tables: list[str] = []
    routines: list[str] = []
    types: list[str] = Field(default=[], description="table types (T-SQL): EXECUTE on a type lets a caller pass it")


class Role(Strict):
    name: str
    description: str
    grants: list[Grant] = []
    revokes: list[Grant] = []


class Schema(Strict):
    name: str
    description: str


class Conventions(Strict):
    audit_function: str | None = None
    updated_at_function: str | None = None


class Script(Strict):
    name: str
    template: str
    topic: str


# --------------------------------------------------------------------------- encryption (T-SQL)


def _tsql_name(value: str) -> str:
    if not re.match(TSQL_IDENT, value):
        raise ValueError(f"invalid identifier {value!r}")
    return value


def _secret_name(value: str) -> str:
    if not re.match(ENV_VAR_NAME, value):
        raise ValueError(f"invalid secret name {value!r} (an environment variable: upper case, digits and _)")
    return value


def _server_directory(value: str) -> str:
    if not re.fullmatch(r"(?:/[^/'\x00-\x1f]+)+|[A-Za-z]:(?:\\[^\\'\x00-\x1f]+)+", value):
        raise ValueError(f"invalid directory {value!r} (absolute, no quote, no trailing separator)")
    return value


TsqlName = Annotated[str, AfterValidator(_tsql_name)]
SecretName = Annotated[str, AfterValidator(_secret_name)]


class DatabaseMasterKey(Strict):
    """The database master key: protects the certificates' private keys; its password arrives at deploy time."""

    password_secret: SecretName


class Certificate(Strict):
    """A self-signed X.509 certificate the engine creates, its private key protected by its database's master key."""

    name: TsqlName
    subject: str = Field(min_length=1, max_length=128)
    expiry_date: date


class SymmetricKey(Strict):
    """The column key: random key material that exists only inside the database, protected by the certificate."""

    name: TsqlName
    algorithm: Literal["AES_256"]


class ServerCertificate(Certificate):
    """A certificate in master that encrypts the backups; exported with its private key to restore elsewhere."""

    master_key_password_secret: SecretName = Field(description="password of master's database master key")
    backup_password_secret: SecretName = Field(description="password that encrypts the exported private key")
    backup_directory: Annotated[str, AfterValidator(_server_directory)] = Field(
        description="server-side directory of the backup and certificate files"
    )


class LookupHmac(Strict):
    """The HMAC key of an exact-lookup column: a deploy-time secret, stored encrypted by the column key."""

    secret: SecretName
    key_table: str = Field(description="schema.table holding the encrypted key (columns key_name, key_enc)")
    key_name: str = Field(default="national_id", pattern=r"^[a-z][a-z0-9_]{0,39}$")


class Encryption(Strict):
    """Column encryption (T-SQL): master key -> certificate -> AES-256 key, and a server certificate for backups."""

    database_master_key: DatabaseMasterKey
    certificate: Certificate
    symmetric_key: SymmetricKey
    server_certificate: ServerCertificate
    hmac: LookupHmac | None = None
    decrypt_roles: list[TsqlName] = Field(default=[], description="roles granted the key permissions decryption needs")


class StoreModel(Strict):
    schema_version: int
    store: str
    dialect: Dialect
    database: str
    description: str
    extensions: list[str] = []
    database_settings: DatabaseSettings = DatabaseSettings()
    schemas: list[Schema] = Field(min_length=1)
    partitions: list[MonthlyPartitions] = []
    conventions: Conventions = Conventions()
    table_types: list[TableType] = []
    tables: list[Table] = []
    routines: list[Routine] = []
    roles: list[Role] = []
    scripts: list[Script] = Field(default=[], description="explanatory scripts rendered beside the schema")
    encryption: Encryption | None = None

    @field_validator("table_types", "tables", "routines", "roles", "scripts", "partitions", mode="before")
    @classmethod
    def _empty_list(cls, value: Any) -> Any:
        """A list key holding only comments reads as null in YAML: treat it as empty."""
        return [] if value is None else value

    # derived views used by templates -------------------------------------------------
    @cached_property
    def table_map(self) -> dict[str, Table]:
        return {t.qualified: t for t in self.tables}

    @cached_property
    def routine_map(self) -> dict[str, Routine]:
        return {r.qualified: r for r in self.routines}

    def all_triggers(self, table: Table) -> list[Trigger]:
        """The table's triggers, with the audit and updated_at conventions expanded."""
        out: list[Trigger] = []
        if table.updated_at and self.conventions.updated_at_function:
            out.append(
                Trigger(
                    name=f"trg_{table.name}_touch_updated_at",
                    timing="before",
                    events=["update"],
                    function=self.conventions.updated_at_function,
                    purpose=f"keeps {table.updated_at} current",
                )
            )
        out.extend(table.triggers)
        if table.audited and self.conventions.audit_function:
            out.append(
                Trigger(
                    name=f"trg_{table.name}_audit",
                    timing="after",
                    events=["insert", "update", "delete"],
                    function=self.conventions.audit_function,
                    purpose="writes every change to the audit log",
                )
            )
        return out

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))


# --------------------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate mapping keys instead of silently keeping the last."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=deep)  # type: ignore[no-untyped-call]
    return seen


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _friendly_loc(raw: Any, loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic location into `tables.campaigns.columns[3].type` (named lists by name)."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            name = (
                node[item].get("name")
                if isinstance(node, list) and item < len(node) and isinstance(node[item], dict)
                else None
            )
            if name and parts and parts[-1] in {"tables", "routines", "roles", "schemas", "scripts", "table_types"}:
                parts[-1] = f"{parts[-1]}.{name}"
            else:
                parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def _table_path(model: StoreModel, table: Table) -> str:
    return f"tables.{table.name}"


def _problems(model: StoreModel) -> Iterator[tuple[str, str]]:
    """Cross-reference checks the schema alone cannot express; yields (path, problem)."""
    ident = IDENT if model.dialect == "postgresql" else TSQL_IDENT
    schema_names = [s.name for s in model.schemas]
    for i, name in enumerate(schema_names):
        if schema_names.index(name) != i:
            yield f"schemas[{i}].name", f"duplicate schema {name!r}"
        if not re.match(ident, name):
            yield f"schemas[{i}].name", f"invalid identifier {name!r}"

    seen_tables: set[str] = set()
    object_names: dict[str, str] = {}
    for table in model.tables:
        tp = _table_path(model, table)
        if not re.match(ident, table.name):
            yield f"{tp}.name", f"invalid identifier {table.name!r}"
        if table.qualified in seen_tables:
            yield tp, f"duplicate table {table.qualified!r}"
        seen_tables.add(table.qualified)
        if table.schema_ not in schema_names:
            yield f"{tp}.schema", f"unknown schema {table.schema_!r} (declared: {', '.join(schema_names)})"
        cols: list[str] = []
        for ci, col in enumerate(table.columns):
            cp = f"{tp}.columns[{ci}]"
            if col.name in cols:
                yield f"{cp}.name", f"duplicate column {col.name!r} in table {table.qualified}"
            cols.append(col.name)
            if model.dialect == "postgresql" and not re.match(IDENT, col.name):
                yield f"{cp}.name", f"invalid identifier {col.name!r} (lower_snake_case expected)"
            problem = check_type(model.dialect, col.type)
            if problem:
                yield f"{cp}.type", problem
            if col.identity and col.type.lower() not in {"smallint", "integer", "bigint", "int"}:
                yield f"{cp}.identity", f"identity needs an integer type, not {col.type!r}"
        for ki, key in enumerate(table.primary_key):
            if key not in cols:
                yield f"{tp}.primary_key[{ki}]", f"unknown column {key!r} in table {table.qualified}"
        for ui, group in enumerate(table.unique):
            for key in group:
                if key not in cols:
                    yield f"{tp}.unique[{ui}]", f"unknown column {key!r} in table {table.qualified}"
        if table.partition_by:
            schemes = [p.scheme for p in model.partitions]
            if table.partition_by.scheme not in schemes:
                yield f"{tp}.partition_by.scheme", f"unknown partition scheme {table.partition_by.scheme!r}"
            if table.partition_by.column not in cols:
                yield f"{tp}.partition_by.column", f"unknown column {table.partition_by.column!r}"
            keys = [("primary_key", table.primary_key), *(("unique", u) for u in table.unique)]
            for key_name, key_columns in keys:
                if table.partition_by.column not in key_columns:
                    # An aligned unique index must contain the partitioning column, or SQL Server refuses it.
                    yield f"{tp}.{key_name}", f"must include the partitioning column {table.partition_by.column!r}"
        if table.updated_at and table.updated_at not in cols:
            yield f"{tp}.updated_at", f"unknown column {table.updated_at!r} in table {table.qualified}"
        for fi, fk in enumerate(table.foreign_keys):
            fp = f"{tp}.foreign_keys[{fi}]"
            for key in fk.columns:
                if key not in cols:
                    yield f"{fp}.columns", f"unknown column {key!r} in table {table.qualified}"
            target = model.table_map.get(fk.references)
            if target is None:
                yield f"{fp}.references", f"unknown table {fk.references!r}"
                continue
            if len(fk.columns) != len(fk.ref_columns):
                yield fp, f"{len(fk.columns)} columns reference {len(fk.ref_columns)} columns"
            for key in fk.ref_columns:
                if target.column(key) is None:
                    yield f"{fp}.ref_columns", f"unknown column {key!r} in table {target.qualified}"
            if fk.ref_columns != target.primary_key and fk.ref_columns not in target.unique:
                yield (
                    f"{fp}.ref_columns",
                    f"{fk.ref_columns} is not the primary key or a unique key of {target.qualified}",
                )
        for xi, idx in enumerate(table.indexes):
            xp = f"{tp}.indexes[{xi}]"
            for key in [*idx.columns, *idx.include]:
                if key.startswith("("):  # an expression key, e.g. "(lower(brand_name))" (PostgreSQL)
                    yield from _expression_key_problems(key, key in idx.include, cols, xp, model.dialect)
                elif key.split()[0] not in cols:
                    yield f"{xp}", f"unknown column {key.split()[0]!r} in table {table.qualified}"
        if model.dialect == "tsql" and (table.triggers or table.audited or table.updated_at):
            # T-SQL triggers are routines (CREATE OR ALTER TRIGGER in a routine template), not table shortcuts.
            yield tp, "triggers, audited and updated_at are PostgreSQL-only; declare a T-SQL trigger as a routine"
        for ti, trg in enumerate(model.all_triggers(table)):
            if trg.function not in model.routine_map:
                yield f"{tp}.triggers[{ti}].function", f"unknown routine {trg.function!r}"
        constraint_names = [
            *(idx.name for idx in table.indexes),
            *(c.name for c in table.checks),
            *(fk.name for fk in table.foreign_keys if fk.name),
            *(t.name for t in model.all_triggers(table)),
        ]
        for name in constraint_names:
            key = f"{table.schema_}.{name}"
            if key in object_names:
                yield tp, f"duplicate object name {name!r} (also in {object_names[key]})"
            object_names[key] = table.qualified
        for ri, row in enumerate(table.rows):
            for key in row:
                if key not in cols:
                    yield f"{tp}.rows[{ri}].{key}", f"unknown column {key!r} in table {table.qualified}"

    type_names: list[str] = []
    for table_type in model.table_types:
        yp = f"table_types.{table_type.name}"
        if model.dialect != "tsql":
            yield yp, "table types are T-SQL only (PostgreSQL functions take arrays or composite types)"
        if table_type.schema_ not in schema_names:
            yield f"{yp}.schema", f"unknown schema {table_type.schema_!r} (declared: {', '.join(schema_names)})"
        if table_type.qualified in type_names or table_type.qualified in model.table_map:
            yield yp, f"duplicate name {table_type.qualified!r}"
        type_names.append(table_type.qualified)
        type_cols: list[str] = []
        for ci, col in enumerate(table_type.columns):
            cp = f"{yp}.columns[{ci}]"
            if col.name in type_cols:
                yield f"{cp}.name", f"duplicate column {col.name!r} in table type {table_type.qualified}"
            type_cols.append(col.name)
            problem = check_type(model.dialect, col.type)
            if problem:
                yield f"{cp}.type", problem
            elif col.type.lower() == "rowversion" or col.identity:
                yield f"{cp}.type", "a table type column cannot be rowversion or identity"
        for ki, key in enumerate(table_type.primary_key):
            if key not in type_cols:
                yield f"{yp}.primary_key[{ki}]", f"unknown column {key!r} in table type {table_type.qualified}"
    for pi, part in enumerate(model.partitions):
        if model.dialect != "tsql":
            yield f"partitions[{pi}]", "monthly partitions are rendered for T-SQL only"
        if part.first_month > part.last_month:
            yield f"partitions[{pi}].last_month", f"{part.last_month} precedes first_month {part.first_month}"
    if model.dialect == "postgresql" and (
        model.database_settings.query_store or model.database_settings.recovery_model
    ):
        yield "database_settings", "query_store and recovery_model are SQL Server settings"

    for ri, routine in enumerate(model.routines):
        if routine.schema_ not in schema_names:
            yield f"routines.{routine.name}.schema", f"unknown schema {routine.schema_!r}"
        if [r.qualified for r in model.routines].index(routine.qualified) != ri:
            yield f"routines.{routine.name}", f"duplicate routine {routine.qualified!r}"
    for conv in ("audit_function", "updated_at_function"):
        value = getattr(model.conventions, conv)
        if value and value not in model.routine_map:
            yield f"conventions.{conv}", f"unknown routine {value!r}"

    role_names = [r.name for r in model.roles]
    yield from _encryption_problems(model, role_names)
    for role in model.roles:
        rp = f"roles.{role.name}"
        if role_names.count(role.name) > 1:
            yield rp, f"duplicate role {role.name!r}"
        for kind, grants in (("grants", role.grants), ("revokes", role.revokes)):
            for gi, grant in enumerate(grants):
                gp = f"{rp}.{kind}[{gi}]"
                for s in grant.schemas:
                    if s not in schema_names:
                        yield f"{gp}.schemas", f"unknown schema {s!r}"
                for t in grant.tables:
                    if t not in model.table_map:
                        yield f"{gp}.tables", f"unknown table {t!r}"
                for r in grant.routines:
                    if r not in model.routine_map:
                        yield f"{gp}.routines", f"unknown routine {r!r}"
                for y in grant.types:
                    if y not in {tt.qualified for tt in model.table_types}:
                        yield f"{gp}.types", f"unknown table type {y!r}"
                if not (grant.schemas or grant.tables or grant.routines or grant.types):
                    yield gp, "names no schema, table or routine"


def _expression_key_problems(
    key: str, in_include: bool, cols: Iterable[str], path: str, dialect: str
) -> Iterator[tuple[str, str]]:
    """An index key that is an expression in parentheses: PostgreSQL only, a key (not an INCLUDE column), parsed
    by pglast, and reading only columns of its table."""
    if dialect != "postgresql":
        yield path, f"expression index key {key!r}: expression keys are PostgreSQL-only"
        return
    if in_include:
        yield path, f"expression {key!r} cannot be an INCLUDE column"
        return
    import pglast
    from pglast import ast
    from pglast.visitors import Visitor

    try:
        tree = pglast.parse_sql(f"SELECT {key} FROM t")
    except pglast.parser.ParseError as exc:
        yield path, f"expression index key {key!r} does not parse: {exc}"
        return
    names: list[str] = []

    class Columns(Visitor):  # type: ignore[misc]
        def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:  # the name is pglast's API
            names.append(".".join(getattr(f, "sval", "*") for f in node.fields or ()))

    Columns()(tree)
    known = set(cols)
    for name in names:
        if name not in known:
            yield path, f"expression index key {key!r}: unknown column {name!r}"
    if not names:
        yield path, f"expression index key {key!r} reads no column"


def _encryption_problems(model: StoreModel, role_names: list[str]) -> Iterator[tuple[str, str]]:
    enc = model.encryption
    if enc is None:
        return
    if model.dialect != "tsql":
        yield "encryption", "column encryption (master key, certificate, symmetric key) is rendered for T-SQL only"
    names = {
        "certificate.name": enc.certificate.name,
        "symmetric_key.name": enc.symmetric_key.name,
        "server_certificate.name": enc.server_certificate.name,
    }
    for where, name in names.items():
        if list(names.values()).count(name) > 1:
            yield f"encryption.{where}", f"{name!r} names two encryption objects"
    for ri, role in enumerate(enc.decrypt_roles):
        if role not in role_names:
            yield f"encryption.decrypt_roles[{ri}]", f"unknown role {role!r} (declared: {', '.join(role_names)})"
    if enc.hmac:
        table = model.table_map.get(enc.hmac.key_table)
        if table is None:
            yield "encryption.hmac.key_table", f"unknown table {enc.hmac.key_table!r}"
        else:
            for column in ("key_name", "key_enc"):
                if table.column(column) is None:
                    yield "encryption.hmac.key_table", f"table {table.qualified} has no column {column!r}"


M = TypeVar("M", bound=BaseModel)

SQL_DIALECTS = frozenset({"postgresql", "tsql"})


def read_model_file(path: Path, *, root: Path | None = None) -> tuple[dict[str, Any], str]:
    """The YAML mapping of a model file and the name to show in errors; checks the schema version."""
    shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - safe subclass
    except OSError as exc:
        raise ModelError(shown, "", f"cannot read: {exc.strerror}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ModelError(shown, where, f"invalid YAML: {exc.problem}") from None
    if not isinstance(raw, dict):
        raise ModelError(shown, "", "the top level must be a mapping")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ModelError(
            shown, "schema_version", f"unsupported schema_version {version!r} (this tool reads {SCHEMA_VERSION})"
        )
    return raw, shown


def validate_model(
    raw: dict[str, Any], shown: str, cls: type[M], problems: Callable[[M], Iterable[tuple[str, str]]]
) -> M:
    """Validate `raw` against the schema `cls`, then run the cross-reference `problems`; the first defect raises."""
    try:
        model = cls.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        raise ModelError(shown, _friendly_loc(raw, tuple(err["loc"])), msg) from None
    for where, problem in problems(model):
        raise ModelError(shown, where, problem)
    return model


def load_model(path: Path, *, root: Path | None = None) -> StoreModel:
    """Load one SQL store's model file; raise ModelError (one line: file, path, problem) on any defect."""
    raw, shown = read_model_file(path, root=root)
    if raw.get("dialect") not in SQL_DIALECTS and raw.get("dialect") in _other_dialects():
        raise ModelError(shown, "dialect", f"{raw['dialect']!r} is not a SQL dialect (load it with load_any_model)")
    return validate_model(raw, shown, StoreModel, _problems)


def _other_dialects() -> dict[str, Callable[[dict[str, Any], str], BaseModel]]:
    """The loaders of the stores that are not SQL databases, by dialect (imported here: they import this module)."""
    from generators.model_cache import load_cache_model
    from generators.model_content import load_content_model
    from generators.model_etl import load_etl_model

    return {"mongodb": load_content_model, "redis": load_cache_model, "etl": load_etl_model}


def load_any_model(path: Path, *, root: Path | None = None) -> BaseModel:
    """Load a model file of any store: SQL (StoreModel), MongoDB (ContentModel) or Redis (CacheModel)."""
    raw, shown = read_model_file(path, root=root)
    loader = _other_dialects().get(str(raw.get("dialect")))
    if loader is not None:
        return loader(raw, shown)
    return validate_model(raw, shown, StoreModel, _problems)


def load_models(model_dir: Path, *, root: Path | None = None) -> list[Any]:
    """Load every store model in `model_dir` (one file per store), sorted by store name.

    A model that refers to other stores (the ETL mapping) is checked against them once all are loaded."""
    paths = sorted(model_dir.glob("*.yaml"))
    models: list[Any] = [load_any_model(path, root=root) for path in paths]
    stores = [m.store for m in models]
    for m in models:
        if stores.count(m.store) > 1:
            raise ModelError(str(model_dir), "store", f"store {m.store!r} is declared by more than one file")
    by_store = {m.store: m for m in models}
    for path, model in zip(paths, models, strict=True):
        cross = getattr(model, "cross_problems", None)
        if cross is None:
            continue
        shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
        for where, problem in cross(by_store):
            raise ModelError(shown, where, problem)
    return sorted(models, key=lambda m: m.store)
