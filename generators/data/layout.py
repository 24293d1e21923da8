"""How each campaign is laid out below its facts: channel shares, market weights, ads, influencers, daily rhythm.

A `CampaignPlan` is derived from a `CampaignFacts` and the world seed alone (each campaign draws from its own
streams), so a `World` built from hand-written facts lays its campaigns out the same way `build_world` does. The
plan also holds the totals the fact tables split exactly: the cost to date and the reach per channel, the number of
social reactions and of buyers. The brand-sentiment cases are chosen here too, because they decide which ads a
campaign needs (influencer ads on the case channel).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np

from generators.data.batches import split_integer, stream
from generators.data.content import AUDIENCES, CHANNEL_NAMES, HOLIDAY_BY_MONTH, PRODUCT_MODELS, category_for
from generators.data.people import ascii_word, name_pool
from generators.data.reference import (
    INDUSTRIES,
    INFLUENCER_HOME_CHANNELS,
    SENTIMENT_CHANNELS,
    Industry,
    channel_index,
    channels,
    industry_of,
    market_index,
)
from generators.data.tables import Brand, CampaignFacts

# --------------------------------------------------------------------------- sentiment cases


@dataclass(frozen=True)
class SentimentPeriod:
    period_from: date
    period_to: date
    negative_kind: str
    channel_code: str
    """The channel the backlash happens on, when the campaign uses it (else its first sentiment channel)."""
    story: str


SENTIMENT_PERIODS: tuple[SentimentPeriod, ...] = (
    SentimentPeriod(
        date(2025, 12, 1),
        date(2025, 12, 31),
        "quality",
        "instagram",
        "holiday orders arrive damaged; influencers stop posting (the script's default period)",
    ),
    SentimentPeriod(
        date(2025, 11, 24),
        date(2025, 11, 30),
        "misleading",
        "facebook",
        "a Black Friday 'discount' turns out to be the regular price",
    ),
    SentimentPeriod(
        date(2025, 6, 1), date(2025, 6, 30), "boycott", "tiktok", "a boycott call after a supplier scandal"
    ),
    SentimentPeriod(date(2025, 3, 10), date(2025, 3, 23), "offensive", "x", "an ad joke read as offensive"),
    SentimentPeriod(
        date(2024, 12, 1),
        date(2024, 12, 31),
        "complaint",
        "youtube",
        "delivery complaints in the first December season",
    ),
    SentimentPeriod(date(2025, 9, 1), date(2025, 9, 14), "pricing", "instagram", "a price rise announced mid-campaign"),
)


@dataclass(frozen=True)
class SentimentCase:
    """A planted backlash: in the period, the brand's ads on the channel draw clearly negative reactions and the
    influencers' reactions to them drop against the preceding period of equal length."""

    brand_id: int
    brand_name: str
    campaign_id: int
    channel_code: str
    ad_ids: tuple[int, ...]
    """The campaign's ads on the channel: all of them carry the backlash."""
    period_from: date
    period_to: date
    negative_kind: str
    story: str

    @property
    def period_days(self) -> int:
        return (self.period_to - self.period_from).days + 1

    @property
    def previous_from(self) -> date:
        return self.period_from - timedelta(days=self.period_days)

    @property
    def previous_to(self) -> date:
        return self.period_from - timedelta(days=1)


def results_end(campaign: CampaignFacts, as_of: date) -> date:
    """The last day with daily results: the campaign's end, or the as-of date for a running campaign."""
    return min(campaign.ends_on, as_of)


def case_candidates(
    period: SentimentPeriod, campaigns: list[CampaignFacts], used_brands: set[int], as_of: date
) -> list[CampaignFacts]:
    """Campaigns that can carry a case: running through both periods, on a sentiment channel, of an unused brand."""
    days = (period.period_to - period.period_from).days + 1
    previous_from = period.period_from - timedelta(days=days)
    return [
        c
        for c in campaigns
        if c.starts_on <= previous_from
        and results_end(c, as_of) >= period.period_to
        and c.brand_id not in used_brands
        and any(ch in SENTIMENT_CHANNELS for ch in c.channels)
    ]


def choose_cases(
    campaigns: list[CampaignFacts], as_of: date, count: int, industry_of_brand: Mapping[int, str]
) -> list[tuple[SentimentPeriod, CampaignFacts]]:
    """For each of the first `count` periods, the eligible campaign with the largest budget, preferring an industry
    no earlier case has (brands always differ)."""
    used: set[int] = set()
    industries: set[str] = set()
    chosen = []
    for period in SENTIMENT_PERIODS[:count]:
        candidates = case_candidates(period, campaigns, used, as_of)
        if not candidates:
            continue
        fresh = [c for c in candidates if industry_of_brand.get(c.brand_id) not in industries]
        campaign = max(fresh or candidates, key=lambda c: (c.budget_usd, -c.campaign_id))
        used.add(campaign.brand_id)
        industries.add(industry_of_brand.get(campaign.brand_id, ""))
        chosen.append((period, campaign))
    return chosen


def case_channel(period: SentimentPeriod, campaign: CampaignFacts) -> str:
    if period.channel_code in campaign.channels:
        return period.channel_code
    return next(ch for ch in SENTIMENT_CHANNELS if ch in campaign.channels)


# --------------------------------------------------------------------------- influencers


@dataclass(frozen=True)
class Influencer:
    influencer_id: int
    handle: str
    display_name: str
    home_channel_code: str
    followers: int
    niche: str


HANDLE_WORDS = {
    "running": ("runs", "miles", "strides"),
    "fashion": ("style", "closet", "looks"),
    "food & drink": ("eats", "kitchen", "sips"),
    "beauty": ("glow", "beauty", "skin"),
    "tech": ("tech", "unboxed", "bytes"),
    "home & decor": ("home", "nest", "interiors"),
    "fitness": ("fit", "lifts", "moves"),
    "travel": ("travels", "wanders", "abroad"),
    "personal finance": ("money", "saves", "invests"),
    "cars": ("drives", "garage", "motors"),
    "parenting": ("family", "momlife", "dadlife"),
    "pets": ("paws", "pets", "woof"),
}
INFLUENCER_LOCALES = ("en_US", "es_MX", "pt_BR", "en_GB", "es_ES", "es_CO")


def build_influencers(seed: int, count: int) -> list[Influencer]:
    """The influencers of ads.influencers: handles unique, home channels among the social networks."""
    rng = stream(seed, "ads.influencers")
    niches = sorted({industry.niche for industry in INDUSTRIES})
    homes = [code for code, _ in INFLUENCER_HOME_CHANNELS]
    home_p = np.array([share for _, share in INFLUENCER_HOME_CHANNELS])
    home = rng.choice(len(homes), size=count, p=home_p / home_p.sum())
    niche = rng.integers(0, len(niches), count)
    locale = rng.integers(0, len(INFLUENCER_LOCALES), count)
    followers = np.clip(np.round(rng.lognormal(math.log(90_000), 1.1, count)), 5_000, 15_000_000).astype(np.int64)
    out: list[Influencer] = []
    seen: set[str] = set()
    for i in range(count):
        pool = name_pool(INFLUENCER_LOCALES[int(locale[i])])
        female = bool(rng.random() < 0.55)
        firsts = pool.female if female else pool.male
        first = firsts[int(rng.integers(len(firsts)))]
        last = pool.last[int(rng.integers(len(pool.last)))]
        words = HANDLE_WORDS[niches[int(niche[i])]]
        word = words[int(rng.integers(len(words)))]
        stem = ascii_word(first) or "creator"
        style = int(rng.integers(4))
        handle = ("@{s}.{w}", "@{w}with{s}", "@{s}_{w}", "@the{s}{w}")[style].format(s=stem, w=word)
        if handle in seen:
            handle = f"{handle}{i + 1}"
        seen.add(handle)
        out.append(
            Influencer(i + 1, handle, f"{first} {last}", homes[int(home[i])], int(followers[i]), niches[int(niche[i])])
        )
    return out


# --------------------------------------------------------------------------- campaign plans


@dataclass(frozen=True)
class BrandTraits:
    industry: Industry
    stem: str
    products: tuple[str, ...]
    ticket_usd: float
    """The brand's typical unit price: the industry's, with a brand-specific premium or discount."""


@functools.lru_cache(maxsize=4096)
def brand_traits(seed: int, brand: Brand) -> BrandTraits:
    rng = stream(seed, "brands.traits", brand.brand_id)
    industry = industry_of(brand.industry)
    category = category_for(brand.industry)
    picks = rng.permutation(len(category.product_types))[:2]
    products = tuple(
        f"{PRODUCT_MODELS[int(rng.integers(len(PRODUCT_MODELS)))]} {category.product_types[int(k)]}" for k in picks
    )
    ticket = round(industry.ticket_usd * float(rng.lognormal(0.0, 0.3)), 2)
    return BrandTraits(industry, brand.brand_name.split()[0], products, ticket)


@dataclass(frozen=True)
class CampaignPlan:
    """One campaign below its facts. Arrays over the campaign's channels, markets, ads and days."""

    index: int
    facts: CampaignFacts
    brand: Brand
    traits: BrandTraits
    product: str
    channel_codes: tuple[str, ...]
    channel_global: np.ndarray
    shares_e4: np.ndarray
    """Budget share per channel in ten-thousandths (decimal(5,4)); they add up to exactly 10,000."""
    market_global: np.ndarray
    """The campaign's markets as indexes into reference.markets(), sorted by code (the results' key order)."""
    market_weight: np.ndarray
    ad_ids: np.ndarray
    ad_channel: np.ndarray
    """Index into channel_codes."""
    ad_weight: np.ndarray
    """Share of the campaign's spend each ad gets; adds up to 1."""
    ad_influencer: np.ndarray
    """ads.influencers id, 0 for none."""
    ad_format: tuple[str, ...]
    ad_headline: tuple[str, ...]
    first_day: np.datetime64
    n_days: int
    total_days: int
    day_weight: np.ndarray
    """Relative activity per day of the results window (weekday, season, ramp-up); mean 1."""
    cost_cents: np.ndarray
    """Spend to date per channel."""
    reach: np.ndarray
    """Reach to date per channel; adds up to facts.reach."""
    reactions: int
    buyers: int
    created_at: np.datetime64
    case: SentimentCase | None

    @property
    def campaign_id(self) -> int:
        return self.facts.campaign_id

    @property
    def n_ads(self) -> int:
        return int(self.ad_ids.size)

    @property
    def n_markets(self) -> int:
        return int(self.market_global.size)

    @property
    def result_rows(self) -> int:
        return self.n_ads * self.n_markets * self.n_days

    @property
    def last_day(self) -> np.datetime64:
        return self.first_day + np.timedelta64(self.n_days - 1, "D")

    def channel_of_ad(self, ad: int) -> str:
        return self.channel_codes[int(self.ad_channel[ad])]


def buyers_for(sales: int, linked: int, industry: Industry) -> int:
    """How many distinct linked clients made a campaign's `sales` (each buyer buys at least once)."""
    if sales <= 0:
        return 0
    return int(min(max(math.ceil(sales / (1.0 + industry.repeat_rate)), 1), sales, linked))


LEAD_SHARE_OF_NON_BUYERS = 0.25


def leads_for(linked: int, buyers: int) -> int:
    """Leads a campaign opened: one per buyer (won) and one for a quarter of the other linked clients."""
    return buyers + round(LEAD_SHARE_OF_NON_BUYERS * (linked - buyers))


def interactions_for(linked: int, buyers: int) -> int:
    """Communication history a campaign caused: about two contacts per linked client, more with buyers."""
    return 2 * linked + 3 * buyers


# Black Friday and Cyber Monday of the two seasons in the window; the rhythm of a day depends on them.
PEAK_DAYS = {
    date(2024, 11, 29): 2.2,
    date(2024, 12, 2): 1.9,
    date(2025, 11, 28): 2.2,
    date(2025, 12, 1): 1.9,
}


def _season_factor(day: date) -> float:
    if day in PEAK_DAYS:
        return PEAK_DAYS[day]
    month, dom = day.month, day.day
    if month == 11 and dom >= 15:
        return 1.3
    if month == 12 and dom <= 23:
        return 1.35
    if month == 12 and dom <= 26:
        return 0.8
    if (month == 12 and dom >= 27) or (month == 1 and dom <= 10):
        return 1.2  # January sales
    if month == 7 and dom <= 15:
        return 1.1  # summer sales
    return 1.0


WEEKDAY_FACTOR = np.array([0.95, 0.97, 1.0, 1.02, 1.08, 1.12, 0.95])  # Monday .. Sunday


def day_weights(seed: int, campaign_id: int, first_day: date, n_days: int) -> np.ndarray:
    rng = stream(seed, "layout.days", campaign_id)
    dates = [first_day + timedelta(days=k) for k in range(n_days)]
    season = np.array([_season_factor(d) for d in dates])
    weekday = WEEKDAY_FACTOR[[d.weekday() for d in dates]]
    ramp = np.minimum(1.0, 0.55 + 0.15 * np.arange(n_days))  # a campaign takes a few days to reach its pace
    w = season * weekday * ramp * rng.lognormal(0.0, 0.12, n_days)
    return w / w.mean()


HEADLINES = {
    "awareness": (
        "Meet the new {product}",
        "{brand}: made for {audience}",
        "Discover {product} this {moment}",
        "The {product} story",
        "{product}, seen everywhere this {moment}",
    ),
    "consideration": (
        "Why {audience} choose {product}",
        "Compare the {product} range",
        "See how {product} works",
        "{product}: the details that matter",
        "Find your {product}",
    ),
    "conversion": (
        "{pct}% off {product} for {moment_title}",
        "Shop the {product} today",
        "Last days: {product} from {brand}",
        "{moment_title} deal: {product}",
        "Order {product} now, {pct}% off",
    ),
    "retention": (
        "Welcome back: {pct}% off your next {product}",
        "Members save on {product}",
        "Your {brand} rewards are waiting",
        "Thanks for choosing {brand}: {pct}% off",
        "Reorder {product} in one tap",
    ),
}
MOMENTS = {
    "new_year": "New Year",
    "valentines_day": "Valentine's Day",
    "mothers_day": "Mother's Day",
    "fathers_day": "Father's Day",
    "summer_sale": "the summer sale",
    "back_to_school": "back to school",
    "halloween": "Halloween",
    "black_friday": "Black Friday",
    "holiday_season": "the holidays",
}


def moment_of(month: int) -> str:
    holiday = HOLIDAY_BY_MONTH.get(month)
    return MOMENTS[holiday] if holiday else "spring"


def _headline(rng: np.random.Generator, facts: CampaignFacts, brand: Brand, product: str) -> str:
    templates = HEADLINES[facts.objective]
    moment = moment_of(facts.starts_on.month)
    audience = AUDIENCES[facts.audiences[0]].label if facts.audiences and facts.audiences[0] in AUDIENCES else "you"
    text = templates[int(rng.integers(len(templates)))].format(
        product=product,
        brand=brand.brand_name,
        audience=audience,
        moment=moment,
        moment_title=moment[:1].upper() + moment[1:],
        pct=(10, 15, 20, 25, 30, 40)[int(rng.integers(6))],
    )
    return text[:200]


def _pick_format(rng: np.random.Generator, channel: str) -> str:
    formats = channels()[channel_index()[channel]].traits.formats
    p = np.array([w for _, w in formats])
    return formats[int(rng.choice(len(formats), p=p / p.sum()))][0]


def _pick_influencer(rng: np.random.Generator, channel: str, industry: Industry, influencers: list[Influencer]) -> int:
    """An influencer whose home channel is the ad's (any, for an influencer-partnership ad); 0 when none fits."""
    pool = [i for i in influencers if channel == "influencers" or i.home_channel_code == channel]
    if not pool:
        return 0
    w = np.array([(4.0 if i.niche == industry.niche else 1.0) * i.followers**0.3 for i in pool])
    return pool[int(rng.choice(len(pool), p=w / w.sum()))].influencer_id


SHARE_PRIOR = {
    "social": 1.0,
    "video": 1.0,
    "professional": 0.8,
    "influencer": 0.9,
    "email": 0.45,
    "sms": 0.3,
    "search": 0.9,
    "display": 0.6,
}
BASE_REACTIONS_PER_CELL = 5.0
"""Social reactions the listening feed keeps per ad, market and day at the typical spend (per-cell spend $25)."""
CASE_PUBLIC_BOOST = 4.0
CASE_PREVIOUS_INFLUENCER = 2.5
CASE_CURRENT_INFLUENCER = 0.2
INFLUENCER_SHARE_OWN = 0.12
INFLUENCER_SHARE_OTHER = 0.03


def build_plans(
    seed: int,
    as_of: date,
    brands: list[Brand],
    campaigns: list[CampaignFacts],
    influencers: list[Influencer],
    case_count: int,
) -> tuple[list[CampaignPlan], list[SentimentCase]]:
    """Every campaign's plan, in campaign order (ad ids follow it), and the sentiment cases planted in them."""
    by_brand = {b.brand_id: b for b in brands}
    traits = {b.brand_id: brand_traits(seed, b) for b in brands}
    industry = {b.brand_id: b.industry for b in brands}
    chosen = {c.campaign_id: period for period, c in choose_cases(campaigns, as_of, case_count, industry)}
    all_channels = channels()
    ch_index = channel_index()
    mk_index = market_index()
    plans: list[CampaignPlan] = []
    cases: list[SentimentCase] = []
    next_ad = 1
    for index, facts in enumerate(campaigns):
        rng = stream(seed, "layout.campaign", facts.campaign_id)
        brand = by_brand[facts.brand_id]
        bt = traits[facts.brand_id]
        product = bt.products[facts.campaign_id % len(bt.products)]
        n_ch = len(facts.channels)
        kinds = [all_channels[ch_index[ch]].kind for ch in facts.channels]
        prior = np.array([SHARE_PRIOR.get(k, 0.7) for k in kinds]) * np.linspace(1.4, 0.8, n_ch)
        raw = rng.dirichlet(prior * 4.0)
        minimum = min(500, 10_000 // n_ch)  # every channel gets at least 5% of the budget
        shares = split_integer(10_000 - minimum * n_ch, raw) + minimum

        order = sorted(range(len(facts.markets)), key=lambda k: facts.markets[k])
        market_global = np.array([mk_index[facts.markets[k]] for k in order], dtype=np.int64)
        # The first market listed is the brand's home market and gets the largest audience.
        home_boost = np.array([2.0 if k == 0 else 1.0 for k in order])
        market_weight = rng.dirichlet(np.full(len(order), 3.0)) * home_boost
        market_weight = market_weight / market_weight.sum()

        period = chosen.get(facts.campaign_id)
        case_ch = facts.channels.index(case_channel(period, facts)) if period is not None else -1
        extra = int(rng.choice(4, p=[0.3, 0.35, 0.25, 0.1]))
        ad_channel = list(range(n_ch)) + [int(k) for k in rng.choice(n_ch, size=extra, p=shares / 10_000)]
        if case_ch >= 0:
            while ad_channel.count(case_ch) < 2:  # a case needs influencer ads to compare on its channel
                ad_channel.append(case_ch)
        ad_channel.sort()
        n_ads = len(ad_channel)
        ad_ch = np.array(ad_channel, dtype=np.int64)
        within = np.empty(n_ads)
        for j in range(n_ch):
            mine = np.flatnonzero(ad_ch == j)
            within[mine] = rng.dirichlet(np.full(mine.size, 2.0))
        ad_weight = shares[ad_ch] / 10_000 * within
        ad_weight = ad_weight / ad_weight.sum()

        formats = []
        headlines = []
        influencer_of = np.zeros(n_ads, dtype=np.int64)
        for a in range(n_ads):
            code = facts.channels[int(ad_ch[a])]
            formats.append(_pick_format(rng, code))
            headlines.append(_headline(rng, facts, brand, product))
            traits_ch = all_channels[ch_index[code]].traits
            wants = rng.random() < traits_ch.influencer_share or int(ad_ch[a]) == case_ch
            if wants:
                influencer_of[a] = _pick_influencer(rng, code, bt.industry, influencers)
        ad_ids = np.arange(next_ad, next_ad + n_ads, dtype=np.int64)
        next_ad += n_ads

        first_day = facts.starts_on
        last_day = results_end(facts, as_of)
        n_days = (last_day - first_day).days + 1
        total_days = (facts.ends_on - facts.starts_on).days + 1
        dw = day_weights(seed, facts.campaign_id, first_day, n_days)

        progress = n_days / total_days
        pacing = float(rng.uniform(0.9, 0.99))
        cost_total = round(facts.budget_usd * 100 * progress * pacing)
        cost_cents = split_integer(cost_total, shares)
        cpm_freq = np.array(
            [
                all_channels[ch_index[ch]].traits.cpm_usd * all_channels[ch_index[ch]].traits.frequency
                for ch in facts.channels
            ]
        )
        reach = split_integer(facts.reach, shares / cpm_freq)

        case = None
        if period is not None:
            case_ads = tuple(int(ad_ids[a]) for a in range(n_ads) if int(ad_ch[a]) == case_ch)
            case = SentimentCase(
                brand.brand_id,
                brand.brand_name,
                facts.campaign_id,
                facts.channels[case_ch],
                case_ads,
                period.period_from,
                period.period_to,
                period.negative_kind,
                period.story,
            )
            cases.append(case)

        plan = CampaignPlan(
            index=index,
            facts=facts,
            brand=brand,
            traits=bt,
            product=product,
            channel_codes=tuple(facts.channels),
            channel_global=np.array([ch_index[ch] for ch in facts.channels], dtype=np.int64),
            shares_e4=shares,
            market_global=market_global,
            market_weight=market_weight,
            ad_ids=ad_ids,
            ad_channel=ad_ch,
            ad_weight=ad_weight,
            ad_influencer=influencer_of,
            ad_format=tuple(formats),
            ad_headline=tuple(headlines),
            first_day=np.datetime64(first_day, "D"),
            n_days=n_days,
            total_days=total_days,
            day_weight=dw,
            cost_cents=cost_cents,
            reach=reach,
            reactions=0,
            buyers=buyers_for(facts.sales_count, facts.linked_clients, bt.industry),
            created_at=np.datetime64(facts.starts_on, "ms")
            - np.timedelta64(int(rng.integers(7 * 86_400, 40 * 86_400)) * 1000, "ms"),
            case=case,
        )
        expected = reaction_weights(plan)
        reactions = round(float(expected[0].sum() + expected[1].sum())) if expected[0].size else 0
        plans.append(replace(plan, reactions=reactions))
    period_rank = {(p.period_from, p.period_to): k for k, p in enumerate(SENTIMENT_PERIODS)}
    cases.sort(key=lambda case: period_rank[(case.period_from, case.period_to)])
    return plans, cases


def social_ads(plan: CampaignPlan) -> np.ndarray:
    """Indexes of the plan's ads on social channels (the ones that draw public reactions)."""
    all_channels = channels()
    social = np.array([all_channels[int(g)].is_social for g in plan.channel_global])
    return np.flatnonzero(social[plan.ad_channel])


def case_day_masks(plan: CampaignPlan) -> tuple[np.ndarray, np.ndarray]:
    """Per day of the results window: inside the case period, inside the preceding period (all False without one)."""
    day = plan.first_day + np.arange(plan.n_days)
    if plan.case is None:
        none = np.zeros(plan.n_days, dtype=bool)
        return none, none
    case = plan.case
    current = (day >= np.datetime64(case.period_from)) & (day <= np.datetime64(case.period_to))
    previous = (day >= np.datetime64(case.previous_from)) & (day <= np.datetime64(case.previous_to))
    return current, previous


def reaction_weights(plan: CampaignPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected public and influencer reactions per social cell (ad x market x day, in that nesting), and the cells'
    ad indexes. The counts are drawn around these; their sum is the campaign's number of reactions."""
    ads = social_ads(plan)
    n_m, n_d = plan.n_markets, plan.n_days
    if ads.size == 0:
        empty = np.zeros(0)
        return empty, empty, np.zeros(0, dtype=np.int64)
    cells_per_ad = n_m * n_d
    ad_of = np.repeat(ads, cells_per_ad)
    market_of = np.tile(np.repeat(np.arange(n_m), n_d), ads.size)
    day_of = np.tile(np.arange(n_d), ads.size * n_m)
    # Busier ads draw more reactions, with diminishing returns: the square root of the spend per cell.
    spend_per_cell = plan.cost_cents.sum() / 100.0 * plan.ad_weight[ad_of] / max(plan.n_days, 1)
    level = BASE_REACTIONS_PER_CELL * np.sqrt(np.maximum(spend_per_cell * plan.market_weight[market_of], 0.0) / 25.0)
    base = np.clip(level, 0.05, 40.0) * plan.day_weight[day_of]
    share = np.where(plan.ad_influencer[ad_of] > 0, INFLUENCER_SHARE_OWN, INFLUENCER_SHARE_OTHER)
    public = base * (1.0 - share)
    influencer = base * share
    if plan.case is not None:
        current, previous = case_day_masks(plan)
        on_case = np.isin(plan.ad_ids[ad_of], plan.case.ad_ids)
        public = np.where(on_case & current[day_of], public * CASE_PUBLIC_BOOST, public)
        influencer = np.where(on_case & previous[day_of], influencer * CASE_PREVIOUS_INFLUENCER, influencer)
        influencer = np.where(on_case & current[day_of], influencer * CASE_CURRENT_INFLUENCER, influencer)
    return public, influencer, ad_of


def cell_index(plan: CampaignPlan, ad: np.ndarray, market: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Position of (ad, market, day) in the plan's result grid (ad-major, then market, then day)."""
    return (ad * plan.n_markets + market) * plan.n_days + day


def audience_codes() -> tuple[str, ...]:
    return tuple(AUDIENCES)


def channel_display(code: str) -> str:
    return CHANNEL_NAMES.get(code, code)
