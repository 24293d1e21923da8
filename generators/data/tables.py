"""What the data generator hands to the loaders: each table's rows as deterministic, column-oriented batches.

A `TableData` is one table of one store: its qualified name, the columns in insert order and a function that
yields the rows in batches of a requested size. The same seed yields the same batches (the same bytes) on every
run, which is what makes loads resumable: a loader records each committed batch (number, row count, SHA-256 of
its content) in the store's seed ledger and, on a re-run, skips the batches already committed and verifies that
the ledger still matches.

Values are numpy arrays (numbers, booleans, datetime64) or Python lists (strings, None, nested documents); a
column holds exactly `len(batch)` values. Every batch of a table has the same columns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

Batch = Mapping[str, Any]
"""column name -> values (numpy array or list), all of one length."""

STORES = ("ads", "crm", "content", "sales")
"""Load order of the stores: campaigns first, then the CRM clients and sales that add up to them, then content
for those campaigns, then the PromptSales portal that references all of them."""


def batch_length(batch: Batch) -> int:
    lengths = {len(values) for values in batch.values()}
    if len(lengths) != 1:
        raise ValueError(f"a batch's columns differ in length: {sorted(lengths)}")
    return lengths.pop()


def batch_sha256(columns: Sequence[str], batch: Batch) -> str:
    """A content hash of a batch, stable across runs and platforms (what the seed ledgers record)."""
    digest = hashlib.sha256()
    for name in columns:
        values = batch[name]
        digest.update(name.encode("utf-8") + b"\x00")
        if isinstance(values, np.ndarray) and values.dtype != object:
            digest.update(str(values.dtype).encode("ascii") + b"\x00")
            digest.update(np.ascontiguousarray(values).tobytes())
        else:
            for value in values:
                digest.update(repr(value).encode("utf-8") + b"\x1f")
    return digest.hexdigest()


@dataclass(frozen=True)
class TableData:
    """One table's generated rows, for one store."""

    store: str
    table: str
    """Qualified name as in the model (`ads.campaigns`, `portal.users`) or the collection name (`images`)."""
    columns: tuple[str, ...]
    """Insert order. Columns the engine fills (rowversion, defaults the generator leaves alone) are absent; a few
    tables carry plaintext columns the loader transforms on the server (see `server_side`)."""
    rows: int
    make_batches: Callable[[int], Iterator[Batch]] = field(repr=False)
    explicit_identity: bool = False
    """The generator supplies identity values (so foreign keys agree across tables and runs)."""
    server_side: Mapping[str, str] = field(default_factory=dict)
    """column -> what the loader must do with it on the server (e.g. crm.clients `national_id`: encrypt with the
    column key into national_id_enc and hash into national_id_hmac; never stored as plaintext)."""

    def batches(self, batch_rows: int) -> Iterator[Batch]:
        """The rows in batches of `batch_rows` (the last one shorter); the same every time."""
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        total = 0
        for batch in self.make_batches(batch_rows):
            n = batch_length(batch)
            missing = [c for c in self.columns if c not in batch]
            if missing:
                raise ValueError(f"{self.store}.{self.table}: batch lacks columns {missing}")
            total += n
            yield batch
        if total != self.rows:
            raise ValueError(f"{self.store}.{self.table}: generated {total} rows, announced {self.rows}")


@dataclass(frozen=True)
class Brand:
    brand_id: int
    brand_name: str
    advertiser_name: str
    industry: str
    country_code: str


@dataclass(frozen=True)
class CampaignFacts:
    """What every store agrees on about a campaign (PromptAds is the source; the others reference it)."""

    campaign_id: int
    brand_id: int
    campaign_name: str
    objective: str
    status: str
    """'active' or 'finished' as of the world's as-of date."""
    starts_on: date
    ends_on: date
    budget_usd: float
    channels: tuple[str, ...]
    markets: tuple[str, ...]
    audiences: tuple[str, ...]
    sales_count: int
    """Sum of perf.daily_results.sales; the CRM's sales of this campaign count exactly this many."""
    revenue_cents: int
    """Sum of perf.daily_results.revenue_usd in cents; the CRM's sales amounts add up to exactly this."""
    reach: int
    """Sum of perf.daily_results.reach; the CRM links at most this many clients to the campaign."""
    linked_clients: int
    """How many CRM clients the campaign is linked to (400..1,000)."""


@dataclass(frozen=True)
class WorldSummary:
    seed: int
    as_of: date
    rows: Mapping[str, int]
    """`store:table` -> rows."""
    seconds: float


@dataclass(frozen=True)
class LoadResult:
    """What a loader did with one table; `summary()` is the one line printed per table."""

    store: str
    table: str
    rows: int
    """Rows the table has from the generator in total."""
    rows_loaded: int
    """Rows committed by this run (0 when every batch was already in the ledger)."""
    batches_loaded: int
    batches_skipped: int
    """Batches the ledger showed as committed by an earlier run (same number, rows and SHA-256)."""
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_loaded / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        if self.rows_loaded == 0 and self.batches_skipped:
            return f"{self.store}: {self.table}: {self.rows:,} rows already loaded ({self.batches_skipped} batches)"
        return (
            f"{self.store}: {self.table}: {self.rows_loaded:,} rows in {self.seconds:.1f} s"
            f" ({self.rows_per_second:,.0f} rows/s; {self.batches_loaded} batches loaded,"
            f" {self.batches_skipped} already there)"
        )


class SeedLedgerMismatch(RuntimeError):
    """A committed batch in a store's seed ledger differs from what this seed generates: another seed or
    another generator version loaded the store. The message names the table and batch and how to start over."""


class SeedLoadError(RuntimeError):
    """A batch could not be loaded; one line naming the store, table and batch and the server's reason.

    Nothing of that batch was committed; the batches before it were, and a re-run continues from it. The cause
    (`__cause__`) is the driver's exception: a lost connection or a deadlock may pass on retry, a constraint
    violation never will."""
