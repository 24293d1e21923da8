"""The seeded world every store is generated from: brands and campaigns first, then clients, links and sales.

    world = build_world()                          # seed 20260131, full scale (1,000 campaigns, 500,000 clients)
    for table in world.tables("ads"):              # "ads", "crm", "content", "sales", in foreign-key order
        for batch in table.batches(50_000): ...

`build_world` decides the facts every store agrees on (`CampaignFacts`: dates, status, budget, channels, markets,
audiences, sales count, revenue, reach, linked clients). A `World` derives everything else from those facts and the
seed, so it can also be built directly from hand-written facts. The same seed gives the same batches, byte for byte.

    python -m generators.data.world             # what the world holds: rows per table (counted, not generated)
    python -m generators.data.world --summary   # generate every batch of every table, with progress and timing
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from generators.data.commerce import CampaignCommerce, campaign_commerce
from generators.data.layout import (
    CampaignPlan,
    Influencer,
    SentimentCase,
    build_influencers,
    build_plans,
)
from generators.data.people import ClientBase, build_client_base
from generators.data.reference import OBJECTIVES, channel_index, industry_of, market_index, markets
from generators.data.tables import STORES, Brand, CampaignFacts, TableData, WorldSummary

if TYPE_CHECKING:
    from generators.data.content_world import ContentWorld

DEFAULT_SEED = 20260131
AS_OF = date(2026, 1, 31)
GENERATED_STORES = ("ads", "crm", "content")


@dataclass(frozen=True)
class WorldScale:
    """How big the world is. The defaults are the acceptance scale of the requirements."""

    campaigns: int = 1_000
    clients: int = 500_000
    images: int = 120
    brands: int = 72
    influencers: int = 240
    content_campaigns: int = 60
    """Campaigns with PromptContent images (every one gets at least one when images allow)."""
    content_requests: int = 40
    """Content campaigns that also have a stored content request and its message logs."""
    links_per_campaign: tuple[int, int] = (400, 1_000)
    active_share: float = 0.30
    sentiment_cases: int = 5
    client_chunk: int = 10_000
    """Clients generated per chunk (each chunk has its own stream)."""

    def __post_init__(self) -> None:
        lo, hi = self.links_per_campaign
        problems = []
        if self.campaigns < 1 or self.brands < 1 or self.influencers < 1:
            problems.append("campaigns, brands and influencers must be at least 1")
        if not 1 <= lo <= hi:
            problems.append(f"links_per_campaign must be 1 <= low <= high, got {self.links_per_campaign}")
        if self.clients < hi:
            problems.append(f"clients ({self.clients}) must be at least links_per_campaign's high ({hi})")
        if not 0.0 <= self.active_share <= 1.0:
            problems.append(f"active_share must lie in [0, 1], got {self.active_share}")
        if self.images < 0 or self.content_campaigns < 0 or self.content_requests < 0 or self.client_chunk < 1:
            problems.append("images, content_campaigns and content_requests must be >= 0, client_chunk >= 1")
        if problems:
            raise ValueError(f"WorldScale: {'; '.join(problems)}")


class World:
    """Brands and campaign facts, and everything the stores' tables are generated from."""

    def __init__(
        self,
        seed: int,
        as_of: date,
        brands: Sequence[Brand],
        campaigns: Sequence[CampaignFacts],
        scale: WorldScale | None = None,
        *,
        build_seconds: float = 0.0,
    ) -> None:
        self.seed = int(seed)
        self.as_of = as_of
        self.brands = list(brands)
        self.campaigns = list(campaigns)
        self.scale = scale or WorldScale()
        self.build_seconds = build_seconds
        _check_facts(self)

    def __repr__(self) -> str:
        return (
            f"World(seed={self.seed}, as_of={self.as_of}, brands={len(self.brands)},"
            f" campaigns={len(self.campaigns)}, clients={self.scale.clients})"
        )

    # ------------------------------------------------------------------ derived parameters (cached)

    @functools.cached_property
    def influencers(self) -> list[Influencer]:
        return build_influencers(self.seed, self.scale.influencers)

    @functools.cached_property
    def _plans_and_cases(self) -> tuple[list[CampaignPlan], list[SentimentCase]]:
        return build_plans(
            self.seed, self.as_of, self.brands, self.campaigns, self.influencers, self.scale.sentiment_cases
        )

    @property
    def plans(self) -> list[CampaignPlan]:
        """Every campaign laid out: shares, markets, ads, days and the totals the fact tables split."""
        return self._plans_and_cases[0]

    @property
    def sentiment_cases(self) -> list[SentimentCase]:
        """The planted brand-sentiment cases (which brand, campaign, channel, ads and period)."""
        return self._plans_and_cases[1]

    @functools.cached_property
    def client_base(self) -> ClientBase:
        """Market, sex, birth year and home of every client."""
        return build_client_base(self.seed, self.scale.clients)

    @functools.cached_property
    def market_pools(self) -> list[np.ndarray]:
        """Client ids per market (index of reference.markets())."""
        return [self.client_base.ids_in(m) for m in range(len(markets()))]

    @functools.cached_property
    def commerce(self) -> list[CampaignCommerce]:
        """Every campaign's links and sales (the part PromptAds and PromptCrm share), in campaign order."""
        return [
            campaign_commerce(self.seed, self.as_of, plan, self.client_base, self.market_pools) for plan in self.plans
        ]

    @functools.cached_property
    def first_link_at(self) -> np.ndarray:
        """Per client (index client_id - 1) the earliest time a campaign linked them, in epoch seconds (int64 max
        for clients no campaign reached)."""
        first = np.full(self.scale.clients, np.iinfo(np.int64).max, dtype=np.int64)
        for c in self.commerce:
            np.minimum.at(first, c.client_id - 1, c.linked_at.astype(np.int64))
        return first

    @functools.cached_property
    def content(self) -> ContentWorld:
        """The PromptContent side: campaign contexts, images and which image each ad shows."""
        from generators.data.content_world import build_content

        return build_content(self)

    # ------------------------------------------------------------------ tables

    def tables(self, store: str) -> list[TableData]:
        """The generated tables of one store, in load (foreign-key) order."""
        if store == "ads":
            from generators.data.ads import ads_tables

            return ads_tables(self)
        if store == "crm":
            from generators.data.crm import crm_tables

            return crm_tables(self)
        if store == "content":
            from generators.data.content_world import content_tables

            return content_tables(self)
        if store == "sales":
            from generators.data.portal import portal_tables  # written alongside; imported only when asked for

            return portal_tables(self)
        raise ValueError(f"unknown store {store!r}; the stores are {', '.join(STORES)}")

    def summary(self) -> WorldSummary:
        """Rows per `store:table` (announced counts, nothing generated) and the seconds it took to know them."""
        started = time.perf_counter()
        rows: dict[str, int] = {}
        for store in STORES:
            try:
                tables = self.tables(store)
            except ModuleNotFoundError as missing:
                if store == "sales" and missing.name == "generators.data.portal":
                    continue  # the portal generator is not installed in this checkout
                raise
            for table in tables:
                rows[f"{store}:{table.table}"] = table.rows
        return WorldSummary(self.seed, self.as_of, rows, self.build_seconds + time.perf_counter() - started)


def _check_facts(world: World) -> None:
    """Refuse facts the generator cannot honour, naming the campaign and what to fix."""
    brand_ids = {b.brand_id for b in world.brands}
    if len(brand_ids) != len(world.brands):
        raise ValueError("World: brand ids must be unique")
    ch, mk = channel_index(), market_index()
    from generators.data.content import AUDIENCES

    seen: set[int] = set()
    previous = 0
    for c in world.campaigns:
        where = f"World: campaign {c.campaign_id}"
        problems = []
        if c.campaign_id in seen or c.campaign_id <= previous:
            problems.append("campaign ids must be unique and ascending")
        if c.brand_id not in brand_ids:
            problems.append(f"unknown brand {c.brand_id}")
        if c.objective not in OBJECTIVES:
            problems.append(f"objective {c.objective!r} is not one of {OBJECTIVES}")
        if c.starts_on > world.as_of or c.ends_on < c.starts_on:
            problems.append("needs starts_on <= as_of and ends_on >= starts_on")
        expected = "active" if c.ends_on >= world.as_of else "finished"
        if c.status != expected:
            problems.append(f"status {c.status!r} but its dates make it {expected!r}")
        if not c.channels or len(set(c.channels)) != len(c.channels) or any(x not in ch for x in c.channels):
            problems.append(f"channels {c.channels} must be distinct codes of ads.channels")
        if not c.markets or len(set(c.markets)) != len(c.markets) or any(x not in mk for x in c.markets):
            problems.append(f"markets {c.markets} must be distinct codes of ads.markets")
        if len(set(c.audiences)) != len(c.audiences) or any(a not in AUDIENCES for a in c.audiences):
            problems.append(f"audiences {c.audiences} must be distinct audience codes")
        if c.sales_count < 0 or c.revenue_cents < c.sales_count or (c.sales_count == 0) != (c.revenue_cents == 0):
            problems.append("needs revenue_cents >= sales_count (every sale at least a cent), both 0 or both positive")
        if not 1 <= c.linked_clients <= min(world.scale.clients, c.reach):
            problems.append(f"linked_clients {c.linked_clients} must lie in 1..min(clients, reach {c.reach})")
        if c.budget_usd <= 0:
            problems.append("budget_usd must be positive")
        if problems:
            raise ValueError(f"{where}: {'; '.join(problems)}")
        seen.add(c.campaign_id)
        previous = c.campaign_id
    for b in world.brands:
        industry_of(b.industry)  # raises with the known industries


SCALES: dict[str, WorldScale] = {
    "full": WorldScale(),
    "small": WorldScale(
        campaigns=40, clients=4_000, brands=8, influencers=24, images=24, content_campaigns=8, content_requests=4
    ),
}
"""The scales the loaders, the seed DAG and the command lines name: `full` (the requirements' size) and `small`
(a few brands, for tests and demos)."""


def world_scale(scale: WorldScale | str | None) -> WorldScale:
    """A scale, or the scale a name stands for; ValueError naming the known names."""
    if scale is None:
        return WorldScale()
    if isinstance(scale, WorldScale):
        return scale
    if scale not in SCALES:
        raise ValueError(f"unknown world scale {scale!r}; the named scales are {', '.join(SCALES)}")
    return SCALES[scale]


def build_world(seed: int = DEFAULT_SEED, scale: WorldScale | str | None = None) -> World:
    """The world of `seed` at `scale` (a WorldScale or a name of SCALES): brands, campaigns and their facts.

    Cheap: the tables are generated lazily, batch by batch, when iterated.
    """
    from generators.data.campaigns import build_brands, build_campaigns

    started = time.perf_counter()
    scale = world_scale(scale)
    brands = build_brands(seed, scale.brands)
    campaigns = build_campaigns(seed, AS_OF, brands, scale)
    return World(seed, AS_OF, brands, campaigns, scale, build_seconds=time.perf_counter() - started)


# --------------------------------------------------------------------------- command line


def _scale_from(args: argparse.Namespace) -> WorldScale:
    base = world_scale(args.scale)
    return replace(base, campaigns=args.campaigns or base.campaigns, clients=args.clients or base.clients)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generators.data.world", description="Generate the seeded PromptSales world."
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", choices=sorted(SCALES), default="full", help="a named scale (default full)")
    parser.add_argument("--campaigns", type=int, default=None, help="number of campaigns (default 1,000)")
    parser.add_argument("--clients", type=int, default=None, help="number of CRM clients (default 500,000)")
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--summary", action="store_true", help="generate every batch of every table, timed")
    args = parser.parse_args(argv)
    try:
        scale = _scale_from(args)
    except ValueError as problem:
        print(problem, file=sys.stderr)
        return 2

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console()
    started = time.perf_counter()
    world = build_world(args.seed, scale)
    stores = list(GENERATED_STORES)
    report = Table(title=f"PromptSales world, seed {world.seed}, as of {world.as_of}")
    report.add_column("store")
    report.add_column("table")
    report.add_column("rows", justify="right")
    total = 0
    if not args.summary:
        for store in stores:
            for table in world.tables(store):
                report.add_row(store, table.table, f"{table.rows:,}")
                total += table.rows
        console.print(report)
        print(f"world: {total:,} rows in {len(stores)} stores (counted, not generated; --summary generates them)")
        return 0
    report.add_column("seconds", justify="right")
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        for store in stores:
            for table in world.tables(store):
                task = progress.add_task(f"{store}:{table.table}", total=table.rows)
                t0 = time.perf_counter()
                for batch in table.batches(args.batch_rows):
                    progress.advance(task, len(next(iter(batch.values()))))
                report.add_row(store, table.table, f"{table.rows:,}", f"{time.perf_counter() - t0:.1f}")
                total += table.rows
    seconds = time.perf_counter() - started
    console.print(report)
    print(f"world: {total:,} rows generated in {seconds:.1f} s ({total / seconds:,.0f} rows/s), seed {world.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
