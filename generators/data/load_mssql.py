"""Load generated tables into PromptAds and PromptCrm (SQL Server) with pytds bulk copy, resumably and idempotently.

    from generators.data.load_mssql import connector, load_tables
    results = load_tables(connector("crm"), crm_tables)          # list[LoadResult], one per table

The bulk path
-------------
pytds offers three ways to send many rows: `cursor.executemany` (one RPC round trip per row), table-valued
parameters (one RPC per batch, but the rows land in a table variable that an INSERT ... SELECT must copy again) and
`cursor.copy_to(..., data=rows)`, which sends the TDS bulk-load stream (`INSERT BULK` followed by a BULK packet of
rows) exactly as bcp and SqlBulkCopy do: no per-row parsing, no per-row round trip, rows streamed straight into the
target table. That is the fastest correct path, so every batch goes through it, with these options:

- CHECK_CONSTRAINTS and FIRE_TRIGGERS: without them a bulk load skips CHECK and FOREIGN KEY constraints and marks
  them untrusted afterwards (the optimizer then stops relying on them); with them a batch behaves like an INSERT.
- KEEP_NULLS: a NULL stays NULL, as with INSERT; columns the generator leaves out get their defaults.
- no TABLOCK: both databases use the FULL recovery model, so a table lock would buy no minimal logging, only block
  the delta ETL for the duration of the batch.
- explicit identity values (`TableData.explicit_identity`): `SET IDENTITY_INSERT <table> ON` around the load and the
  identity column in the bulk column list - what FreeTDS's bcp does for `-E`; SqlBulkCopy's KeepIdentity is the
  same column list (pytds has no keep-identity option of its own).
- rowversion columns are never sent (the engine fills them; a value would be refused), nor is any column the model
  does not declare.
- value types: integers, bits, dates and datetime2 travel as their own TDS types; strings as NVARCHAR of the
  column's length (UTF-16 needs no code page; the server converts to varchar/char on arrival, as for the project's
  TVPs); decimals as their exact decimal text, quantized to the column's scale here - pytds's decimal writer
  truncates digits beyond the scale silently and writes zero with a negative sign, so the exact text is the safer
  wire form, and the server converts a bulk column's declared type to the table's as an INSERT does (pytds's own
  default declares every bulk column NVARCHAR(4000)); binary as VARBINARY (pytds's BINARY writer cannot be built
  without a size). Values are checked against their column type before anything of a batch is sent.

Server-side transforms (`TableData.server_side`)
------------------------------------------------
`crm.clients` arrives with plaintext `national_id` and `context_json`. Each batch is bulk-loaded into a session
temp table `#clients_batch`; the national-ID HMAC is computed there with `sec.fn_NationalIdHmac`; every row is
checked as `sec.CRMSP_SetClientSensitiveData` checks it (country, normalized ID, JSON context of at most 3,500
characters, an HMAC key that decrypts) and then, between OPEN SYMMETRIC KEY ... DECRYPTION BY CERTIFICATE and CLOSE
SYMMETRIC KEY, `INSERT INTO crm.clients ... SELECT` encrypts exactly what the procedure encrypts: the *normalized*
national ID (varchar) and the context as NVARCHAR(3500), each with the client id as authenticator, so
`sec.fn_ClientSensitiveData`, `sec.v_clients_masked` and `sec.fn_FindClientByNationalId` work on seeded clients.
The temp table is dropped in the same transaction; plaintext never lands in a permanent table. Key and certificate
names come from model/crm.yaml's encryption section. `crm.client_locations` goes through the same staging so that
`location = geography::Point(latitude, longitude, 4326)` is computed on the server.

Resumability
------------
`ops.seed_batches (store, table_name, batch_no, rows, sha256, loaded_at)` is created in each database when missing.
Every batch runs in ONE transaction: ledger check (locked with UPDLOCK, HOLDLOCK), load, ledger record, commit - so
a failure mid-table commits nothing of the failing batch (XACT_ABORT is on: any error rolls it back whole). A re-run
regenerates each batch (same seed, same bytes), skips those the ledger records with the same row count and
SHA-256, loads the rest and so completes the table; a ledger entry that differs raises SeedLedgerMismatch.

CLI: `python -m generators.data.load_mssql --store ads|crm --seed N --scale small|full` (URL from
PROMPTSALES_ADS_URL / PROMPTSALES_CRM_URL; generators.data.world is imported only then). See
docs/seeding-sqlserver-mongodb.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pytds
from pytds import tds_types

from generators.data.tables import (
    Batch,
    LoadResult,
    SeedLedgerMismatch,
    SeedLoadError,
    TableData,
    batch_length,
    batch_sha256,
)
from generators.deploy import ROOT, set_autocommit
from generators.model import StoreModel, Table, load_model

log = logging.getLogger(__name__)

SQL_STORES = ("ads", "crm")
DEFAULT_BATCH_ROWS = 50_000
LEDGER = "ops.seed_batches"

SESSION_SETTINGS = (
    # XACT_ABORT: any error rolls the whole batch transaction back, never leaving half a batch to commit.
    # The other seven are what indexed views demand of every INSERT into their base tables (sales.sales,
    # crm.client_campaigns; error 1934 otherwise): set here so the load does not depend on a driver's defaults.
    "SET NOCOUNT ON; SET XACT_ABORT ON; SET ANSI_NULLS ON; SET ANSI_PADDING ON; SET ANSI_WARNINGS ON;"
    " SET ARITHABORT ON; SET CONCAT_NULL_YIELDS_NULL ON; SET QUOTED_IDENTIFIER ON; SET NUMERIC_ROUNDABORT OFF;"
)

LEDGER_DDL = """
IF SCHEMA_ID(N'ops') IS NULL
    THROW 59100, N'This database has no ops schema: deploy the store first (generators.deploy), then load.', 1;
IF OBJECT_ID(N'ops.seed_batches', N'U') IS NULL
BEGIN
    CREATE TABLE ops.seed_batches (
        store varchar(20) NOT NULL,
        table_name sysname NOT NULL,
        batch_no int NOT NULL,
        [rows] int NOT NULL,
        sha256 char(64) NOT NULL,
        loaded_at datetime2(3) NOT NULL CONSTRAINT df_seed_batches_loaded_at DEFAULT SYSUTCDATETIME(),
        CONSTRAINT pk_seed_batches PRIMARY KEY (store, table_name, batch_no)
    );
END;
"""

# UPDLOCK, HOLDLOCK: a second loader of the same batch waits here until the first commits, then sees its record.
LEDGER_LOOKUP = (
    "SELECT [rows], sha256 FROM ops.seed_batches WITH (UPDLOCK, HOLDLOCK)"
    " WHERE store = %s AND table_name = %s AND batch_no = %s;"
)
LEDGER_RECORD = (
    "INSERT INTO ops.seed_batches (store, table_name, batch_no, [rows], sha256) VALUES (%s, %s, %s, %s, %s);"
)
LEDGER_BEYOND = (
    "SELECT COUNT(*), MIN(batch_no) FROM ops.seed_batches WHERE store = %s AND table_name = %s AND batch_no > %s;"
)

NORMALIZE_FUNCTION = "sec.fn_NormalizeNationalId"
HMAC_FUNCTION = "sec.fn_NationalIdHmac"
CLIENT_CHECK_ERROR = 59101
"""THROWn when a seeded client breaks a rule of sec.CRMSP_SetClientSensitiveData (59100..59199: this loader)."""
CLIENT_RULES: tuple[tuple[str, str], ...] = (
    (
        "s.national_id_country IS NULL"
        " OR UPPER(s.national_id_country) COLLATE Latin1_General_100_BIN2 NOT LIKE '[A-Z][A-Z]'",
        "the national ID country must be a two-letter ISO code",
    ),
    (
        f"{NORMALIZE_FUNCTION}(s.national_id) IS NULL",
        "a national ID needs 4 to 20 letters or digits (spaces, dashes, dots and slashes are ignored)",
    ),
    (
        "s.context_json IS NOT NULL AND (ISJSON(s.context_json) = 0 OR LEN(s.context_json) > 3500)",
        "the context must be a JSON text of at most 3,500 characters",
    ),
    (
        "s.national_id_hmac IS NULL",
        "the national-ID HMAC key cannot be decrypted: the database master key is not open on this server"
        " (see docs/crm-security.md)",
    ),
)
"""sec.CRMSP_SetClientSensitiveData's validations (55102..55105), in its order, as conditions over a staged row."""


# --------------------------------------------------------------------------- identifiers and helpers


def quote_name(name: str) -> str:
    """`schema.table` (or a #temp name) as bracket-quoted T-SQL identifiers."""
    return ".".join("[" + part.replace("]", "]]") + "]" for part in name.split("."))


def _nstring(text: str) -> str:
    return "N'" + text.replace("'", "''") + "'"


def _run(cur: Any, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    """Execute one batch, drain every result, return the rows of the first result set.

    pytds reports an error raised by a later statement of a batch only when its result is read, and drops it
    silently on the next execute otherwise; so every result is read.
    """
    if params is None:
        cur.execute(sql)  # a plain batch: SET IDENTITY_INSERT and #temp tables outlive it (not in sp_executesql)
    else:
        cur.execute(sql, params)
    first: list[tuple[Any, ...]] | None = None
    while True:
        if cur.description is not None:
            rows = [tuple(row) for row in cur.fetchall()]
            first = rows if first is None else first
        if not cur.nextset():
            return first or []


def error_detail(exc: BaseException) -> str:
    """The first line of an error, with SQL Server's error number when there is one."""
    text = str(getattr(exc, "text", "") or exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    number = getattr(exc, "number", 0) if isinstance(exc, pytds.Error) else 0
    return f"{first} (error {number})" if number else first


# --------------------------------------------------------------------------- values on the wire

Converter = Callable[[Any, str], list[Any]]


@dataclass(frozen=True)
class WireColumn:
    """A column as the bulk stream carries it: its INSERT BULK type, its staging type and its value converter."""

    name: str
    declaration: str
    """The model's T-SQL type."""
    wire: Any
    """The pytds type declared in INSERT BULK (pytds's serializer follows it)."""
    staging: str
    """The column's type in a staging temp table."""
    convert: Converter = field(repr=False)

    def bulk_column(self) -> Any:
        # Nullable on the wire, as pytds does by default: the table enforces NOT NULL.
        return pytds.Column(name=self.name, type=self.wire, flags=pytds.Column.fNullable)


_INTEGERS: Mapping[str, tuple[Any, int, int]] = {
    "tinyint": (tds_types.TinyIntType(), 0, 255),
    "smallint": (tds_types.SmallIntType(), -(2**15), 2**15 - 1),
    "int": (tds_types.IntType(), -(2**31), 2**31 - 1),
    "bigint": (tds_types.BigIntType(), -(2**63), 2**63 - 1),
}
_TEXT = re.compile(r"^(n?)(?:var)?char\((\d+|max)\)$")
_BINARY = re.compile(r"^(var)?binary\((\d+|max)\)$")
_DECIMAL = re.compile(r"^(?:decimal|numeric)\((\d+)\s*,\s*(\d+)\)$")
_DATETIME2 = re.compile(r"^datetime2(?:\((\d)\))?$")


def _listed(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _integers(low: int, high: int) -> Converter:
    def convert(values: Any, where: str) -> list[Any]:
        if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
            wide = values.astype(np.int64) if values.dtype.kind == "b" else values
            bad = np.flatnonzero((wide < low) | (wide > high))
            if bad.size:
                raise ValueError(f"{where} row {bad[0]}: {wide[bad[0]]} is out of range [{low}, {high}]")
            return [int(v) for v in values.tolist()]
        out: list[Any] = []
        for i, value in enumerate(_listed(values)):
            if _missing(value):
                out.append(None)
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int | np.integer | bool | np.bool_):
                raise ValueError(f"{where} row {i}: {value!r} is not an integer")
            number = int(value)
            if not low <= number <= high:
                raise ValueError(f"{where} row {i}: {number} is out of range [{low}, {high}]")
            out.append(number)
        return out

    return convert


def _bits(values: Any, where: str) -> list[Any]:
    out: list[Any] = []
    for i, value in enumerate(_listed(values)):
        if _missing(value):
            out.append(None)
        elif isinstance(value, bool | int | float | np.bool_ | np.integer) and value in (0, 1):
            out.append(bool(value))
        else:
            raise ValueError(f"{where} row {i}: {value!r} is not a bit (true/false, 0/1)")
    return out


def _decimals(precision: int, scale: int) -> Converter:
    step = Decimal(1).scaleb(-scale)
    limit = Decimal(10) ** (precision - scale)

    def convert(values: Any, where: str) -> list[Any]:
        out: list[Any] = []
        for i, value in enumerate(_listed(values)):
            if _missing(value):
                out.append(None)
                continue
            if isinstance(value, bool):
                raise ValueError(f"{where} row {i}: {value!r} is not a number")
            if isinstance(value, float):
                if not math.isfinite(value):
                    raise ValueError(f"{where} row {i}: {value!r} is not a finite number")
                # A float has no exact decimal value to keep: rounded to the column's scale, as a float INSERT is.
                number = Decimal(format(value, f".{scale}f"))
            else:
                try:
                    number = value if isinstance(value, Decimal) else Decimal(int(value))
                except (TypeError, ValueError, InvalidOperation):
                    raise ValueError(f"{where} row {i}: {value!r} is not a number") from None
                if not number.is_finite():
                    raise ValueError(f"{where} row {i}: {number} is not a finite number")
                # An exact amount with more places than the column keeps is refused, never rounded: the sums of
                # PromptAds and PromptCrm must agree to the cent.
                if number != number.quantize(step):
                    raise ValueError(f"{where} row {i}: {number} has more than {scale} decimal places")
            number = number.quantize(step)
            if abs(number) >= limit:
                raise ValueError(f"{where} row {i}: {number} does not fit decimal({precision},{scale})")
            out.append(format(abs(number) if number == 0 else number, "f"))
        return out

    return convert


def _as_date(value: Any, where: str) -> date | None:
    if _missing(value):
        return None
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()
        if value is None:
            return None
    if isinstance(value, datetime):
        if value.time() != clock(0):
            raise ValueError(f"{where}: {value.isoformat()} is not a date (it has a time of day)")
        return value.date()
    if isinstance(value, date):
        return value
    raise ValueError(f"{where}: {value!r} is not a date")


def _dates(values: Any, where: str) -> list[Any]:
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        present = values[~np.isnat(values)]
        if present.size and (present != present.astype("datetime64[D]")).any():
            raise ValueError(f"{where}: datetime64 values with a time of day for a date column")
        return list(values.astype("datetime64[D]").tolist())
    return [_as_date(v, f"{where} row {i}") for i, v in enumerate(_listed(values))]


def _as_datetime(value: Any, where: str) -> datetime | None:
    if _missing(value):
        return None
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()
        if value is None:
            return None
    if isinstance(value, datetime):
        # datetime2 has no time zone: an aware value is stored as its UTC wall time.
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime.combine(value, clock(0))
    raise ValueError(f"{where}: {value!r} is not a date and time")


def _datetimes(values: Any, where: str) -> list[Any]:
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return list(values.astype("datetime64[us]").tolist())
    return [_as_datetime(v, f"{where} row {i}") for i, v in enumerate(_listed(values))]


def _texts(size: int | None) -> Converter:
    def convert(values: Any, where: str) -> list[Any]:
        out = _listed(values)
        for i, value in enumerate(out):
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"{where} row {i}: expected text, got {type(value).__name__} {value!r}")
            if size is not None and len(value) > size:
                raise ValueError(f"{where} row {i}: {len(value)} characters do not fit {size}")
        return out

    return convert


def _binaries(size: int | None) -> Converter:
    def convert(values: Any, where: str) -> list[Any]:
        out: list[Any] = []
        for i, value in enumerate(_listed(values)):
            if value is None:
                out.append(None)
                continue
            if not isinstance(value, bytes | bytearray | memoryview):
                raise ValueError(f"{where} row {i}: expected bytes, got {type(value).__name__}")
            data = bytes(value)
            if size is not None and len(data) > size:
                raise ValueError(f"{where} row {i}: {len(data)} bytes do not fit {size}")
            out.append(data)
        return out

    return convert


def wire_column(name: str, declaration: str) -> WireColumn:
    """How a column of this T-SQL type is sent in bulk; ValueError for a type the bulk stream cannot carry here."""
    decl = " ".join(declaration.lower().split())
    if decl in _INTEGERS:
        wire, low, high = _INTEGERS[decl]
        return WireColumn(name, declaration, wire, decl.upper(), _integers(low, high))
    if decl == "bit":
        return WireColumn(name, declaration, tds_types.BitType(), "BIT", _bits)
    if decl == "date":
        return WireColumn(name, declaration, tds_types.DateType(), "DATE", _dates)
    if m := _DATETIME2.match(decl):
        precision = int(m.group(1) or 7)
        return WireColumn(
            name, declaration, tds_types.DateTime2Type(precision=precision), f"DATETIME2({precision})", _datetimes
        )
    if m := _DECIMAL.match(decl):
        precision, scale = int(m.group(1)), int(m.group(2))
        text = tds_types.NVarCharType(size=precision + 2)  # sign, digits and the point
        return WireColumn(name, declaration, text, f"DECIMAL({precision},{scale})", _decimals(precision, scale))
    if decl == "sysname":
        return WireColumn(name, declaration, tds_types.NVarCharType(size=128), "NVARCHAR(128)", _texts(128))
    if m := _TEXT.match(decl):
        size = None if m.group(2) == "max" else int(m.group(2))
        if size is None or size > 4000:
            return WireColumn(name, declaration, tds_types.NVarCharMaxType(), "NVARCHAR(MAX)", _texts(size))
        return WireColumn(name, declaration, tds_types.NVarCharType(size=size), f"NVARCHAR({size})", _texts(size))
    if m := _BINARY.match(decl):
        size = None if m.group(2) == "max" else int(m.group(2))
        if size is None:
            return WireColumn(name, declaration, tds_types.VarBinaryMaxType(), "VARBINARY(MAX)", _binaries(None))
        return WireColumn(name, declaration, tds_types.VarBinaryType(size=size), declaration.upper(), _binaries(size))
    raise ValueError(f"{name}: the loader cannot send {declaration} values in bulk")


# --------------------------------------------------------------------------- server-side transforms


@dataclass(frozen=True)
class ServerTransform:
    """How the loader builds some of a table's columns on the server, from a staging temp table `s`."""

    inputs: Mapping[str, str]
    """Batch columns that are not table columns (plaintext) -> their staging type; they never reach the table."""
    outputs: Mapping[str, str]
    """Table column -> T-SQL expression over the staging row `s` that fills it."""
    requires: tuple[str, ...]
    """Batch columns the expressions read."""
    scratch: Mapping[str, str] = field(default_factory=dict)
    """Staging-only columns the preparation fills on the server -> their type."""
    prepare: str = ""
    """T-SQL run over the staging table (named {staging}) before the insert: computations and row checks."""
    key: tuple[str, str] | None = None
    """(symmetric key, certificate) opened around the insert."""
    needs_identity: bool = False
    """The expressions use the generator's identity values (explicit_identity must be set)."""


def clients_transform(model: StoreModel) -> ServerTransform:
    """crm.clients: encrypt and hash what sec.CRMSP_SetClientSensitiveData encrypts and hashes."""
    enc = model.encryption
    if enc is None:
        raise ValueError(f"{model.store}: crm.clients needs the model's encryption section (key and certificate)")
    missing = [f for f in (NORMALIZE_FUNCTION, HMAC_FUNCTION) if f not in model.routine_map]
    if missing:
        raise ValueError(f"{model.store}: crm.clients is encrypted with {', '.join(missing)}, not in the model")
    guid = f"KEY_GUID({_nstring(enc.symmetric_key.name)})"
    # The procedure encrypts its @Normalized (varchar(20), what sec.fn_NormalizeNationalId returns) and the context
    # as NVARCHAR(3500), both authenticated by the client id; decryption converts back to exactly those types.
    national_id_enc = f"ENCRYPTBYKEY({guid}, {NORMALIZE_FUNCTION}(s.national_id), 1, CONVERT(SYSNAME, s.client_id))"
    context_enc = (
        f"CASE WHEN s.context_json IS NOT NULL THEN ENCRYPTBYKEY({guid}, CONVERT(NVARCHAR(3500), s.context_json),"
        " 1, CONVERT(SYSNAME, s.client_id)) END"
    )
    cases = "\n".join(
        f"            WHEN {condition}\n                THEN {_nstring(problem)}" for condition, problem in CLIENT_RULES
    )
    # First the HMAC, once per row as the procedure computes it (under the key kept in sec.hmac_keys; the function
    # normalizes the ID itself), then the procedure's checks over the whole batch before anything is written. The
    # message names the client id only: no national ID or context value is ever echoed.
    prepare = f"""UPDATE {{staging}} SET national_id_hmac = {HMAC_FUNCTION}(UPPER(national_id_country), national_id);
DECLARE @Client INT;
DECLARE @Problem NVARCHAR(400);
SELECT TOP (1) @Client = p.client_id, @Problem = p.problem
FROM (
    SELECT
        s.client_id,
        CASE
{cases}
        END AS problem
    FROM {{staging}} AS s
) AS p
WHERE p.problem IS NOT NULL
ORDER BY p.client_id;
IF @Client IS NOT NULL
BEGIN
    SET @Problem = CONCAT(N'client ', @Client, N': ', @Problem);
    THROW {CLIENT_CHECK_ERROR}, @Problem, 1;
END;
"""
    return ServerTransform(
        inputs={"national_id": "NVARCHAR(64)", "context_json": "NVARCHAR(4000)"},
        outputs={
            "national_id_country": "UPPER(s.national_id_country)",
            "national_id_enc": national_id_enc,
            "national_id_hmac": "s.national_id_hmac",
            "context_enc": context_enc,
        },
        requires=("client_id", "national_id_country", "national_id", "context_json"),
        scratch={"national_id_hmac": "BINARY(32)"},
        prepare=prepare,
        key=(enc.symmetric_key.name, enc.certificate.name),
        needs_identity=True,
    )


def client_locations_transform(model: StoreModel) -> ServerTransform:
    """crm.client_locations: the geography point from the coordinates, computed on the server."""
    return ServerTransform(
        inputs={},
        outputs={"location": "geography::Point(s.latitude, s.longitude, 4326)"},
        requires=("latitude", "longitude"),
    )


SERVER_TRANSFORMS: Mapping[str, Callable[[StoreModel], ServerTransform]] = {
    "crm.clients": clients_transform,
    "crm.client_locations": client_locations_transform,
}
"""Tables whose rows are finished on the server, by qualified name."""


# --------------------------------------------------------------------------- the plan of a table


@dataclass(frozen=True)
class TablePlan:
    """What the loader sends for one table: checked against the model before anything is sent."""

    data: TableData
    target: Table
    sent: tuple[WireColumn, ...]
    """Columns of the batch that travel in the bulk stream, in batch order."""
    identity: str | None
    """The identity column whose values the batch supplies (SET IDENTITY_INSERT around the insert)."""
    transform: ServerTransform | None

    @property
    def where(self) -> str:
        return f"{self.data.store}: {self.data.table}"

    @property
    def staging(self) -> str:
        return f"#{self.target.name}_batch"

    def rows(self, batch: Batch) -> Iterator[tuple[Any, ...]]:
        """The batch as bulk rows; ValueError (naming the column and row) for a value its type cannot carry."""
        columns = [col.convert(batch[col.name], f"{col.name} ({col.declaration})") for col in self.sent]
        return zip(*columns, strict=True)

    def staging_ddl(self) -> str:
        assert self.transform is not None
        columns = [(c.name, c.staging) for c in self.sent] + list(self.transform.scratch.items())
        body = ",\n    ".join(f"{quote_name(name)} {decl} NULL" for name, decl in columns)
        return f"DROP TABLE IF EXISTS {self.staging};\nCREATE TABLE {self.staging} (\n    {body}\n);"

    def staged_insert(self) -> str:
        assert self.transform is not None
        outputs = self.transform.outputs
        passed = [c.name for c in self.sent if c.name not in self.transform.inputs and c.name not in outputs]
        names = [*passed, *outputs]
        values = [*(f"s.{quote_name(c)}" for c in passed), *outputs.values()]
        insert = (
            f"INSERT INTO {quote_name(self.target.qualified)} ({', '.join(quote_name(n) for n in names)})\n"
            f"SELECT {', '.join(values)}\nFROM {self.staging} AS s;"
        )
        if self.transform.key is None:
            return insert
        key, certificate = (quote_name(n) for n in self.transform.key)
        # Open only around the statement that encrypts; a key left open belongs to the session, which the loader
        # closes on any error.
        return (
            f"OPEN SYMMETRIC KEY {key} DECRYPTION BY CERTIFICATE {certificate};\n{insert}\nCLOSE SYMMETRIC KEY {key};"
        )


def plan_table(model: StoreModel, data: TableData) -> TablePlan:
    """Check a TableData against the store's model and decide what is sent; ValueError naming the problem."""
    where = f"{data.store}: {data.table}"
    target = model.table_map.get(data.table)
    if target is None:
        raise ValueError(f"{where}: model/{model.store}.yaml has no table {data.table}")
    if len(set(data.columns)) != len(data.columns):
        raise ValueError(f"{where}: a column is listed twice in {data.columns}")
    maker = SERVER_TRANSFORMS.get(data.table)
    transform = maker(model) if maker else None
    handled = set(transform.inputs) | set(transform.outputs) if transform else set()
    unknown = sorted(set(data.server_side) - handled)
    if unknown:
        raise ValueError(
            f"{where}: the loader has no server-side transform for {unknown} (known for this table: "
            f"{sorted(handled) or 'none'}); refusing to insert them as they are"
        )
    if transform:
        missing = [c for c in transform.requires if c not in data.columns]
        if missing:
            raise ValueError(f"{where}: the server-side transform needs the batch columns {missing}")
    sent: list[WireColumn] = []
    for name in data.columns:
        if transform and name in transform.inputs:
            sent.append(wire_column(name, transform.inputs[name]))
            continue
        column = target.column(name)
        if column is None:
            raise ValueError(f"{where}: column {name} is not in model/{model.store}.yaml {data.table}")
        if column.type.lower() == "rowversion":
            # The engine writes rowversion values itself and refuses any other (error 273): never sent.
            log.warning("%s: column %s is a rowversion; the loader does not send it", where, name)
            continue
        if transform and name in transform.outputs and name not in transform.requires:
            raise ValueError(f"{where}: column {name} is computed on the server; the batch must not carry it")
        sent.append(wire_column(name, column.type))
    identity = next((c.name for c in target.columns if c.identity), None)
    supplied = identity is not None and identity in data.columns
    if supplied and not data.explicit_identity:
        raise ValueError(f"{where}: the batch carries identity column {identity}; set explicit_identity=True")
    if data.explicit_identity and identity is not None and not supplied:
        raise ValueError(f"{where}: explicit_identity is set but the batch has no identity column {identity}")
    if transform and transform.needs_identity and not supplied:
        raise ValueError(
            f"{where}: the server-side encryption binds each ciphertext to its {identity or 'identity'} value,"
            " so the batch must supply it (explicit_identity=True)"
        )
    for column in target.columns:
        fillable = column.name in data.columns or (transform is not None and column.name in transform.outputs)
        if not (
            column.nullable or column.default or column.identity or fillable or column.type.lower() == "rowversion"
        ):
            raise ValueError(f"{where}: NOT NULL column {column.name} has no default and is not in the batch")
    return TablePlan(data, target, tuple(sent), identity if supplied else None, transform)


# --------------------------------------------------------------------------- progress and summaries


class Reporter:
    """A rich progress bar per table and the summary lines (logged instead when progress is off)."""

    def __init__(self, store: str, show: bool) -> None:
        self.store = store
        self.show = show
        self._progress: Any = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Reporter:
        if self.show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = self._stack.enter_context(
                Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("rows"),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                )
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def table(self, name: str, rows: int) -> Callable[[int], None]:
        if self._progress is None:
            return lambda _rows: None
        task = self._progress.add_task(f"{self.store}: {name}", total=rows)
        return lambda rows_done: self._progress.advance(task, rows_done)

    def line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            log.info("%s", text)

    def finish(self, results: Sequence[LoadResult], seconds: float) -> None:
        loaded = sum(r.rows_loaded for r in results)
        skipped = sum(r.batches_skipped for r in results)
        self.line(
            f"{self.store}: {len(results)} tables, {loaded:,} rows loaded in {seconds:.1f} s"
            f" ({sum(r.batches_loaded for r in results)} batches loaded, {skipped} already there)"
        )


# --------------------------------------------------------------------------- loading


def _mismatch(plan: TablePlan, batch_no: int, database: str, recorded: str, generated: str) -> SeedLedgerMismatch:
    return SeedLedgerMismatch(
        f"{plan.where}: batch {batch_no}: the seed ledger ({LEDGER} in {database}) records {recorded}, this run"
        f" generates {generated}: the table was loaded with another seed, scale, batch size or generator version."
        f" Re-run with the options of the first load, or start over: drop and redeploy {database}, or delete"
        f" {plan.data.table}'s rows and its {LEDGER} entries (store '{plan.data.store}', table_name"
        f" '{plan.data.table}')"
    )


def _apply(cur: Any, plan: TablePlan, batch: Batch) -> None:
    """Send one batch inside the caller's transaction (direct bulk load, or staging and INSERT ... SELECT)."""
    rows = plan.rows(batch)
    columns = [c.bulk_column() for c in plan.sent]
    target = quote_name(plan.target.qualified)
    bulk = {"check_constraints": True, "fire_triggers": True, "keep_nulls": True}
    if plan.transform is None:
        if plan.identity:
            _run(cur, f"SET IDENTITY_INSERT {target} ON;")
        schema, name = plan.target.qualified.split(".")
        cur.copy_to(table_or_view=name, schema=schema, columns=columns, data=rows, **bulk)
        if plan.identity:
            _run(cur, f"SET IDENTITY_INSERT {target} OFF;")
        return
    _run(cur, plan.staging_ddl())
    cur.copy_to(table_or_view=plan.staging, columns=columns, data=rows, **bulk)
    if plan.transform.prepare:
        _run(cur, plan.transform.prepare.replace("{staging}", plan.staging))
    if plan.identity:
        _run(cur, f"SET IDENTITY_INSERT {target} ON;")
    _run(cur, plan.staged_insert())
    if plan.identity:
        _run(cur, f"SET IDENTITY_INSERT {target} OFF;")
    _run(cur, f"DROP TABLE {plan.staging};")


def _load_table(conn: Any, cur: Any, plan: TablePlan, batch_rows: int, reporter: Reporter, database: str) -> LoadResult:
    data = plan.data
    started = time.perf_counter()
    advance = reporter.table(data.table, data.rows)
    loaded = skipped = rows_loaded = 0
    batch_no = 0
    batches = data.batches(batch_rows)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except Exception as exc:
            raise SeedLoadError(
                f"{plan.where}: batch {batch_no + 1}: the generator failed: {error_detail(exc)}"
            ) from exc
        batch_no += 1
        rows = batch_length(batch)
        digest = batch_sha256(data.columns, batch)
        try:
            recorded = _run(cur, LEDGER_LOOKUP, (data.store, data.table, batch_no))
            if recorded:
                conn.rollback()  # nothing written; ends the lookup's lock
                (had_rows, had_sha), *_ = recorded
                if int(had_rows) != rows or str(had_sha).strip() != digest:
                    raise _mismatch(
                        plan,
                        batch_no,
                        database,
                        f"{int(had_rows):,} rows with SHA-256 {str(had_sha).strip()[:12]}",
                        f"{rows:,} rows with SHA-256 {digest[:12]}",
                    )
                skipped += 1
                advance(rows)
                continue
            _apply(cur, plan, batch)
            _run(cur, LEDGER_RECORD, (data.store, data.table, batch_no, rows, digest))
            conn.commit()
        except SeedLedgerMismatch:
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise SeedLoadError(f"{plan.where}: batch {batch_no}: {error_detail(exc)}") from exc
        loaded += 1
        rows_loaded += rows
        advance(rows)
    try:
        ((beyond, first_beyond),) = _run(cur, LEDGER_BEYOND, (data.store, data.table, batch_no))
        conn.rollback()
    except Exception as exc:
        raise SeedLoadError(f"{plan.where}: the seed ledger: {error_detail(exc)}") from exc
    if beyond:
        raise _mismatch(
            plan,
            int(first_beyond),
            database,
            f"{int(beyond)} more batches from batch {first_beyond} on",
            f"{batch_no} batches",
        )
    result = LoadResult(data.store, data.table, data.rows, rows_loaded, loaded, skipped, time.perf_counter() - started)
    reporter.line(result.summary())
    return result


def load_tables(
    connect: Callable[[], Any],
    tables: Sequence[TableData],
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: bool = True,
    root: Path = ROOT,
) -> list[LoadResult]:
    """Load the tables of one SQL Server store (ads or crm), in the order given, each batch in one transaction.

    `connect` returns a new pytds connection to the store's database (see `connector`); the loader opens one,
    turns autocommit off, and closes it at the end. Every TableData is checked against model/<store>.yaml before
    anything is sent. Raises SeedLoadError (one line: store, table, batch, server message) or SeedLedgerMismatch;
    batches committed before the failure stay, and a re-run continues from the failed batch.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if not tables:
        return []
    stores = sorted({t.store for t in tables})
    if len(stores) != 1 or stores[0] not in SQL_STORES:
        raise ValueError(f"load_tables loads one SQL Server store ({' or '.join(SQL_STORES)}) at a time, got {stores}")
    store = stores[0]
    model = load_model(root / "model" / f"{store}.yaml", root=root)
    plans = [plan_table(model, t) for t in tables]
    started = time.perf_counter()
    results: list[LoadResult] = []
    conn = connect()
    try:
        set_autocommit(conn, False)
        cur = conn.cursor()
        try:
            _run(cur, SESSION_SETTINGS)
            _run(cur, LEDGER_DDL)
            conn.commit()
        except Exception as exc:
            raise SeedLoadError(f"{store}: {LEDGER}: {error_detail(exc)}") from exc
        with Reporter(store, progress) as reporter:
            for plan in plans:
                results.append(_load_table(conn, cur, plan, batch_rows, reporter, model.database))
            reporter.finish(results, time.perf_counter() - started)
    finally:
        # Closing ends the session: an uncommitted batch rolls back, and an open key or IDENTITY_INSERT goes with it.
        with contextlib.suppress(Exception):
            conn.close()
    return results


# --------------------------------------------------------------------------- connections and the world


def connector(store: str, url: str | None = None) -> Callable[[], Any]:
    """A `connect` for load_tables: new pytds connections to the store's database (URL from its variable)."""
    from generators import ads_client
    from generators.deploy import load_manifest
    from generators.tsql_script import STORE_URL_VARS

    if store not in STORE_URL_VARS:
        raise ValueError(f"unknown SQL Server store {store!r} (known: {', '.join(sorted(STORE_URL_VARS))})")
    variable = STORE_URL_VARS[store]
    database: str = load_manifest()["stores"][store]["database"]
    resolved = url or os.environ.get(variable, "").strip()
    if not resolved:
        raise ads_client.AdsUrlError(
            f"{variable} is not set: set it to the {store} server, for example mssql://user:password@host:1433/{database}"
        )
    return lambda: ads_client.connect(resolved, database=database, autocommit=False)


DEFAULT_SEED = 20260131
"""The world seed the command lines use by default (the same in every loader: the ledgers record its batches)."""


def world_tables(store: str, *, seed: int = DEFAULT_SEED, scale: str = "full") -> list[TableData]:
    """The generated world's tables of one store (imported only when a command line asks for them: the loaders
    themselves take any TableData)."""
    from generators.data.world import build_world

    return list(build_world(seed, scale).tables(store))


def main(argv: list[str] | None = None) -> int:
    """`python -m generators.data.load_mssql --store ads|crm --seed N --scale small|full`."""
    from generators.ads_client import AdsClientError
    from generators.model import ModelError

    parser = argparse.ArgumentParser(prog="python -m generators.data.load_mssql", description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=SQL_STORES, required=True)
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"world seed (default {DEFAULT_SEED}; a re-run must use the same)",
    )
    parser.add_argument("--scale", choices=("small", "full"), default="full", help="world size (default full)")
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS, help="rows per bulk batch")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (summary lines are logged)")
    args = parser.parse_args(argv)
    try:
        connect = connector(args.store)
        tables = world_tables(args.store, seed=args.seed, scale=args.scale)
        load_tables(connect, tables, batch_rows=args.batch_rows, progress=not args.no_progress)
    except (AdsClientError, SeedLoadError, SeedLedgerMismatch, ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
