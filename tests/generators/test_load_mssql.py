"""The SQL Server loader against a recording DB-API test double: statements per batch, resumability, encryption SQL.

No SQL Server can run here. `RecordingSqlServer` below is a TEST DOUBLE, not SQL Server: it records every statement,
parameter and bulk-copy call that would reach the server, keeps the seed ledger and the rows per table with
commit/rollback semantics across connections, refuses what the engine refuses where a test relies on it (a second
IDENTITY_INSERT, a duplicate ledger key) and can fail a chosen bulk load. It executes no SQL: the T-SQL the loader
sends is checked by the project's tsql parse gate here, and runs for real in tests/integration/test_seed_sqlserver.py
when PROMPTSALES_ADS_URL / PROMPTSALES_CRM_URL are set.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytds import tds_base, tds_types
from pytds.tds_writer import _TdsWriter

from generators.data import load_mssql
from generators.data.load_mssql import (
    CLIENT_CHECK_ERROR,
    LEDGER_DDL,
    SESSION_SETTINGS,
    SeedLoadError,
    load_tables,
    wire_column,
)
from generators.data.tables import SeedLedgerMismatch, TableData, batch_sha256
from generators.gates import check_tsql_batch
from generators.model import load_model

ROOT = Path(__file__).resolve().parents[2]
CRM_MODEL = load_model(ROOT / "model" / "crm.yaml")
assert CRM_MODEL.encryption is not None
KEY = CRM_MODEL.encryption.symmetric_key.name
CERT = CRM_MODEL.encryption.certificate.name

# --------------------------------------------------------------------------- the test double


def server_error(number: int, text: str) -> tds_base.OperationalError:
    """An error as pytds raises it for a server message (number and text set the same way)."""
    exc = tds_base.OperationalError(text)
    exc.number = exc.msg_no = number
    exc.text = text
    return exc


def unquote(name: str) -> str:
    return ".".join(part.strip("[]") for part in name.split("."))


@dataclass
class Event:
    kind: str
    """execute, copy_to, commit, rollback, autocommit or close."""
    sql: str = ""
    params: tuple[Any, ...] | None = None
    target: str = ""
    columns: tuple[str, ...] = ()
    wire: tuple[Any, ...] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def flat(self) -> str:
        return " ".join(self.sql.split())


class RecordingSqlServer:
    """TEST DOUBLE of a SQL Server database: what reaches it, and what it keeps across connections.

    `fail_on=(target, n)` makes the n-th bulk load into `target` fail with a server error, as a constraint
    violation in that batch would.
    """

    def __init__(self, fail_on: tuple[str, int] | None = None) -> None:
        self.ledger: dict[tuple[str, str, int], tuple[int, str]] = {}
        self.tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.events: list[Event] = []
        self.fail_on = fail_on
        self.loads: Counter[str] = Counter()
        self.connections = 0

    def connect(self) -> RecordingConnection:
        self.connections += 1
        return RecordingConnection(self)

    def executed(self) -> list[Event]:
        return [e for e in self.events if e.kind == "execute"]


class RecordingConnection:
    """TEST DOUBLE of a pytds connection: pending writes until commit, dropped on rollback or close."""

    def __init__(self, server: RecordingSqlServer) -> None:
        self.server = server
        self._autocommit = True
        self.pending_ledger: dict[tuple[str, str, int], tuple[int, str]] = {}
        self.pending_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.temp: dict[str, list[dict[str, Any]]] = {}
        self.identity_insert: str | None = None
        self.open_keys: set[str] = set()

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self.server.events.append(Event("autocommit", params=(value,)))
        self._autocommit = value

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def commit(self) -> None:
        self.server.events.append(Event("commit"))
        self.server.ledger.update(self.pending_ledger)
        for target, rows in self.pending_rows.items():
            self.server.tables[target].extend(rows)
        self._discard()

    def rollback(self) -> None:
        self.server.events.append(Event("rollback"))
        self._discard()

    def close(self) -> None:
        self.server.events.append(Event("close"))
        self._discard()

    def _discard(self) -> None:
        self.pending_ledger = {}
        self.pending_rows = defaultdict(list)
        self.temp = {}  # a #table created in the transaction goes with it


_INSERT_SELECT = re.compile(r"INSERT INTO (\S+) \(([^)]*)\) SELECT .*? FROM (#\w+) AS s;")


class RecordingCursor:
    """TEST DOUBLE of a pytds cursor: answers the ledger queries, records everything else."""

    def __init__(self, conn: RecordingConnection) -> None:
        self.conn = conn
        self.description: tuple[tuple[str], ...] | None = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        server, conn = self.conn.server, self.conn
        event = Event("execute", sql=sql, params=None if params is None else tuple(params))
        server.events.append(event)
        flat = event.flat
        result: list[tuple[Any, ...]] | None = None
        if flat.startswith("SELECT [rows], sha256 FROM ops.seed_batches"):
            assert params is not None
            key = (params[0], params[1], params[2])
            found = conn.pending_ledger.get(key) or server.ledger.get(key)
            result = [found] if found else []
        elif flat.startswith("INSERT INTO ops.seed_batches"):
            assert params is not None
            key = (params[0], params[1], params[2])
            if key in server.ledger or key in conn.pending_ledger:
                raise server_error(2627, "Violation of PRIMARY KEY constraint 'pk_seed_batches'.")
            conn.pending_ledger[key] = (params[3], params[4])
        elif flat.startswith("SELECT COUNT(*), MIN(batch_no) FROM ops.seed_batches"):
            assert params is not None
            beyond = [k[2] for k in server.ledger if k[:2] == (params[0], params[1]) and k[2] > params[2]]
            result = [(len(beyond), min(beyond) if beyond else None)]
        elif m := re.fullmatch(r"SET IDENTITY_INSERT (\S+) (ON|OFF);", flat):
            table = unquote(m[1])
            if m[2] == "ON":
                if conn.identity_insert not in (None, table):
                    raise server_error(8107, f"IDENTITY_INSERT is already ON for table '{conn.identity_insert}'.")
                conn.identity_insert = table
            else:
                conn.identity_insert = None
        else:
            for key in re.findall(r"OPEN SYMMETRIC KEY (\S+) ", flat):
                conn.open_keys.add(unquote(key))
            if m := _INSERT_SELECT.search(flat):
                names = [unquote(n) for n in m[2].split(", ")]
                # Columns the server computes are not in the staging rows; the double keeps what passes through.
                staged = conn.temp[m[3]]
                conn.pending_rows[unquote(m[1])].extend({n: row.get(n) for n in names} for row in staged)
            for key in re.findall(r"CLOSE SYMMETRIC KEY (\S+);", flat):
                conn.open_keys.discard(unquote(key))
            if m := re.search(r"DROP TABLE (#\w+);", flat):
                conn.temp.pop(m[1], None)
        self.description = (("value",),) if result is not None else None
        self._rows = result or []

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def nextset(self) -> bool:
        self.description = None
        return False

    def copy_to(
        self,
        file: Any = None,
        table_or_view: str | None = None,
        sep: str = "\t",
        columns: Any = None,
        check_constraints: bool = False,
        fire_triggers: bool = False,
        keep_nulls: bool = False,
        kb_per_batch: int | None = None,
        rows_per_batch: int | None = None,
        order: Any = None,
        tablock: bool = False,
        schema: str | None = None,
        null_string: str | None = None,
        data: Any = None,
    ) -> None:
        server, conn = self.conn.server, self.conn
        assert file is None and data is not None and columns, "the loader sends typed rows, never a CSV file"
        target = f"{schema}.{table_or_view}" if schema else str(table_or_view)
        rows = [tuple(row) for row in data]
        names = tuple(col.column_name for col in columns)
        options = {
            "check_constraints": check_constraints,
            "fire_triggers": fire_triggers,
            "keep_nulls": keep_nulls,
            "tablock": tablock,
        }
        server.events.append(
            Event("copy_to", target=target, columns=names, wire=tuple(columns), rows=rows, options=options)
        )
        server.loads[target] += 1
        if server.fail_on == (target, server.loads[target]):
            raise server_error(
                2627, f"Violation of PRIMARY KEY constraint 'pk_{table_or_view}'. Cannot insert duplicate key."
            )
        dicts = [dict(zip(names, row, strict=True)) for row in rows]
        if target.startswith("#"):
            conn.temp[target] = dicts
        else:
            conn.pending_rows[target].extend(dicts)


# --------------------------------------------------------------------------- test data


def column_batches(columns: dict[str, Any]) -> Any:
    """make_batches for a TableData over whole columns (numpy arrays or lists), sliced per batch."""

    def make(batch_rows: int) -> Iterator[dict[str, Any]]:
        total = len(next(iter(columns.values())))
        for start in range(0, total, batch_rows):
            yield {name: values[start : start + batch_rows] for name, values in columns.items()}

    return make


def campaigns(
    rows: int = 10, *, first_id: int = 1, budget_bump: float = 0.0, with_rowversion: bool = False
) -> TableData:
    ids = np.arange(first_id, first_id + rows, dtype=np.int32)
    columns: dict[str, Any] = {
        "campaign_id": ids,
        "brand_id": np.full(rows, 7, dtype=np.int32),
        "campaign_name": [f"Seeded campaign {i} of brand seven" for i in ids],
        "objective": ["awareness" if i % 2 else "conversion" for i in ids],
        "campaign_status": ["active" if i % 3 == 0 else "finished" for i in ids],
        "starts_on": np.array(["2024-12-01"] * rows, dtype="datetime64[D]"),
        "ends_on": np.array(["2025-01-31"] * rows, dtype="datetime64[D]"),
        "budget_usd": np.round(1000.0 + ids * 12.5 + budget_bump, 2),
    }
    if with_rowversion:
        columns["row_ver"] = [b"\x00" * 8] * rows
    return TableData("ads", "ads.campaigns", tuple(columns), rows, column_batches(columns), explicit_identity=True)


def campaign_channels(rows: int = 4) -> TableData:
    columns: dict[str, Any] = {
        "campaign_id": np.arange(1, rows + 1, dtype=np.int32),
        "channel_code": ["instagram"] * rows,
        "budget_share": [Decimal("0.5000")] * rows,
    }
    return TableData("ads", "ads.campaign_channels", tuple(columns), rows, column_batches(columns))


NATIONAL_IDS = ["1-0234-0567", "2-0345-0678", "3-0456-0789", "4-0567-0890", "5-0678-0901"]
CONTEXTS = [f'{{"income_band": "B", "household": {i}, "notes": "marker-ctx-{i}"}}' for i in range(5)]


def clients() -> TableData:
    rows = len(NATIONAL_IDS)
    columns: dict[str, Any] = {
        "client_id": np.arange(101, 101 + rows, dtype=np.int32),
        "first_name": ["Ana", "Luis", "Marta", "Jon", "Ines"],
        "last_name": ["Mora", "Vega", "Solis", "Rojas", "Arias"],
        "email": [f"client{i}@example.com" for i in range(rows)],
        "phone": [None] * rows,
        "national_id_country": ["CR"] * rows,
        "national_id": NATIONAL_IDS,
        "context_json": CONTEXTS,
        "birth_year": np.array([1980, 1991, 1975, 2001, 1969], dtype=np.int16),
        "market_code": ["CR-SJ"] * rows,
        "consent_marketing": np.array([True, False, True, True, False]),
    }
    server_side = {
        "national_id": "encrypted into national_id_enc, hashed into national_id_hmac",
        "context_json": "encrypted into context_enc",
    }
    return TableData(
        "crm",
        "crm.clients",
        tuple(columns),
        rows,
        column_batches(columns),
        explicit_identity=True,
        server_side=server_side,
    )


def client_locations() -> TableData:
    columns: dict[str, Any] = {
        "client_id": np.arange(101, 104, dtype=np.int32),
        "city": ["San Jose", "Heredia", "Cartago"],
        "latitude": [Decimal("9.928100"), Decimal("10.002400"), Decimal("9.864400")],
        "longitude": [Decimal("-84.090700"), Decimal("-84.116500"), Decimal("-83.919400")],
    }
    return TableData(
        "crm",
        "crm.client_locations",
        tuple(columns),
        3,
        column_batches(columns),
        server_side={"location": "geography::Point(latitude, longitude, 4326)"},
    )


def sales(rows: int = 6) -> TableData:
    columns: dict[str, Any] = {
        "sale_id": np.arange(1, rows + 1, dtype=np.int64),
        "sale_date": np.array(["2024-12-24"] * rows, dtype="datetime64[D]"),
        "sold_at": np.array(["2024-12-24T18:30:00"] * rows, dtype="datetime64[s]"),
        "client_id": np.full(rows, 101, dtype=np.int32),
        "campaign_id": [1] * (rows - 1) + [None],
        "channel_code": ["instagram"] * rows,
        "market_code": ["CR-SJ"] * rows,
        "quantity": np.ones(rows, dtype=np.int32),
        "amount_usd": [Decimal("19.99")] * (rows - 1) + [Decimal("0.00") + Decimal("5")],
    }
    return TableData("crm", "sales.sales", tuple(columns), rows, column_batches(columns), explicit_identity=True)


def load(server: RecordingSqlServer, tables: list[TableData], batch_rows: int = 4, **kwargs: Any) -> Any:
    return load_tables(server.connect, tables, batch_rows=batch_rows, progress=False, **kwargs)


def per_batch(events: list[Event]) -> list[list[str]]:
    """The events after the setup commit, cut after each commit/rollback, as short labels."""
    labels: list[list[str]] = [[]]
    started = False
    for event in events:
        if not started:
            started = event.kind == "commit"
            continue
        if event.kind == "execute":
            label = event.flat.split(" WHERE ")[0] if "seed_batches" in event.flat else event.flat
        elif event.kind == "copy_to":
            label = f"copy_to {event.target}"
        else:
            label = event.kind
        labels[-1].append(label)
        if event.kind in ("commit", "rollback"):
            labels.append([])
    return [group for group in labels if group]


LOOKUP = "SELECT [rows], sha256 FROM ops.seed_batches WITH (UPDLOCK, HOLDLOCK)"
RECORD = "INSERT INTO ops.seed_batches (store, table_name, batch_no, [rows], sha256) VALUES (%s, %s, %s, %s, %s);"
BEYOND = "SELECT COUNT(*), MIN(batch_no) FROM ops.seed_batches"

# --------------------------------------------------------------------------- statements and their order


def test_each_batch_is_checked_loaded_with_identity_insert_and_recorded_in_one_transaction() -> None:
    server = RecordingSqlServer()
    (result,) = load(server, [campaigns(10)], batch_rows=4)

    assert [e.kind for e in server.events[:4]] == ["autocommit", "execute", "execute", "commit"]
    assert server.events[0].params == (False,)  # every batch is an explicit transaction
    assert server.events[1].sql == SESSION_SETTINGS and "SET XACT_ABORT ON" in SESSION_SETTINGS
    assert server.events[2].sql == LEDGER_DDL
    batch = [
        LOOKUP,
        "SET IDENTITY_INSERT [ads].[campaigns] ON;",
        "copy_to ads.campaigns",
        "SET IDENTITY_INSERT [ads].[campaigns] OFF;",
        RECORD,
        "commit",
    ]
    assert per_batch(server.events) == [batch, batch, batch, [BEYOND, "rollback"], ["close"]]
    lookups = [e.params for e in server.executed() if e.flat.startswith(LOOKUP)]
    assert lookups == [("ads", "ads.campaigns", n) for n in (1, 2, 3)]
    data = campaigns(10)
    hashes = [batch_sha256(data.columns, b) for b in data.batches(4)]
    assert server.ledger == {
        ("ads", "ads.campaigns", 1): (4, hashes[0]),
        ("ads", "ads.campaigns", 2): (4, hashes[1]),
        ("ads", "ads.campaigns", 3): (2, hashes[2]),
    }
    assert [r["campaign_id"] for r in server.tables["ads.campaigns"]] == list(range(1, 11))
    assert (result.rows, result.rows_loaded, result.batches_loaded, result.batches_skipped) == (10, 10, 3, 0)


def test_bulk_copy_checks_constraints_fires_triggers_and_keeps_nulls_without_a_table_lock() -> None:
    server = RecordingSqlServer()
    load(server, [campaigns(3)])
    (bulk,) = [e for e in server.events if e.kind == "copy_to"]
    assert bulk.options == {"check_constraints": True, "fire_triggers": True, "keep_nulls": True, "tablock": False}


def test_a_table_without_explicit_identity_never_turns_identity_insert_on() -> None:
    server = RecordingSqlServer()
    load(server, [campaign_channels(4)])
    assert not [e for e in server.executed() if "IDENTITY_INSERT" in e.sql]
    assert len(server.tables["ads.campaign_channels"]) == 4


def test_rowversion_columns_are_never_sent() -> None:
    server = RecordingSqlServer()
    load(server, [campaigns(5, with_rowversion=True)])
    sent = {col for e in server.events if e.kind == "copy_to" for col in e.columns}
    assert "row_ver" not in sent and "campaign_id" in sent
    # The ledger still hashes the batch as generated (all its columns), so a re-run verifies the same bytes.
    data = campaigns(5, with_rowversion=True)
    assert server.ledger[("ads", "ads.campaigns", 1)][1] == batch_sha256(data.columns, next(data.batches(4)))


def test_values_travel_in_the_bulk_stream_or_as_parameters_never_in_statement_text() -> None:
    server = RecordingSqlServer()
    load(server, [campaigns(6)])
    for event in server.executed():
        assert "Seeded campaign" not in event.sql and "1012.5" not in event.sql
    records = [e for e in server.executed() if e.flat.startswith("INSERT INTO ops.seed_batches")]
    assert all(e.params is not None and len(e.params) == 5 for e in records)
    (first, *_) = [e for e in server.events if e.kind == "copy_to"]
    row = dict(zip(first.columns, first.rows[0], strict=True))
    # Decimals as their exact text at the column's scale; dates as dates; strings as they are.
    assert row == {
        "campaign_id": 1,
        "brand_id": 7,
        "campaign_name": "Seeded campaign 1 of brand seven",
        "objective": "awareness",
        "campaign_status": "finished",
        "starts_on": date(2024, 12, 1),
        "ends_on": date(2025, 1, 31),
        "budget_usd": "1012.50",
    }


def test_every_statement_the_loader_sends_parses_with_the_project_tsql_gate() -> None:
    server = RecordingSqlServer()
    load(server, [campaigns(3)])
    load_tables(server.connect, [clients(), client_locations(), sales()], batch_rows=4, progress=False)
    statements = {e.sql.replace("%s", "@P1") for e in server.executed()}
    assert any("ENCRYPTBYKEY" in s for s in statements) and any("geography::Point" in s for s in statements)
    for sql in sorted(statements):
        assert check_tsql_batch(sql) == (), sql


def test_rows_pytds_would_serialize_are_accepted_by_its_own_bulk_serializers() -> None:
    """The converted values go through pytds's real serializers (those submit_bulk picks) without an error."""
    server = RecordingSqlServer()
    load(server, [campaigns(3)])
    load_tables(server.connect, [clients(), client_locations(), sales()], batch_rows=4, progress=False)
    factory = tds_types.SerializerFactory(tds_base.TDS74)

    class Transport:
        def __init__(self) -> None:
            self.sent = bytearray()

        def sendall(self, data: bytes, flags: int = 0) -> None:
            self.sent += data

    for bulk in [e for e in server.events if e.kind == "copy_to"]:
        transport = Transport()
        writer = _TdsWriter(transport, 4096, None)  # type: ignore[arg-type]
        writer.begin_packet(tds_base.PacketType.BULK)
        serializers = [
            col.choose_serializer(type_factory=factory, collation=tds_types.raw_collation) for col in bulk.wire
        ]
        for serializer in serializers:
            serializer.write_info(writer)
        for row in bulk.rows:
            for serializer, value in zip(serializers, row, strict=True):
                serializer.write(writer, value)
        writer.flush()
        assert len(transport.sent) > 8 * len(bulk.rows), bulk.target
    sold = [e for e in server.events if e.kind == "copy_to" and e.target == "sales.sales"]
    assert {r[e.columns.index("amount_usd")] for e in sold for r in e.rows} == {"19.99", "5.00"}


# --------------------------------------------------------------------------- resumability and the ledger


def test_a_failure_at_batch_3_keeps_batches_1_and_2_and_a_rerun_starts_at_batch_3() -> None:
    server = RecordingSqlServer(fail_on=("ads.campaigns", 3))
    with pytest.raises(SeedLoadError) as failed:
        load(server, [campaigns(18)], batch_rows=4)

    assert str(failed.value) == (
        "ads: ads.campaigns: batch 3: Violation of PRIMARY KEY constraint 'pk_campaigns'. Cannot insert duplicate"
        " key. (error 2627)"
    )
    assert "\n" not in str(failed.value)
    assert sorted(server.ledger) == [("ads", "ads.campaigns", 1), ("ads", "ads.campaigns", 2)]
    assert [r["campaign_id"] for r in server.tables["ads.campaigns"]] == list(range(1, 9))
    assert per_batch(server.events)[2] == [
        LOOKUP,
        "SET IDENTITY_INSERT [ads].[campaigns] ON;",
        "copy_to ads.campaigns",
        "rollback",
    ]
    assert server.events[-1].kind == "close"

    server.fail_on = None
    server.events.clear()
    (result,) = load(server, [campaigns(18)], batch_rows=4)

    bulk_loads = [e for e in server.events if e.kind == "copy_to"]
    assert bulk_loads[0].rows[0][0] == 9  # the first row sent is batch 3's first campaign
    assert (result.batches_skipped, result.batches_loaded, result.rows_loaded) == (2, 3, 10)
    ids = [r["campaign_id"] for r in server.tables["ads.campaigns"]]
    assert sorted(ids) == list(range(1, 19)) and len(ids) == len(set(ids))
    assert sorted(n for _, _, n in server.ledger) == [1, 2, 3, 4, 5]


def test_a_rerun_of_a_loaded_table_loads_nothing() -> None:
    server = RecordingSqlServer()
    load(server, [campaigns(10)])
    server.events.clear()
    (result,) = load(server, [campaigns(10)])

    assert not [e for e in server.events if e.kind == "copy_to" or "IDENTITY_INSERT" in e.sql]
    assert (result.rows_loaded, result.batches_skipped) == (0, 3)
    assert result.summary() == "ads: ads.campaigns: 10 rows already loaded (3 batches)"
    assert len(server.tables["ads.campaigns"]) == 10


def test_a_batch_that_differs_from_its_ledger_entry_raises_seed_ledger_mismatch() -> None:
    server = RecordingSqlServer()
    load(server, [campaigns(10)])
    with pytest.raises(SeedLedgerMismatch) as mismatch:
        load(server, [campaigns(10, budget_bump=0.01)])

    message = str(mismatch.value)
    assert message.startswith("ads: ads.campaigns: batch 1: the seed ledger (ops.seed_batches in PromptAds) records")
    assert "another seed, scale, batch size or generator version" in message
    assert "drop and redeploy PromptAds" in message and "\n" not in message
    assert len(server.tables["ads.campaigns"]) == 10  # nothing written


def test_a_ledger_with_more_batches_than_this_run_generates_is_a_mismatch() -> None:
    server = RecordingSqlServer()
    load(server, [campaigns(10)])
    with pytest.raises(SeedLedgerMismatch, match=r"batch 2: .* records 2 more batches from batch 2 on"):
        load(server, [campaigns(4)])


def test_a_value_its_column_cannot_hold_fails_the_batch_before_anything_of_it_is_sent() -> None:
    data = campaigns(6)
    good = data.make_batches

    def with_bad_second_batch(batch_rows: int) -> Iterator[dict[str, Any]]:
        for number, batch in enumerate(good(batch_rows), 1):
            if number == 2:
                batch = {**batch, "budget_usd": [Decimal("10.005"), Decimal("1.00")]}
            yield batch

    broken = TableData("ads", "ads.campaigns", data.columns, 6, with_bad_second_batch, explicit_identity=True)
    server = RecordingSqlServer()
    with pytest.raises(SeedLoadError) as failed:
        load(server, [broken])
    assert str(failed.value) == (
        "ads: ads.campaigns: batch 2: budget_usd (decimal(14,2)) row 0: 10.005 has more than 2 decimal places"
    )
    assert [e.target for e in server.events if e.kind == "copy_to"] == ["ads.campaigns"]  # batch 1 only
    assert sorted(server.ledger) == [("ads", "ads.campaigns", 1)]


def test_definition_errors_are_found_before_connecting() -> None:
    server = RecordingSqlServer()
    data = campaigns(2)
    unknown = TableData("ads", "ads.campaigns", (*data.columns, "colour"), 2, data.make_batches, explicit_identity=True)
    no_flag = TableData("ads", "ads.campaigns", data.columns, 2, data.make_batches)
    for tables, problem in (
        ([unknown], "column colour is not in model/ads.yaml ads.campaigns"),
        ([no_flag], "the batch carries identity column campaign_id; set explicit_identity=True"),
        ([data, clients()], "one SQL Server store (ads or crm) at a time"),
    ):
        with pytest.raises(ValueError, match=re.escape(problem)):
            load(server, tables)
    assert server.connections == 0


# --------------------------------------------------------------------------- encryption and geography on the server


def test_clients_plaintext_reaches_only_the_session_temp_table_and_is_encrypted_on_the_server() -> None:
    server = RecordingSqlServer()
    (result,) = load(server, [clients()], batch_rows=3)

    labels = per_batch(server.events)
    staged = [
        LOOKUP,
        "DROP TABLE IF EXISTS #clients_batch; CREATE TABLE #clients_batch (",
        "copy_to #clients_batch",
        "UPDATE #clients_batch SET national_id_hmac",
        "SET IDENTITY_INSERT [crm].[clients] ON;",
        f"OPEN SYMMETRIC KEY [{KEY}] DECRYPTION BY CERTIFICATE [{CERT}]; INSERT INTO [crm].[clients]",
        "SET IDENTITY_INSERT [crm].[clients] OFF;",
        "DROP TABLE #clients_batch;",
        RECORD,
        "commit",
    ]
    for batch in labels[:2]:
        assert [label[: len(want)] for label, want in zip(batch, staged, strict=True)] == staged
    assert [e.target for e in server.events if e.kind == "copy_to"] == ["#clients_batch", "#clients_batch"]

    # Plaintext never appears in a statement, a parameter, or a row bound for a permanent table.
    secrets = [*NATIONAL_IDS, *(n.replace("-", "") for n in NATIONAL_IDS), "marker-ctx"]
    for event in server.executed():
        text = event.sql + repr(event.params)
        assert not [s for s in secrets if s in text], event.sql
    for row in server.tables["crm.clients"]:
        assert "national_id" not in row and "context_json" not in row
        assert not [s for s in secrets if s in repr(row)]
    assert result.rows_loaded == 5

    insert = next(e.flat for e in server.executed() if "INSERT INTO [crm].[clients]" in e.flat)
    guid = f"KEY_GUID(N'{KEY}')"
    # Exactly what sec.CRMSP_SetClientSensitiveData stores: the normalized ID and the context as NVARCHAR(3500),
    # both authenticated by the client id; the HMAC from sec.fn_NationalIdHmac.
    assert (
        f"ENCRYPTBYKEY({guid}, sec.fn_NormalizeNationalId(s.national_id), 1, CONVERT(SYSNAME, s.client_id))" in insert
    )
    assert f"ENCRYPTBYKEY({guid}, CONVERT(NVARCHAR(3500), s.context_json), 1, CONVERT(SYSNAME, s.client_id))" in insert
    assert (
        insert.index(f"OPEN SYMMETRIC KEY [{KEY}]") < insert.index("INSERT INTO") < insert.index("CLOSE SYMMETRIC KEY")
    )
    prepare = next(e.flat for e in server.executed() if e.flat.startswith("UPDATE #clients_batch"))
    assert "sec.fn_NationalIdHmac(UPPER(national_id_country), national_id)" in prepare
    assert f"THROW {CLIENT_CHECK_ERROR}, @Problem, 1;" in prepare
    for rule in ("two-letter ISO code", "4 to 20 letters or digits", "at most 3,500 characters", "master key"):
        assert rule in prepare


def test_key_and_certificate_names_come_from_the_crm_model(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    text = (ROOT / "model" / "crm.yaml").read_text(encoding="utf-8")
    (tmp_path / "model" / "crm.yaml").write_text(
        text.replace(f"name: {KEY}", "name: SeedTestColumnKey").replace(f"name: {CERT}", "name: SeedTestColumnCert"),
        encoding="utf-8",
    )
    server = RecordingSqlServer()
    load(server, [clients()], batch_rows=5, root=tmp_path)
    insert = next(e.flat for e in server.executed() if "INSERT INTO [crm].[clients]" in e.flat)
    assert "OPEN SYMMETRIC KEY [SeedTestColumnKey] DECRYPTION BY CERTIFICATE [SeedTestColumnCert]" in insert
    assert "KEY_GUID(N'SeedTestColumnKey')" in insert and "CLOSE SYMMETRIC KEY [SeedTestColumnKey];" in insert
    assert KEY not in insert and CERT not in insert


def test_client_locations_get_their_geography_point_on_the_server() -> None:
    server = RecordingSqlServer()
    load(server, [client_locations()])
    insert = next(e.flat for e in server.executed() if "INSERT INTO [crm].[client_locations]" in e.flat)
    assert "[location]" in insert and "geography::Point(s.latitude, s.longitude, 4326)" in insert
    assert "SYMMETRIC KEY" not in insert and not [e for e in server.executed() if "IDENTITY_INSERT" in e.sql]
    (bulk,) = [e for e in server.events if e.kind == "copy_to"]
    assert bulk.target == "#client_locations_batch" and "location" not in bulk.columns
    assert len(server.tables["crm.client_locations"]) == 3


def test_a_partitioned_table_loads_through_the_same_bulk_path() -> None:
    server = RecordingSqlServer()
    (result,) = load(server, [sales(6)], batch_rows=4)
    assert [e.target for e in server.events if e.kind == "copy_to"] == ["sales.sales", "sales.sales"]
    assert [r["sale_id"] for r in server.tables["sales.sales"]] == [1, 2, 3, 4, 5, 6]
    assert server.tables["sales.sales"][0]["sold_at"] == datetime(2024, 12, 24, 18, 30)
    assert server.tables["sales.sales"][-1]["campaign_id"] is None
    assert result.batches_loaded == 2


def test_a_crm_load_can_follow_another_identity_table_in_the_same_session() -> None:
    # SQL Server allows IDENTITY_INSERT on one table per session: the loader must turn it off after every batch.
    server = RecordingSqlServer()
    results = load(server, [clients(), sales(3)], batch_rows=2)
    assert [r.rows_loaded for r in results] == [5, 3]


def test_clients_without_their_identity_values_are_refused() -> None:
    data = clients()
    without_id = TableData(
        "crm", "crm.clients", data.columns[1:], data.rows, data.make_batches, server_side=data.server_side
    )
    with pytest.raises(ValueError, match="needs the batch columns \\['client_id'\\]"):
        load(RecordingSqlServer(), [without_id])


def test_an_unknown_server_side_transform_is_refused_rather_than_inserted_as_is() -> None:
    data = campaigns(2)
    odd = TableData(
        "ads",
        "ads.campaigns",
        data.columns,
        2,
        data.make_batches,
        explicit_identity=True,
        server_side={"campaign_name": "encrypt"},
    )
    with pytest.raises(ValueError, match="no server-side transform for \\['campaign_name'\\]"):
        load(RecordingSqlServer(), [odd])


# --------------------------------------------------------------------------- value conversion


@pytest.mark.parametrize(
    ("declaration", "values", "sent"),
    [
        ("int", np.array([1, -5], dtype=np.int64), [1, -5]),
        ("bigint", [None, 2**40], [None, 2**40]),
        ("bit", np.array([True, False]), [True, False]),
        ("decimal(5,4)", [0.25, None, Decimal("-0.0000")], ["0.2500", None, "0.0000"]),
        ("decimal(14,2)", np.array([12.345, 7.0]), ["12.35", "7.00"]),
        ("date", np.array(["2025-01-31", "NaT"], dtype="datetime64[D]"), [date(2025, 1, 31), None]),
        (
            "datetime2(0)",
            [datetime(2025, 1, 1, 12, tzinfo=UTC), date(2025, 2, 1)],
            [datetime(2025, 1, 1, 12), datetime(2025, 2, 1)],
        ),
        ("varchar(10)", ["US-NY", None], ["US-NY", None]),
        ("binary(32)", [b"\x01" * 32], [b"\x01" * 32]),
    ],
)
def test_values_convert_to_what_the_bulk_stream_carries(declaration: str, values: Any, sent: list[Any]) -> None:
    assert wire_column("c", declaration).convert(values, "c") == sent


@pytest.mark.parametrize(
    ("declaration", "values", "problem"),
    [
        ("tinyint", np.array([1, 300]), "c row 1: 300 is out of range [0, 255]"),
        ("int", ["7"], "c row 0: '7' is not an integer"),
        ("decimal(5,2)", [Decimal("1000.00")], "c row 0: 1000.00 does not fit decimal(5,2)"),
        ("varchar(2)", ["USA"], "c row 0: 3 characters do not fit 2"),
        ("date", [datetime(2025, 1, 1, 9, 30)], "c row 0: 2025-01-01T09:30:00 is not a date"),
        ("bit", [2], "c row 0: 2 is not a bit"),
    ],
)
def test_a_value_its_type_cannot_carry_is_refused_with_its_row(declaration: str, values: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        wire_column("c", declaration).convert(values, "c")


def test_types_the_bulk_stream_cannot_carry_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot send geography values"):
        wire_column("location", "geography")


# --------------------------------------------------------------------------- command line


def test_the_command_line_names_the_missing_url_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PROMPTSALES_CRM_URL", raising=False)
    assert load_mssql.main(["--store", "crm", "--seed", "7", "--scale", "small"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: PROMPTSALES_CRM_URL is not set") and err.count("\n") == 1
