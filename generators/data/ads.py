"""PromptAds tables of a world: audiences, brands, influencers, campaigns and their children, ads, daily results
and social reactions, in foreign-key order.

Daily results are one row per ad x market x day from the campaign's start to its end or the as-of date, ordered by
the primary key. Per channel, the campaign's reach and cost to date are split exactly over those cells; views,
interactions, likes, shares, comments and exposure hours follow the reach with the channel's rates
(views >= interactions >= likes + shares + comments + sales); sales and revenue are the campaign's CRM sales
counted per cell, so PromptAds and PromptCrm agree to the cent.

Social reactions are what a social-listening feed keeps of the reactions to ads on social channels: a few per ad,
market and day, with their sentiment and, for negative ones, the kind of negative. The planted sentiment cases
(`World.sentiment_cases`) raise the negative share on the case ads in the case period and cut the influencers'
reactions to them against the period before.

Decimal columns are float64 holding exact cents / 100 (or ten-thousandths for shares); nullable integer and text
columns are lists with None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from generators.data.batches import SECONDS_PER_DAY, Chunk, batches_of, cents_to_amount, labels, split_integer, stream
from generators.data.commerce import HOUR_WEIGHTS
from generators.data.content import AUDIENCES
from generators.data.layout import CampaignPlan, case_day_masks, cell_index, reaction_weights
from generators.data.reference import channels, markets, model_rows
from generators.data.tables import TableData

if TYPE_CHECKING:
    from generators.data.world import World

REACTION_KINDS = ("like", "share", "comment", "mention")
REACTION_KIND_SHARES = np.array([0.45, 0.15, 0.30, 0.10])
CASE_REACTION_KIND_SHARES = np.array([0.15, 0.15, 0.45, 0.25])
"""In a backlash people stop liking and start commenting and mentioning."""
SENTIMENTS = ("positive", "neutral", "negative")
NEGATIVE_KINDS = ("complaint", "offensive", "misleading", "pricing", "quality", "boycott", "spam")
NEGATIVE_KIND_SHARES = np.array([0.30, 0.05, 0.10, 0.20, 0.20, 0.03, 0.12])
CASE_NEGATIVE_SHARE = 0.72
"""Share of negative non-like reactions on a case ad in the case period (baseline 8-20%)."""
CASE_KIND_SHARE = 0.7
"""Share of the case's own negative kind among its negative reactions."""

AUDIENCE_DETAILS = {
    "young_professionals": (24, 35, "careers, city life, travel, tech"),
    "university_students": (18, 25, "study, music, gaming, budget shopping"),
    "new_parents": (25, 40, "baby care, home, safety, sleep"),
    "families_with_children": (28, 50, "family time, school, home, value packs"),
    "retirees": (60, 85, "travel, health, gardening, grandchildren"),
    "gen_z_gamers": (13, 27, "gaming, streaming, esports, creators"),
    "fitness_enthusiasts": (18, 45, "training, nutrition, running, wearables"),
    "small_business_owners": (28, 65, "finance, productivity, marketing, suppliers"),
    "outdoor_adventurers": (20, 50, "hiking, camping, trail running, gear"),
    "home_cooks": (25, 65, "recipes, kitchenware, groceries, food shows"),
    "fashion_shoppers": (18, 40, "trends, brands, sales, style creators"),
    "tech_early_adopters": (18, 45, "gadgets, launches, reviews, smart home"),
    "pet_owners": (22, 70, "pet food, vets, grooming, pet-friendly travel"),
    "frequent_travellers": (25, 60, "flights, hotels, loyalty programmes, luggage"),
    "luxury_shoppers": (30, 65, "premium brands, jewellery, fine dining, travel"),
}


def _table(
    world: World,
    name: str,
    columns: tuple[str, ...],
    rows: int,
    chunks: Callable[[], Iterable[Chunk]],
    finish: Callable[[Chunk], Chunk] | None = None,
    **kw: Any,
) -> TableData:
    return TableData("ads", name, columns, rows, batches_of(chunks, finish), **kw)


def _one(chunk: Chunk) -> list[Chunk]:
    return [chunk]


# --------------------------------------------------------------------------- small tables


def audiences_table(world: World) -> TableData | None:
    """ads.audiences, unless the model deploys its rows itself."""
    if model_rows("ads", "ads.audiences"):
        return None
    codes = list(AUDIENCES)
    details = [AUDIENCE_DETAILS.get(code, (18, 65, AUDIENCES[code].label)) for code in codes]
    chunk: Chunk = {
        "audience_code": codes,
        "description": [
            f"{AUDIENCES[c].label.capitalize()} aged {d[0]}-{d[1]}, such as {AUDIENCES[c].personas[-1]}"
            for c, d in zip(codes, details, strict=True)
        ],
        "age_min": np.array([d[0] for d in details], dtype=np.int16),
        "age_max": np.array([d[1] for d in details], dtype=np.int16),
        "interests": [d[2] for d in details],
    }
    return _table(world, "ads.audiences", tuple(chunk), len(codes), lambda: _one(chunk))


def brands_table(world: World) -> TableData:
    first_start: dict[int, np.datetime64] = {}
    for c in world.campaigns:
        first_start.setdefault(c.brand_id, np.datetime64(c.starts_on, "ms"))
    rng = stream(world.seed, "ads.brands")
    created = []
    for b in world.brands:
        # Brands sign up with the firm between a few months and a few years before their first campaign.
        anchor = first_start.get(b.brand_id, np.datetime64(world.as_of, "ms"))
        created.append(anchor - np.timedelta64(int(rng.integers(60, 1500)) * SECONDS_PER_DAY * 1000, "ms"))
    chunk: Chunk = {
        "brand_id": np.array([b.brand_id for b in world.brands], dtype=np.int32),
        "brand_name": [b.brand_name for b in world.brands],
        "advertiser_name": [b.advertiser_name for b in world.brands],
        "industry": [b.industry for b in world.brands],
        "country_code": [b.country_code for b in world.brands],
        "created_at": np.array(created, dtype="datetime64[ms]"),
    }
    return _table(world, "ads.brands", tuple(chunk), len(world.brands), lambda: _one(chunk), explicit_identity=True)


def influencers_table(world: World) -> TableData:
    inf = world.influencers
    chunk: Chunk = {
        "influencer_id": np.array([i.influencer_id for i in inf], dtype=np.int32),
        "handle": [i.handle for i in inf],
        "display_name": [i.display_name for i in inf],
        "home_channel_code": [i.home_channel_code for i in inf],
        "followers": np.array([i.followers for i in inf], dtype=np.int32),
        "niche": [i.niche for i in inf],
    }
    return _table(world, "ads.influencers", tuple(chunk), len(inf), lambda: _one(chunk), explicit_identity=True)


def campaigns_table(world: World) -> TableData:
    plans = world.plans
    chunk: Chunk = {
        "campaign_id": np.array([p.campaign_id for p in plans], dtype=np.int32),
        "brand_id": np.array([p.facts.brand_id for p in plans], dtype=np.int32),
        "campaign_name": [p.facts.campaign_name for p in plans],
        "objective": [p.facts.objective for p in plans],
        "campaign_status": [p.facts.status for p in plans],
        "starts_on": np.array([p.facts.starts_on for p in plans], dtype="datetime64[D]"),
        "ends_on": np.array([p.facts.ends_on for p in plans], dtype="datetime64[D]"),
        "budget_usd": cents_to_amount(np.array([round(p.facts.budget_usd * 100) for p in plans], dtype=np.int64)),
        "created_at": np.array([p.created_at for p in plans], dtype="datetime64[ms]"),
    }
    return _table(world, "ads.campaigns", tuple(chunk), len(plans), lambda: _one(chunk), explicit_identity=True)


def campaign_channels_table(world: World) -> TableData:
    plans = world.plans
    chunk: Chunk = {
        "campaign_id": np.concatenate([np.full(len(p.channel_codes), p.campaign_id, dtype=np.int32) for p in plans]),
        "channel_code": [code for p in plans for code in p.channel_codes],
        "budget_share": np.concatenate([p.shares_e4 for p in plans]) / 10_000,
    }
    return _table(world, "ads.campaign_channels", tuple(chunk), len(chunk["channel_code"]), lambda: _one(chunk))


def campaign_markets_table(world: World) -> TableData:
    all_markets = markets()
    pairs = [(p.campaign_id, all_markets[int(g)].code) for p in world.plans for g in p.market_global]
    chunk: Chunk = {
        "campaign_id": np.array([c for c, _ in pairs], dtype=np.int32),
        "market_code": [m for _, m in pairs],
    }
    return _table(world, "ads.campaign_markets", tuple(chunk), len(pairs), lambda: _one(chunk))


def campaign_audiences_table(world: World) -> TableData:
    pairs = [(c.campaign_id, a) for c in world.campaigns for a in sorted(c.audiences)]
    chunk: Chunk = {
        "campaign_id": np.array([c for c, _ in pairs], dtype=np.int32),
        "audience_code": [a for _, a in pairs],
    }
    return _table(world, "ads.campaign_audiences", tuple(chunk), len(pairs), lambda: _one(chunk))


def ads_ads_table(world: World) -> TableData:
    plans = world.plans
    n = sum(p.n_ads for p in plans)

    def chunks() -> list[Chunk]:
        assets = world.content.ad_assets
        rng = stream(world.seed, "ads.ads")
        created = []
        for p in plans:
            offsets = rng.integers(60, 6 * 3600, p.n_ads) * 1000
            created.append(p.created_at + np.sort(offsets).astype("timedelta64[ms]"))
        return [
            {
                "ad_id": np.concatenate([p.ad_ids for p in plans]).astype(np.int32),
                "campaign_id": np.concatenate([np.full(p.n_ads, p.campaign_id) for p in plans]).astype(np.int32),
                "channel_code": [p.channel_of_ad(a) for p in plans for a in range(p.n_ads)],
                "influencer_id": [int(i) or None for p in plans for i in p.ad_influencer.tolist()],
                "headline": [h for p in plans for h in p.ad_headline],
                "format": [f for p in plans for f in p.ad_format],
                "content_asset_id": [assets.get(int(ad)) for p in plans for ad in p.ad_ids.tolist()],
                "created_at": np.concatenate(created).astype("datetime64[ms]"),
            }
        ]

    columns = (
        "ad_id",
        "campaign_id",
        "channel_code",
        "influencer_id",
        "headline",
        "format",
        "content_asset_id",
        "created_at",
    )
    return _table(world, "ads.ads", columns, n, chunks, explicit_identity=True)


# --------------------------------------------------------------------------- daily results

RESULT_COLUMNS = (
    "ad_id",
    "market_code",
    "result_date",
    "likes",
    "views",
    "interactions",
    "shares",
    "comments",
    "sales",
    "exposure_hours",
    "reach",
    "cost_usd",
    "revenue_usd",
)


def _traits_arrays(plan: CampaignPlan) -> dict[str, np.ndarray]:
    all_channels = channels()
    t = [all_channels[int(g)].traits for g in plan.channel_global]
    return {
        "frequency": np.array([x.frequency for x in t]),
        "engagement": np.array([x.engagement for x in t]),
        "likes": np.array([x.likes for x in t]),
        "shares": np.array([x.shares for x in t]),
        "comments": np.array([x.comments for x in t]),
        "seconds": np.array([x.exposure_seconds for x in t]),
    }


def campaign_results(world: World, plan: CampaignPlan) -> Chunk:
    """One campaign's daily results (market as an index into reference.markets())."""
    rng = stream(world.seed, "ads.daily_results", plan.campaign_id)
    n_a, n_m, n_d = plan.n_ads, plan.n_markets, plan.n_days
    size = n_a * n_m * n_d
    a = np.repeat(np.arange(n_a), n_m * n_d)
    m = np.tile(np.repeat(np.arange(n_m), n_d), n_a)
    d = np.tile(np.arange(n_d), n_a * n_m)
    w = plan.ad_weight[a] * plan.market_weight[m] * plan.day_weight[d] * rng.lognormal(0.0, 0.3, size)
    ch = plan.ad_channel[a]
    reach = np.zeros(size, dtype=np.int64)
    cost = np.zeros(size, dtype=np.int64)
    # Ads are sorted by channel, so each channel's cells are one contiguous block.
    bounds = np.searchsorted(ch, np.arange(len(plan.channel_codes) + 1))
    for j in range(len(plan.channel_codes)):
        lo, hi = int(bounds[j]), int(bounds[j + 1])
        if hi > lo:
            reach[lo:hi] = split_integer(int(plan.reach[j]), w[lo:hi])
            cost[lo:hi] = split_integer(int(plan.cost_cents[j]), w[lo:hi] * rng.lognormal(0.0, 0.1, hi - lo))
    t = _traits_arrays(plan)
    views = reach + np.round(reach * (t["frequency"][ch] - 1.0) * rng.lognormal(0.0, 0.2, size)).astype(np.int64)
    interactions = np.minimum(views, np.round(views * t["engagement"][ch] * rng.lognormal(0.0, 0.25, size)))
    interactions = interactions.astype(np.int64)
    likes = np.round(interactions * t["likes"][ch] * rng.uniform(0.85, 1.15, size)).astype(np.int64)
    shares = np.round(interactions * t["shares"][ch] * rng.uniform(0.7, 1.3, size)).astype(np.int64)
    comments = np.round(interactions * t["comments"][ch] * rng.uniform(0.7, 1.3, size)).astype(np.int64)

    commerce = world.commerce[plan.index]
    cells = cell_index(plan, commerce.sale_ad, commerce.sale_market, commerce.sale_day)
    sales = np.bincount(cells, minlength=size).astype(np.int64)
    revenue = np.round(np.bincount(cells, weights=commerce.amount_cents, minlength=size)).astype(np.int64)

    interactions = np.maximum(interactions, likes + shares + comments + sales)
    views = np.maximum(views, interactions)
    exposure = np.round(views * t["seconds"][ch] * rng.lognormal(0.0, 0.2, size) / 36.0) / 100.0
    return {
        "ad_id": plan.ad_ids[a].astype(np.int32),
        "market_code": plan.market_global[m].astype(np.int16),
        "result_date": plan.first_day + d.astype("timedelta64[D]"),
        "likes": likes.astype(np.int32),
        "views": views,
        "interactions": interactions.astype(np.int32),
        "shares": shares.astype(np.int32),
        "comments": comments.astype(np.int32),
        "sales": sales.astype(np.int32),
        "exposure_hours": exposure,
        "reach": reach,
        "cost_usd": cents_to_amount(cost),
        "revenue_usd": cents_to_amount(revenue),
    }


def _market_labels(batch: Chunk) -> Chunk:
    out = dict(batch)
    out["market_code"] = labels(batch["market_code"], [m.code for m in markets()])
    return out


def daily_results_table(world: World) -> TableData:
    rows = sum(p.result_rows for p in world.plans)
    return _table(
        world,
        "perf.daily_results",
        RESULT_COLUMNS,
        rows,
        lambda: (campaign_results(world, p) for p in world.plans),
        _market_labels,
    )


# --------------------------------------------------------------------------- social reactions

REACTION_COLUMNS = (
    "reaction_id",
    "ad_id",
    "market_code",
    "influencer_id",
    "reacted_at",
    "reaction_kind",
    "sentiment",
    "negative_kind",
)


def _influencer_pools(world: World) -> dict[str, np.ndarray]:
    pools: dict[str, list[int]] = {}
    for inf in world.influencers:
        pools.setdefault(inf.home_channel_code, []).append(inf.influencer_id)
    out = {code: np.array(ids, dtype=np.int64) for code, ids in pools.items()}
    out["influencers"] = np.array([i.influencer_id for i in world.influencers], dtype=np.int64)
    return out


def campaign_reactions(world: World, plan: CampaignPlan, first_id: int, pools: dict[str, np.ndarray]) -> Chunk:
    """One campaign's social reactions, in time order, with ids from `first_id`."""
    public_w, influencer_w, ad_of = reaction_weights(plan)
    count = plan.reactions
    size = public_w.size
    rng = stream(world.seed, "ads.social_reactions", plan.campaign_id)
    if count == 0 or size == 0:
        return {}
    p = np.concatenate([public_w, influencer_w]) * rng.lognormal(0.0, 0.35, 2 * size)
    counts = rng.multinomial(count, p / p.sum())
    category = np.repeat(np.arange(2 * size), counts)
    cell = category % size
    from_influencer = category >= size
    n_m, n_d = plan.n_markets, plan.n_days
    ad = ad_of[cell]
    market = (cell // n_d) % n_m
    day = cell % n_d
    hour = rng.choice(24, size=count, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, count)
    reacted_at = plan.first_day.astype("datetime64[s]") + (day * SECONDS_PER_DAY + seconds).astype("timedelta64[s]")

    in_case = np.zeros(count, dtype=bool)
    if plan.case is not None:
        current, _ = case_day_masks(plan)
        in_case = np.isin(plan.ad_ids[ad], plan.case.ad_ids) & current[day]
    kind = np.where(
        in_case,
        rng.choice(4, size=count, p=CASE_REACTION_KIND_SHARES),
        rng.choice(4, size=count, p=REACTION_KIND_SHARES),
    )
    negative_rate = float(rng.uniform(0.08, 0.2))
    u = rng.random(count)
    p_negative = np.where(in_case, CASE_NEGATIVE_SHARE, negative_rate)
    p_neutral = np.where(in_case, 0.15, 0.3)
    is_like = kind == 0
    # A like is never negative; other reactions are negative, neutral or positive.
    sentiment = np.where(
        is_like, np.where(u < 0.15, 1, 0), np.where(u < p_negative, 2, np.where(u < p_negative + p_neutral, 1, 0))
    )
    negative_kind = np.where(
        sentiment == 2, rng.choice(len(NEGATIVE_KINDS), size=count, p=NEGATIVE_KIND_SHARES), len(NEGATIVE_KINDS)
    )
    if plan.case is not None:
        own = rng.random(count) < CASE_KIND_SHARE
        case_kind = NEGATIVE_KINDS.index(plan.case.negative_kind)
        negative_kind = np.where(in_case & (sentiment == 2) & own, case_kind, negative_kind)

    influencer = np.zeros(count, dtype=np.int64)
    rows = np.flatnonzero(from_influencer)
    if rows.size:
        own_influencer = plan.ad_influencer[ad[rows]]
        take_own = (own_influencer > 0) & (rng.random(rows.size) < 0.5)
        channel_of = plan.ad_channel[ad[rows]]
        for j, code in enumerate(plan.channel_codes):
            these = np.flatnonzero(channel_of == j)
            pool = pools.get(code, pools["influencers"])
            if these.size and pool.size:
                influencer[rows[these]] = pool[rng.integers(0, pool.size, these.size)]
        influencer[rows[take_own]] = own_influencer[take_own]
        # Reactions with no influencer to give them to count as public ones.

    order = np.argsort(reacted_at, kind="stable")
    return {
        "reaction_id": np.arange(first_id, first_id + count, dtype=np.int64),
        "ad_id": plan.ad_ids[ad][order].astype(np.int32),
        "market_code": plan.market_global[market][order].astype(np.int16),
        "influencer_id": influencer[order],
        "reacted_at": reacted_at[order],
        "reaction_kind": kind[order].astype(np.int8),
        "sentiment": sentiment[order].astype(np.int8),
        "negative_kind": negative_kind[order].astype(np.int8),
    }


def _reaction_labels(batch: Chunk) -> Chunk:
    out = dict(batch)
    out["market_code"] = labels(batch["market_code"], [m.code for m in markets()])
    out["influencer_id"] = [v or None for v in batch["influencer_id"].tolist()]
    out["reaction_kind"] = labels(batch["reaction_kind"], REACTION_KINDS)
    out["sentiment"] = labels(batch["sentiment"], SENTIMENTS)
    out["negative_kind"] = labels(batch["negative_kind"], (*NEGATIVE_KINDS, None))
    return out


def social_reactions_table(world: World) -> TableData:
    plans = world.plans
    offsets = np.concatenate([[1], 1 + np.cumsum([p.reactions for p in plans])]).astype(np.int64)

    def chunks() -> Iterator[Chunk]:
        pools = _influencer_pools(world)
        for k, p in enumerate(plans):
            chunk = campaign_reactions(world, p, int(offsets[k]), pools)
            if chunk:
                yield chunk

    return _table(
        world,
        "perf.social_reactions",
        REACTION_COLUMNS,
        int(offsets[-1] - 1),
        chunks,
        _reaction_labels,
        explicit_identity=True,
    )


def ads_tables(world: World) -> list[TableData]:
    """Every generated PromptAds table, parents before children (channels and markets deploy with the schema)."""
    audiences = audiences_table(world)
    return [
        *([audiences] if audiences is not None else []),
        brands_table(world),
        influencers_table(world),
        campaigns_table(world),
        campaign_channels_table(world),
        campaign_markets_table(world),
        campaign_audiences_table(world),
        ads_ads_table(world),
        daily_results_table(world),
        social_reactions_table(world),
    ]
