"""A stand-in for the ETL's source queries, for tests, the bench and the demo: the aggregates they would return.

No SQL Server or MongoDB runs here, so the PostgreSQL half of the delta ETL (staging -> apply -> watermark) is fed
by this module instead of by Pentaho running the rendered queries. It is a **stand-in**, clearly not the source
databases: it computes in Python/numpy what `sql/etl/<source>__<output>.sql|json` return, with the same fields in
the same order and the same rule - every touched campaign recomputed over ALL its facts, a campaign whose facts
are gone returned zeroed in the campaign-grain output, arrays as PostgreSQL array literals (`'{a,b}'`).

- `WorldSource(world)`: the generated world (generators.data.world) as the sources hold it after seeding;
  `aggregates(source, output, campaign_ids=None)` and `stage(conn, etl, source, campaign_ids, batch_id, low, high)`
  (COPY into the staging tables, then the batch header). `change(campaign_ids)` alters some facts of those
  campaigns in every source (the bench's 1% delta).
- `FactsSource(etl, seed)`: a small mutable set of fact rows per source, each carrying a rowversion-like marker
  from one counter (an `updated_at` for PromptContent); inserts, updates and deletes advance it, and
  `delta(source, low, high)` returns the aggregates of the campaigns touched in `[low, high)`: the Python mirror
  of the rendered queries' semantics, including the delete rule (a fact's delete touches its parent row: the ad
  of a daily result or reaction, the client link of a sale).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from generators.model_etl import EtlModel
from generators.render_etl import BATCH_COLUMN, ROWVERSION_FLOOR, STAGE_BATCHES, UPDATED_AT_FLOOR, stage_columns

if TYPE_CHECKING:
    from generators.data.world import World

Row = tuple[Any, ...]
Rows = dict[str, list[Row]]
"""output name -> rows, each a tuple in the output's field order."""

CENT = Decimal("0.01")


def cents(value: int) -> Decimal:
    return (Decimal(int(value)) / 100).quantize(CENT)


def array_literal(codes: Iterable[str]) -> str:
    """What the T-SQL queries return for an array field: the codes sorted by their bytes, as '{a,b}'."""
    return "{" + ",".join(sorted(codes, key=lambda c: c.encode("utf-8"))) + "}"


def rowversion_text(value: int) -> str:
    return f"0x{value:016X}"


def updated_at_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ordered(etl: EtlModel, source_name: str, output_name: str, values: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Rows in the output's field order, sorted by its key (as the queries' ORDER BY)."""
    fields = [name for name, _ in stage_columns(etl, source_name, output_name)]
    output = next(o for o in etl.source(source_name).outputs if o.name == output_name)
    key_at = [fields.index(k) for k in output.keys]
    rows = [tuple(v[name] for name in fields) for v in values]
    return sorted(rows, key=lambda r: tuple(r[i] for i in key_at))


def stage_rows(
    conn: Any,
    etl: EtlModel,
    source_name: str,
    rows: Mapping[str, Sequence[Row]],
    batch_id: str,
    low: str,
    high: str,
    *,
    header: bool = True,
) -> dict[str, int]:
    """COPY the rows of every output into its staging table, then write the batch header, in one transaction.

    `header=False` leaves the batch without its header: a staging that died before it finished."""
    from psycopg import sql
    from psycopg.types.json import Jsonb

    source = etl.source(source_name)
    counts: dict[str, int] = {}
    with conn.transaction():
        for output in source.outputs:
            columns = [name for name, _ in stage_columns(etl, source_name, output.name)] + [BATCH_COLUMN]
            schema, table = source.stage_table(output).split(".")
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            )
            staged = list(rows.get(output.name, []))
            with conn.cursor() as cur, cur.copy(statement) as copy:
                for row in staged:
                    copy.write_row((*row, batch_id))
            counts[output.name] = len(staged)
        if header:
            conn.execute(
                f"INSERT INTO {STAGE_BATCHES} (source_name, batch_id, watermark_low, watermark_high, rows_staged)"
                " VALUES (%s, %s, %s, %s, %s)",
                (source_name, batch_id, low, high, Jsonb(counts)),
            )
    return counts


# --------------------------------------------------------------------------- the generated world


@dataclass
class _AdsCampaign:
    attributes: dict[str, Any]
    results: dict[str, np.ndarray]
    """One campaign's perf.daily_results: channel (code index), market, day, and the metrics (money in cents)."""
    channel_codes: tuple[str, ...]


class WorldSource:
    """The generated world as the sources hold it: what the rendered source queries would return from it.

    A stand-in for tests, the bench and the demo (no SQL Server or MongoDB here), never the source databases."""

    def __init__(self, world: World, etl: EtlModel | None = None) -> None:
        self.world = world
        self.etl = etl or _load_etl()
        self._ads: dict[int, _AdsCampaign] | None = None
        self._negatives: dict[int, np.ndarray] | None = None
        self._crm: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
        self._images: list[tuple[tuple[int, ...], str]] | None = None

    # ------------------------------------------------------------------ facts, built once

    @property
    def ads(self) -> dict[int, _AdsCampaign]:
        if self._ads is None:
            from generators.data.ads import campaign_results
            from generators.data.reference import markets

            brands = {b.brand_id: b.brand_name for b in self.world.brands}
            codes = [m.code for m in markets()]
            out: dict[int, _AdsCampaign] = {}
            for plan in self.world.plans:
                f = plan.facts
                chunk = campaign_results(self.world, plan)
                order = np.argsort(plan.ad_ids)
                ad_index = order[np.searchsorted(plan.ad_ids, chunk["ad_id"], sorter=order)]
                results = {
                    "channel": plan.ad_channel[ad_index].astype(np.int64),
                    "market": chunk["market_code"].astype(np.int64),
                    "day": chunk["result_date"].astype("datetime64[D]"),
                    "reach": chunk["reach"].astype(np.int64),
                    "views": chunk["views"].astype(np.int64),
                    "likes": chunk["likes"].astype(np.int64),
                    "shares": chunk["shares"].astype(np.int64),
                    "comments": chunk["comments"].astype(np.int64),
                    "interactions": chunk["interactions"].astype(np.int64),
                    "sales": chunk["sales"].astype(np.int64),
                    "exposure_cents": np.round(chunk["exposure_hours"] * 100).astype(np.int64),
                    "cost_cents": np.round(chunk["cost_usd"] * 100).astype(np.int64),
                    "revenue_cents": np.round(chunk["revenue_usd"] * 100).astype(np.int64),
                }
                attributes = {
                    "campaign_id": plan.campaign_id,
                    "campaign_name": f.campaign_name,
                    "brand_name": brands[f.brand_id],
                    "status": f.status,
                    "objective": f.objective,
                    "starts_on": f.starts_on,
                    "ends_on": f.ends_on,
                    "budget_usd": cents(round(f.budget_usd * 100)),
                    "channels": array_literal(plan.channel_codes),
                    "markets": array_literal(codes[int(g)] for g in plan.market_global),
                }
                out[plan.campaign_id] = _AdsCampaign(attributes, results, tuple(plan.channel_codes))
            self._ads = out
        return self._ads

    @property
    def negatives(self) -> dict[int, np.ndarray]:
        """Per campaign, one flag per social reaction: is it negative."""
        if self._negatives is None:
            from generators.data.ads import SENTIMENTS, _influencer_pools, campaign_reactions

            pools = _influencer_pools(self.world)
            negative = SENTIMENTS.index("negative")
            out = {}
            for plan in self.world.plans:
                chunk = campaign_reactions(self.world, plan, 1, pools)
                out[plan.campaign_id] = (chunk["sentiment"] == negative if chunk else np.zeros(0, dtype=bool)).astype(
                    bool
                )
            self._negatives = out
        return self._negatives

    @property
    def crm(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per campaign: each linked client's converted flag, and each sale's amount in cents."""
        if self._crm is None:
            self._crm = {
                plan.campaign_id: (c.converted.astype(bool).copy(), c.amount_cents.astype(np.int64).copy())
                for plan, c in zip(self.world.plans, self.world.commerce, strict=True)
            }
        return self._crm

    @property
    def images(self) -> list[tuple[tuple[int, ...], str]]:
        """Every image: the campaigns that use it and its approval state."""
        if self._images is None:
            self._images = [
                (tuple(int(c) for c in im.document["campaign_ids"]), str(im.document["approval"]["state"]))
                for im in self.world.content.images
            ]
        return self._images

    # ------------------------------------------------------------------ what the queries return

    def campaigns(self, source_name: str) -> list[int]:
        """The campaigns a window over all of the source's history touches (a full refresh)."""
        if source_name == "content_assets":
            return sorted({c for cids, _ in self.images for c in cids})
        return sorted(self.ads)

    def aggregates(self, source_name: str, output_name: str, campaign_ids: Iterable[int] | None = None) -> list[Row]:
        """The rows the source query returns for these touched campaigns (None: every campaign it holds)."""
        wanted = self.campaigns(source_name) if campaign_ids is None else sorted(set(campaign_ids))
        return _ordered(self.etl, source_name, output_name, self._values(source_name, output_name, wanted))

    def _values(self, source_name: str, output_name: str, wanted: list[int]) -> Iterable[dict[str, Any]]:
        if source_name == "ads_daily_results":
            for cid in wanted:
                campaign = self.ads.get(cid)
                if campaign is None:
                    continue  # not in PromptAds: the query's join on ads.campaigns drops it
                if output_name == "campaign":
                    yield _campaign_totals(campaign)
                else:
                    yield from _channel_days(cid, campaign)
        elif source_name == "ads_social_reactions":
            for cid in wanted:
                if cid in self.ads:
                    yield {"campaign_id": cid, "negative_reactions": int(self.negatives.get(cid, np.zeros(0)).sum())}
        elif source_name == "crm_sales":
            for cid in wanted:
                converted, amounts = self.crm.get(cid, (np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)))
                yield {
                    "campaign_id": cid,
                    "clients_reached": int(converted.size),
                    "conversions": int(converted.sum()),
                    "sales_count": int(amounts.size),
                    "sales_amount_usd": cents(int(amounts.sum())),
                }
        elif source_name == "content_assets":
            counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
            for cids, state in self.images:
                for c in cids:
                    counts[c][0] += 1
                    counts[c][1] += state == "approved"
            for cid in wanted:
                if cid in counts:  # touched through one of its images, so it has one at least
                    yield {"campaign_id": cid, "content_assets": counts[cid][0], "approved_assets": counts[cid][1]}
        else:
            raise KeyError(f"WorldSource: unknown source {source_name!r}")

    def rows(self, source_name: str, campaign_ids: Iterable[int] | None = None) -> Rows:
        ids = None if campaign_ids is None else sorted(set(campaign_ids))
        return {o.name: self.aggregates(source_name, o.name, ids) for o in self.etl.source(source_name).outputs}

    def stage(
        self,
        conn: Any,
        etl: EtlModel,
        source_name: str,
        campaign_ids: Iterable[int] | None,
        batch_id: str,
        low: str,
        high: str,
        *,
        header: bool = True,
    ) -> dict[str, int]:
        """Stage what the source query returns for these campaigns (None: all) as batch `batch_id`."""
        return stage_rows(
            conn, etl, source_name, self.rows(source_name, campaign_ids), batch_id, low, high, header=header
        )

    # ------------------------------------------------------------------ changes

    def change(self, campaign_ids: Iterable[int], seed: int = 0) -> None:
        """Change some facts of these campaigns in every source: the last day's results gain reach and likes, one
        reaction turns negative, one more client converts and buys, and one of their images changes approval."""
        rng = np.random.default_rng(seed)
        ids = sorted(set(campaign_ids))
        for cid in ids:
            campaign = self.ads.get(cid)
            if campaign is not None and campaign.results["day"].size:
                last = campaign.results["day"] == campaign.results["day"].max()
                bump = rng.integers(1, 50, int(last.sum()))
                for name in ("reach", "views", "likes", "interactions"):
                    campaign.results[name][last] += bump
                campaign.results["cost_cents"][last] += 100
            flags = self.negatives.get(cid)
            if flags is not None:
                self.negatives[cid] = np.append(flags, True)
            if cid in self.crm:
                converted, amounts = self.crm[cid]
                converted = converted.copy()
                open_ = np.flatnonzero(~converted)
                if open_.size:
                    converted[open_[0]] = True
                self.crm[cid] = (converted, np.append(amounts, int(rng.integers(500, 50_000))))
        for i, (cids, state) in enumerate(self.images):
            if set(cids) & set(ids):
                self.images[i] = (cids, "pending" if state == "approved" else "approved")


def _campaign_totals(campaign: _AdsCampaign) -> dict[str, Any]:
    r = campaign.results
    return {
        **campaign.attributes,
        "reach": int(r["reach"].sum()),
        "views": int(r["views"].sum()),
        "reactions": int((r["likes"] + r["shares"] + r["comments"]).sum()),
        "interactions": int(r["interactions"].sum()),
        "exposure_hours": cents(int(r["exposure_cents"].sum())),
        "cost_usd": cents(int(r["cost_cents"].sum())),
        "revenue_usd": cents(int(r["revenue_cents"].sum())),
    }


def _channel_days(campaign_id: int, campaign: _AdsCampaign) -> Iterable[dict[str, Any]]:
    r = campaign.results
    if not r["day"].size:
        return
    days = r["day"].astype(np.int64)
    groups, group = np.unique(np.stack([r["channel"], days]), axis=1, return_inverse=True)
    group = group.reshape(-1)
    n = groups.shape[1]
    markets = np.unique(np.stack([group, r["market"]]), axis=1)[0]
    market_count = np.bincount(markets, minlength=n)
    sums = {
        name: np.bincount(group, weights=r[name], minlength=n).astype(np.int64)
        for name in (
            "reach",
            "views",
            "likes",
            "shares",
            "comments",
            "interactions",
            "sales",
            "exposure_cents",
            "cost_cents",
            "revenue_cents",
        )
    }
    epoch = date(1970, 1, 1)
    for g in range(n):
        yield {
            "campaign_id": campaign_id,
            "channel": campaign.channel_codes[int(groups[0, g])],
            "day": epoch + timedelta(days=int(groups[1, g])),
            "market_count": int(market_count[g]),
            "reach": int(sums["reach"][g]),
            "views": int(sums["views"][g]),
            "likes": int(sums["likes"][g]),
            "shares": int(sums["shares"][g]),
            "comments": int(sums["comments"][g]),
            "interactions": int(sums["interactions"][g]),
            "exposure_hours": cents(int(sums["exposure_cents"][g])),
            "sales_count": int(sums["sales"][g]),
            "cost_usd": cents(int(sums["cost_cents"][g])),
            "revenue_usd": cents(int(sums["revenue_cents"][g])),
        }


WORLD_HIGH = {"rowversion": "0x0000000000100000", "updated_at": "2026-02-01T00:00:00.000Z"}
"""The window's high bound of a stand-in refresh from the generated world: past every marker the seed wrote."""


@dataclass(frozen=True)
class StandInRun:
    """One source of a stand-in refresh: rows staged and summary rows changed, or why it was left alone."""

    source: str
    rows_staged: int = 0
    rows_changed: int = 0
    skipped: str = ""


def refresh_from_world(conn: Any, source: WorldSource, airflow_run_id: str = "demo") -> list[StandInRun]:
    """Fill the PromptSales summaries from the generated world through the real staging and apply procedures.

    For each source that has never been applied successfully: stage every campaign (a full refresh) in the window
    [watermark, WORLD_HIGH) and CALL its apply procedure. A source with a succeeded run is left alone, so a second
    call changes nothing and a real ETL run is never overwritten. This is the stand-in of the source queries (what
    Pentaho would stage from SQL Server and MongoDB), for a machine where those stores are not configured."""
    runs = []
    for s in source.etl.sources:
        done = conn.execute(
            "SELECT 1 FROM etl.run_log WHERE source_name = %s AND status = 'succeeded' LIMIT 1", (s.name,)
        ).fetchone()
        if done:
            runs.append(StandInRun(s.name, skipped="applied before"))
            continue
        row = conn.execute("SELECT etl.watermark_low(%s)", (s.name,)).fetchone()
        low = str(row[0]) if row else ""
        batch = f"standin-{s.name}"
        counts = source.stage(conn, source.etl, s.name, None, batch, low, WORLD_HIGH[s.marker])
        conn.execute(f"CALL {s.apply_procedure}(%s, %s)", (batch, airflow_run_id))
        changed = conn.execute(
            "SELECT rows_changed FROM etl.run_log WHERE source_name = %s ORDER BY run_id DESC LIMIT 1", (s.name,)
        ).fetchone()
        runs.append(StandInRun(s.name, sum(counts.values()), int(changed[0]) if changed else 0))
    return runs


def _load_etl() -> EtlModel:
    from pathlib import Path

    from generators.model import load_models

    root = Path(__file__).resolve().parent.parent
    etl: EtlModel = next(m for m in load_models(root / "model", root=root) if m.store == "etl")
    return etl


# --------------------------------------------------------------------------- a small mutable set of facts

CONTENT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""FactsSource's PromptContent clock: marker n is this moment plus n milliseconds."""
CHANNELS = ("email", "facebook", "instagram", "linkedin", "tiktok")
MARKETS = ("CA-ON", "GB-LND", "US-CA", "US-NY")
STATUSES = ("active", "finished", "paused")
OBJECTIVES = ("awareness", "consideration", "conversion", "retention")


@dataclass
class _Campaign:
    campaign_id: int
    name: str
    brand: str
    status: str
    objective: str
    starts_on: date
    ends_on: date
    budget: Decimal
    channels: tuple[str, ...]
    markets: tuple[str, ...]
    marker: int


@dataclass
class _Ad:
    campaign_id: int
    channel: str
    marker: int


@dataclass
class _Result:
    ad_id: int
    market: str
    day: date
    metrics: dict[str, Any]
    marker: int


@dataclass
class _Reaction:
    ad_id: int
    negative: bool
    marker: int


@dataclass
class _Link:
    converted: bool
    marker: int


@dataclass
class _Sale:
    campaign_id: int
    client_id: int
    amount: Decimal
    marker: int


@dataclass
class _Image:
    campaign_ids: tuple[int, ...]
    state: str
    marker: int


@dataclass
class FactsSource:
    """Fact rows per source with rowversion-like markers, for the property tests of the apply (tests only).

    One counter hands out every marker: a rowversion for the SQL Server sources, milliseconds after
    CONTENT_EPOCH as `updated_at` for PromptContent. `delta` mirrors the rendered queries: the campaigns
    touched in `[low, high)`, each recomputed over all its facts."""

    etl: EtlModel
    seed: int = 0
    counter: int = 0
    campaigns: dict[int, _Campaign] = field(default_factory=dict)
    ads: dict[int, _Ad] = field(default_factory=dict)
    results: dict[int, _Result] = field(default_factory=dict)
    reactions: dict[int, _Reaction] = field(default_factory=dict)
    links: dict[tuple[int, int], _Link] = field(default_factory=dict)
    sales: dict[int, _Sale] = field(default_factory=dict)
    images: dict[int, _Image] = field(default_factory=dict)
    rng: random.Random = field(init=False, repr=False)
    _ids: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - reproducible test facts, not secrets

    # ------------------------------------------------------------------ markers and bounds

    def _tick(self) -> int:
        self.counter += 1
        return self.counter

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    def marker_kind(self, source_name: str) -> str:
        return self.etl.source(source_name).marker

    def bound(self, source_name: str, marker: int) -> str:
        """The text of marker `marker` as the source's queries take it (${WM_LOW} / ${WM_HIGH})."""
        if self.marker_kind(source_name) == "rowversion":
            return rowversion_text(marker)
        return updated_at_text(CONTENT_EPOCH + timedelta(milliseconds=marker))

    def high_bound(self, source_name: str) -> str:
        """Everything written so far lies below it (no transaction is open in this stand-in)."""
        return self.bound(source_name, self.counter + 1)

    def floor(self, source_name: str) -> str:
        return ROWVERSION_FLOOR if self.marker_kind(source_name) == "rowversion" else UPDATED_AT_FLOOR

    def marker_of(self, source_name: str, text: str) -> int:
        if self.marker_kind(source_name) == "rowversion":
            return int(text, 16)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (moment - CONTENT_EPOCH) // timedelta(milliseconds=1)

    # ------------------------------------------------------------------ mutations (each advances the counter)

    def add_campaign(self, campaign_id: int | None = None) -> int:
        """A campaign created in PromptAds with its channels, markets and one ad per channel."""
        rng = self.rng
        cid = campaign_id if campaign_id is not None else max([0, *self.campaigns, *self._crm_campaigns()]) + 1
        starts = date(2025, 1, 1) + timedelta(days=rng.randrange(300))
        channels = tuple(sorted(rng.sample(CHANNELS, rng.randint(1, 3))))
        self.campaigns[cid] = _Campaign(
            cid,
            f"Campaign {cid}",
            rng.choice(("Northwind", "Contoso", "Fabrikam")),
            rng.choice(STATUSES),
            rng.choice(OBJECTIVES),
            starts,
            starts + timedelta(days=rng.randrange(5, 60)),
            Decimal(rng.randrange(100_000, 5_000_000)) / 100,
            channels,
            tuple(sorted(rng.sample(MARKETS, rng.randint(1, 3)))),
            self._tick(),
        )
        for channel in channels:
            self.ads[self._id()] = _Ad(cid, channel, self._tick())
        return cid

    def update_campaign(self, campaign_id: int) -> None:
        c = self.campaigns[campaign_id]
        self.campaigns[campaign_id] = replace(
            c,
            status=self.rng.choice(STATUSES),
            budget=c.budget + Decimal(self.rng.randrange(1, 10_000)) / 100,
            marker=self._tick(),
        )

    def _ads_of(self, campaign_id: int) -> list[int]:
        return [a for a, ad in self.ads.items() if ad.campaign_id == campaign_id]

    def _metrics(self) -> dict[str, Any]:
        rng = self.rng
        reach = rng.randrange(0, 5_000)
        views = reach + rng.randrange(0, 2_000)
        likes, shares, comments, sales = (rng.randrange(0, 200) for _ in range(4))
        return {
            "reach": reach,
            "views": views,
            "likes": likes,
            "shares": shares,
            "comments": comments,
            "interactions": likes + shares + comments + sales + rng.randrange(0, 100),
            "sales": sales,
            "exposure_hours": Decimal(rng.randrange(0, 100_000)) / 100,
            "cost_usd": Decimal(rng.randrange(0, 500_000)) / 100,
            "revenue_usd": Decimal(rng.randrange(0, 900_000)) / 100,
        }

    def add_result(self, campaign_id: int) -> int:
        c = self.campaigns[campaign_id]
        ad_id = self.rng.choice(self._ads_of(campaign_id))
        fid = self._id()
        day = c.starts_on + timedelta(days=self.rng.randrange((c.ends_on - c.starts_on).days + 1))
        self.results[fid] = _Result(ad_id, self.rng.choice(c.markets), day, self._metrics(), self._tick())
        return fid

    def update_result(self, fact_id: int) -> None:
        self.results[fact_id] = replace(self.results[fact_id], metrics=self._metrics(), marker=self._tick())

    def delete_result(self, fact_id: int) -> None:
        """A hard delete leaves no row to find by rowversion: its writer touches the result's ad (ads.ads)."""
        result = self.results.pop(fact_id)
        self.ads[result.ad_id].marker = self._tick()

    def add_reaction(self, campaign_id: int) -> int:
        fid = self._id()
        ad_id = self.rng.choice(self._ads_of(campaign_id))
        self.reactions[fid] = _Reaction(ad_id, self.rng.random() < 0.4, self._tick())
        return fid

    def update_reaction(self, fact_id: int) -> None:
        r = self.reactions[fact_id]
        self.reactions[fact_id] = replace(r, negative=not r.negative, marker=self._tick())

    def delete_reaction(self, fact_id: int) -> None:
        reaction = self.reactions.pop(fact_id)
        self.ads[reaction.ad_id].marker = self._tick()

    def add_link(self, campaign_id: int) -> tuple[int, int]:
        """A CRM client linked to a campaign (the campaign need not be in PromptAds yet)."""
        key = (campaign_id, self._id())
        self.links[key] = _Link(self.rng.random() < 0.3, self._tick())
        return key

    def update_link(self, key: tuple[int, int]) -> None:
        link = self.links[key]
        self.links[key] = _Link(not link.converted, self._tick())

    def add_sale(self, campaign_id: int) -> int:
        clients = [k for k in self.links if k[0] == campaign_id]
        key = self.rng.choice(clients) if clients else self.add_link(campaign_id)
        sid = self._id()
        self.sales[sid] = _Sale(campaign_id, key[1], Decimal(self.rng.randrange(100, 90_000)) / 100, self._tick())
        return sid

    def update_sale(self, sale_id: int) -> None:
        s = self.sales[sale_id]
        self.sales[sale_id] = replace(s, amount=Decimal(self.rng.randrange(100, 90_000)) / 100, marker=self._tick())

    def delete_sale(self, sale_id: int) -> None:
        """The delete touches the buyer's link row (crm.client_campaigns) in the same transaction."""
        sale = self.sales.pop(sale_id)
        key = (sale.campaign_id, sale.client_id)
        if key in self.links:
            self.links[key] = _Link(self.links[key].converted, self._tick())

    def add_image(self, campaign_ids: Sequence[int]) -> int:
        iid = self._id()
        state = self.rng.choice(("approved", "pending", "draft"))
        self.images[iid] = _Image(tuple(sorted(set(campaign_ids))), state, self._tick())
        return iid

    def update_image(self, image_id: int) -> None:
        im = self.images[image_id]
        state = "pending" if im.state == "approved" else "approved"
        self.images[image_id] = replace(im, state=state, marker=self._tick())

    def link_image(self, image_id: int, campaign_id: int) -> None:
        im = self.images[image_id]
        self.images[image_id] = replace(
            im, campaign_ids=tuple(sorted({*im.campaign_ids, campaign_id})), marker=self._tick()
        )

    def _crm_campaigns(self) -> set[int]:
        return {k[0] for k in self.links} | {s.campaign_id for s in self.sales.values()}

    def random_change(self, known_campaigns: Sequence[int]) -> str:
        """One random insert, update or delete of a fact (or a new campaign); returns what it did."""
        rng = self.rng
        in_ads = sorted(self.campaigns)
        choices: list[str] = ["add_campaign", "add_link", "add_sale", "add_image"]
        if in_ads:
            choices += ["update_campaign", "add_result", "add_result", "add_reaction"]
        choices += ["update_result", "delete_result"] if self.results else []
        choices += ["update_reaction", "delete_reaction"] if self.reactions else []
        choices += ["update_link"] if self.links else []
        choices += ["update_sale", "delete_sale"] if self.sales else []
        choices += ["update_image", "link_image"] if self.images else []
        kind = rng.choice(choices)
        pool = sorted({*known_campaigns, *in_ads})
        if kind == "add_campaign":
            missing = [c for c in pool if c not in self.campaigns]
            return f"add_campaign {self.add_campaign(rng.choice(missing) if missing and rng.random() < 0.7 else None)}"
        if kind in ("update_campaign", "add_result", "add_reaction"):
            cid = rng.choice(in_ads)
            getattr(self, kind)(cid)
            return f"{kind} {cid}"
        if kind in ("add_link", "add_sale"):
            cid = rng.choice(pool) if pool else 1
            getattr(self, kind)(cid)
            return f"{kind} {cid}"
        if kind == "add_image":
            cids = rng.sample(pool, min(len(pool), rng.randint(1, 2))) if pool else [1]
            return f"add_image {self.add_image(cids)}"
        if kind == "link_image":
            iid = rng.choice(sorted(self.images))
            cid = rng.choice(pool) if pool else 1
            self.link_image(iid, cid)
            return f"link_image {iid} {cid}"
        tables: dict[str, Mapping[Any, Any]] = {
            "update_result": self.results,
            "delete_result": self.results,
            "update_reaction": self.reactions,
            "delete_reaction": self.reactions,
            "update_link": self.links,
            "update_sale": self.sales,
            "delete_sale": self.sales,
            "update_image": self.images,
        }
        key = rng.choice(sorted(tables[kind]))
        getattr(self, kind)(key)
        return f"{kind} {key}"

    # ------------------------------------------------------------------ what the queries return

    def touched(self, source_name: str, low: int, high: int) -> set[int]:
        """Campaigns with a row of one of the source's change tables whose marker lies in [low, high)."""

        def inside(marker: int) -> bool:
            return low <= marker < high

        if source_name == "ads_daily_results":
            return (
                {c.campaign_id for c in self.campaigns.values() if inside(c.marker)}
                | {ad.campaign_id for ad in self.ads.values() if inside(ad.marker)}
                | {self.ads[r.ad_id].campaign_id for r in self.results.values() if inside(r.marker)}
            )
        if source_name == "ads_social_reactions":
            return {self.ads[r.ad_id].campaign_id for r in self.reactions.values() if inside(r.marker)} | {
                ad.campaign_id for ad in self.ads.values() if inside(ad.marker)
            }
        if source_name == "crm_sales":
            return {s.campaign_id for s in self.sales.values() if inside(s.marker)} | {
                k[0] for k, link in self.links.items() if inside(link.marker)
            }
        if source_name == "content_assets":
            return {c for im in self.images.values() if inside(im.marker) for c in im.campaign_ids}
        raise KeyError(f"FactsSource: unknown source {source_name!r}")

    def delta(self, source_name: str, low: str, high: str) -> Rows:
        """The rows of every output for the campaigns touched in [low, high), each recomputed over all its facts."""
        touched = sorted(self.touched(source_name, self.marker_of(source_name, low), self.marker_of(source_name, high)))
        return {
            o.name: _ordered(self.etl, source_name, o.name, self._values(source_name, o.name, touched))
            for o in self.etl.source(source_name).outputs
        }

    def full(self, source_name: str) -> Rows:
        """A full recompute: every campaign the source holds anything of (the window from the floor to now)."""
        return self.delta(source_name, self.floor(source_name), self.high_bound(source_name))

    def _values(self, source_name: str, output_name: str, touched: list[int]) -> Iterable[dict[str, Any]]:
        if source_name == "ads_daily_results":
            for cid in touched:
                c = self.campaigns.get(cid)
                if c is None:
                    continue  # the query's join on ads.campaigns
                facts = [r for r in self.results.values() if self.ads[r.ad_id].campaign_id == cid]
                if output_name == "campaign":
                    yield {
                        "campaign_id": cid,
                        "campaign_name": c.name,
                        "brand_name": c.brand,
                        "status": c.status,
                        "objective": c.objective,
                        "starts_on": c.starts_on,
                        "ends_on": c.ends_on,
                        "budget_usd": c.budget,
                        "channels": array_literal(c.channels),
                        "markets": array_literal(c.markets),
                        "reach": sum(r.metrics["reach"] for r in facts),
                        "views": sum(r.metrics["views"] for r in facts),
                        "reactions": sum(
                            r.metrics["likes"] + r.metrics["shares"] + r.metrics["comments"] for r in facts
                        ),
                        "interactions": sum(r.metrics["interactions"] for r in facts),
                        "exposure_hours": sum((r.metrics["exposure_hours"] for r in facts), Decimal("0.00")),
                        "cost_usd": sum((r.metrics["cost_usd"] for r in facts), Decimal("0.00")),
                        "revenue_usd": sum((r.metrics["revenue_usd"] for r in facts), Decimal("0.00")),
                    }
                    continue
                groups: dict[tuple[str, date], list[_Result]] = defaultdict(list)
                for r in facts:
                    groups[(self.ads[r.ad_id].channel, r.day)].append(r)
                for (channel, day), rows in groups.items():
                    yield {
                        "campaign_id": cid,
                        "channel": channel,
                        "day": day,
                        "market_count": len({r.market for r in rows}),
                        **{
                            name: sum(r.metrics[name] for r in rows)
                            for name in ("reach", "views", "likes", "shares", "comments", "interactions")
                        },
                        "exposure_hours": sum((r.metrics["exposure_hours"] for r in rows), Decimal("0.00")),
                        "sales_count": sum(r.metrics["sales"] for r in rows),
                        "cost_usd": sum((r.metrics["cost_usd"] for r in rows), Decimal("0.00")),
                        "revenue_usd": sum((r.metrics["revenue_usd"] for r in rows), Decimal("0.00")),
                    }
        elif source_name == "ads_social_reactions":
            for cid in touched:
                yield {
                    "campaign_id": cid,
                    "negative_reactions": sum(
                        1 for r in self.reactions.values() if r.negative and self.ads[r.ad_id].campaign_id == cid
                    ),
                }
        elif source_name == "crm_sales":
            for cid in touched:
                links = [link for k, link in self.links.items() if k[0] == cid]
                sales = [s for s in self.sales.values() if s.campaign_id == cid]
                yield {
                    "campaign_id": cid,
                    "clients_reached": len(links),
                    "conversions": sum(1 for link in links if link.converted),
                    "sales_count": len(sales),
                    "sales_amount_usd": sum((s.amount for s in sales), Decimal("0.00")),
                }
        elif source_name == "content_assets":
            for cid in touched:
                mine = [im for im in self.images.values() if cid in im.campaign_ids]
                yield {
                    "campaign_id": cid,
                    "content_assets": len(mine),
                    "approved_assets": sum(1 for im in mine if im.state == "approved"),
                }
        else:
            raise KeyError(f"FactsSource: unknown source {source_name!r}")


__all__ = [
    "FactsSource",
    "Row",
    "Rows",
    "WorldSource",
    "array_literal",
    "rowversion_text",
    "stage_rows",
    "updated_at_text",
]
