"""Seeding PromptAds and PromptCrm on a real SQL Server: bulk load, counts, a re-run that loads nothing, encryption.

Runs only when PROMPTSALES_ADS_URL / PROMPTSALES_CRM_URL point at a server the tests may change: the session
fixtures deploy the stores first (twice, as the deploy tests do); without a URL every test here is skipped and
`pytest -ra` prints why. The same loader logic runs everywhere against a recording test double in
tests/generators/test_load_mssql.py; here the server itself takes the bulk stream, the constraints, the identity
values, the encryption and the HMAC.

The data is the generated world's small scale when generators.data.world provides `build_world` (the seed the
command line uses by default; it is the store's real seed, so it stays loaded and a later run finds it in the
ledger), otherwise a small hand-built set of tables with ids above the tables' current maximum, removed again
afterwards with its ledger entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from generators.data.load_mssql import DEFAULT_SEED, load_tables, world_tables
from generators.data.tables import LoadResult, TableData
from tests.integration.mssql_support import Deployment, run, scalar
from tests.integration.test_crm_sqlserver import session_as

BATCH_ROWS = 4
"""Small batches: every hand-built table spans several, so a re-run skips several."""


@dataclass
class Dataset:
    """The tables one store is seeded with in this module (the small world), and how to count them."""

    store: str
    tables: list[TableData]
    counts: dict[str, str]
    """table -> SELECT COUNT(*) of the rows this dataset owns in it."""
    first: list[LoadResult] = field(default_factory=list)
    second: list[LoadResult] = field(default_factory=list)


def world_dataset(store: str) -> Dataset:
    tables = world_tables(store, seed=DEFAULT_SEED, scale="small")
    return Dataset(store, tables, counts={t.table: f"SELECT COUNT(*) FROM {t.table}" for t in tables})


def seeded(connect: Callable[..., Any], store: str) -> Iterator[Dataset]:
    """The small world of the default seed, loaded twice (explicit ids: run on a freshly deployed server)."""
    dataset = world_dataset(store)
    for attempt in ("first", "second"):
        results = load_tables(lambda: connect(autocommit=False), dataset.tables, batch_rows=BATCH_ROWS, progress=False)
        setattr(dataset, attempt, results)
    yield dataset


@pytest.fixture(scope="module")
def ads_seed(ads_deployment: Deployment, ads_connect: Callable[..., Any]) -> Iterator[Dataset]:
    yield from seeded(ads_connect, "ads")


@pytest.fixture(scope="module")
def crm_seed(crm_deployment: Deployment, crm_connect: Callable[..., Any]) -> Iterator[Dataset]:
    yield from seeded(crm_connect, "crm")


def normalized(national_id: str) -> str:
    """sec.fn_NormalizeNationalId in Python: upper case, spaces, dashes, dots and slashes removed."""
    return national_id.upper().translate(str.maketrans("", "", " -./"))


# --------------------------------------------------------------------------- counts and re-runs


STORES = ["ads", "crm"]


@pytest.mark.parametrize("store", STORES)
def test_every_table_holds_its_generated_rows_and_a_rerun_loads_nothing(
    store: str, request: pytest.FixtureRequest
) -> None:
    dataset: Dataset = request.getfixturevalue(f"{store}_seed")
    conn = request.getfixturevalue(f"{store}_connect")()
    for data, first, second in zip(dataset.tables, dataset.first, dataset.second, strict=True):
        assert scalar(conn, dataset.counts[data.table]) == data.rows, data.table
        assert 0 <= first.rows_loaded <= data.rows  # an earlier run may have loaded (part of) it already
        assert first.batches_loaded + first.batches_skipped == -(-data.rows // BATCH_ROWS), data.table
        assert (second.rows_loaded, second.batches_loaded) == (0, 0), data.table
        assert second.batches_skipped == first.batches_loaded + first.batches_skipped


@pytest.mark.parametrize("store", STORES)
def test_bulk_loaded_constraints_stay_trusted(store: str, request: pytest.FixtureRequest) -> None:
    # Without CHECK_CONSTRAINTS a bulk load skips CHECK and FOREIGN KEY constraints and marks them untrusted.
    dataset: Dataset = request.getfixturevalue(f"{store}_seed")
    conn = request.getfixturevalue(f"{store}_connect")()
    names = ", ".join(f"OBJECT_ID(N'{t.table}')" for t in dataset.tables)
    untrusted = run(
        conn,
        "SET NOCOUNT ON; SELECT name FROM sys.check_constraints WHERE is_not_trusted = 1"
        f" AND parent_object_id IN ({names}) UNION ALL SELECT name FROM sys.foreign_keys WHERE is_not_trusted = 1"
        f" AND parent_object_id IN ({names});",
    )[0]
    assert untrusted == []


# --------------------------------------------------------------------------- encrypted clients


def sample_client(dataset: Dataset) -> tuple[int, str, str, str | None]:
    clients = next(t for t in dataset.tables if t.table == "crm.clients")
    batch = next(clients.batches(BATCH_ROWS))
    return (
        int(batch["client_id"][0]),
        str(batch["national_id_country"][0]),
        str(batch["national_id"][0]),
        batch["context_json"][0],
    )


def test_seeded_clients_decrypt_for_a_pii_reader_and_are_found_by_their_national_id(
    crm_seed: Dataset, crm_connect: Callable[..., Any]
) -> None:
    client_id, country, national_id, context = sample_client(crm_seed)
    conn = crm_connect()
    with session_as(crm_connect, conn, "crm_pii_reader") as reader:
        decrypted = run(
            reader, "SET NOCOUNT ON; SELECT national_id, context FROM sec.fn_ClientSensitiveData(%s);", (client_id,)
        )[0]
    assert decrypted == [(normalized(national_id), context)]
    with session_as(crm_connect, conn, "crm_app") as app:
        found = run(
            app, "SET NOCOUNT ON; SELECT client_id FROM sec.fn_FindClientByNationalId(%s, %s);", (country, national_id)
        )[0]
        masked = scalar(app, "SELECT national_id_masked FROM sec.v_clients_masked WHERE client_id = %s", (client_id,))
    assert found == [(client_id,)]
    assert masked == "*****" + normalized(national_id)[-3:]


def test_seeded_clients_hold_no_plaintext_and_their_locations_are_geography_points(
    crm_seed: Dataset, crm_connect: Callable[..., Any]
) -> None:
    client_id, _, national_id, context = sample_client(crm_seed)
    conn = crm_connect()
    ((enc, context_enc, hmac),) = run(
        conn,
        "SET NOCOUNT ON; SELECT national_id_enc, context_enc, national_id_hmac FROM crm.clients WHERE client_id = %s;",
        (client_id,),
    )[0]
    plain = normalized(national_id)
    for clear in (plain.encode("ascii"), plain.encode("utf-16-le"), national_id.encode()):
        assert clear not in enc
    if context is not None:
        assert context.encode("utf-16-le") not in context_enc and context.encode() not in context_enc
    assert isinstance(hmac, bytes) and len(hmac) == 32
    # The staging table lived in the loader's session only; no session keeps one.
    assert scalar(conn, "SELECT COUNT(*) FROM tempdb.sys.tables WHERE name LIKE N'#clients[_]batch%'") == 0
    if any(t.table == "crm.client_locations" for t in crm_seed.tables):
        located = run(
            conn,
            "SET NOCOUNT ON; SELECT location.STSrid,"
            " CASE WHEN ABS(location.Lat - CONVERT(float, latitude)) < 1e-9"
            " AND ABS(location.Long - CONVERT(float, longitude)) < 1e-9 THEN 1 ELSE 0 END"
            " FROM crm.client_locations WHERE client_id = %s;",
            (client_id,),
        )[0]
        assert located == [(4326, 1)]
