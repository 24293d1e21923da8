"""The world's decisions about brands and campaigns: who advertises, when campaigns start, what they earn.

Calendar. Campaign starts lie between 2024-07-01 and the as-of date 2026-01-31 (19 months). Three months of the
year peak: **December** (holiday gifts), **January** (New Year and January sales) and **November**, our choice
for the third peak: Black Friday and Cyber Monday are the largest retail moment of the year in every market we
serve, and advertisers launch their campaigns in the weeks before them. Each month's number of starts is
allocated exactly from month weights (peaks 2.2-2.6 against about 1 for an ordinary month, a little more in 2025
as the business grows), so every peak month has at least 1.8 times the starts of the median month at any scale
large enough to have a median; inside a peak month the starts lean towards its busy days (the weeks before Black
Friday, the first three weeks of December, the first half of January).

Status as of the as-of date: exactly 30% of the campaigns are `active` - running on that day, so their end lies
on or after it (an active campaign may end after January 2026; its daily results stop at the as-of date) - and
70% are `finished`, with an end before it. Recent campaigns are far more likely to be the active ones, and a
campaign that started in the last week is always active.

Money. Each campaign links 400-1,000 CRM clients. A share of them buys (by objective, industry and how long the
campaign has run), some more than once (by industry), which fixes the sales count; the revenue is those sales at
the brand's ticket size; the budget is the revenue the campaign was planned for over its whole run divided by the
return its objective targets; the reach follows the spend to date and is never below three times the linked
clients. The `World` then splits these totals exactly over days, ads, markets and sales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

from generators.data.batches import gumbel_top, split_integer, stream
from generators.data.content import AUDIENCES, BRAND_STEMS, category_for
from generators.data.layout import SENTIMENT_PERIODS, brand_traits, choose_cases, moment_of
from generators.data.reference import (
    CHANNEL_TRAITS,
    INDUSTRIES,
    OBJECTIVE_CONVERSION,
    OBJECTIVE_ROAS,
    OBJECTIVES,
    channels,
    industry_of,
    markets,
)
from generators.data.tables import Brand, CampaignFacts

if TYPE_CHECKING:
    from generators.data.world import WorldScale

WINDOW_START = date(2024, 7, 1)
PEAK_MONTHS = (11, 12, 1)
MONTH_WEIGHTS = {1: 2.2, 2: 0.8, 3: 0.9, 4: 0.9, 5: 1.0, 6: 1.0, 7: 1.05, 8: 1.0, 9: 0.95, 10: 1.05, 11: 2.3, 12: 2.6}
GROWTH_2025 = 1.08
PEAK_RATIO = 1.8

MORE_STEMS = (
    "Amberline",
    "Brightwater",
    "Cobalt",
    "Dunmore",
    "Everglow",
    "Foxglove",
    "Goldcrest",
    "Highland",
    "Ironwood",
    "Jasper",
    "Keystone",
    "Larkspur",
    "Maple & Rye",
    "Northstar",
    "Oakridge",
    "Palisade",
    "Quarry",
    "Redwood",
    "Silverline",
    "Tamarind",
    "Umbra",
    "Vesper",
    "Wildrose",
    "Yarrow",
    "Azure",
    "Bramble",
    "Cinder",
    "Dovetail",
    "Elmstead",
    "Fernwood",
    "Glacier",
    "Hollow Oak",
    "Indigo",
    "Jubilee",
    "Kindred",
    "Lantern",
    "Marigold",
    "Nectar",
    "Opal",
    "Prism",
    "Radiant",
    "Saffron",
    "Terracotta",
    "Upland",
    "Velvet",
    "Wayfarer",
    "Zenith",
    "Andes",
    "Caribe",
    "Pampa",
    "Sierra",
    "Brisa",
    "Ceiba",
    "Quetzal",
    "Tucan",
    "Volcan",
    "Arrecife",
    "Ipe",
    "Jacaranda",
    "Mistral",
)
LEGAL_FORMS = {
    "US": ("Inc.", "LLC", "Brands Inc."),
    "CA": ("Inc.", "Ltd."),
    "MX": ("S.A. de C.V.", "S. de R.L. de C.V."),
    "CR": ("S.A.", "S.R.L."),
    "CO": ("S.A.S.", "S.A."),
    "ES": ("S.L.", "S.A."),
    "GB": ("Ltd", "plc"),
    "BR": ("Ltda.", "S.A."),
}
BRAND_COUNTRIES = (
    ("US", 0.40),
    ("MX", 0.10),
    ("BR", 0.10),
    ("CR", 0.08),
    ("CO", 0.08),
    ("ES", 0.08),
    ("GB", 0.08),
    ("CA", 0.08),
)
NEIGHBOURS = {
    "US": ("CA-ON", "MX-CMX", "GB-LND"),
    "CA": ("US-NY", "US-IL", "US-CA"),
    "MX": ("US-TX", "US-CA", "CO-DC", "CR-SJ"),
    "CR": ("MX-CMX", "CO-DC", "US-FL"),
    "CO": ("MX-CMX", "CR-SJ", "US-FL", "ES-MD"),
    "ES": ("GB-LND", "MX-CMX", "CO-DC"),
    "GB": ("ES-MD", "US-NY", "CA-ON"),
    "BR": ("MX-CMX", "CO-DC", "ES-MD", "US-FL"),
}
CHANNEL_BASE = {
    "facebook": 1.0,
    "instagram": 1.2,
    "tiktok": 0.9,
    "x": 0.5,
    "youtube": 0.7,
    "linkedin": 0.3,
    "influencers": 0.6,
    "email": 0.8,
    "sms": 0.35,
    "google_search": 0.8,
    "display": 0.6,
}
OBJECTIVE_CHANNELS = {
    "awareness": ("youtube", "display", "tiktok", "instagram"),
    "consideration": ("instagram", "youtube", "google_search"),
    "conversion": ("google_search", "email", "facebook", "sms"),
    "retention": ("email", "sms", "facebook"),
}


# --------------------------------------------------------------------------- brands


def build_brands(seed: int, count: int) -> list[Brand]:
    """`count` brands over every industry and the market countries; names are unique."""
    rng = stream(seed, "brands")
    stems = list(dict.fromkeys(BRAND_STEMS + MORE_STEMS))
    order = rng.permutation(len(stems))
    countries = [c for c, _ in BRAND_COUNTRIES]
    weights = np.array([w for _, w in BRAND_COUNTRIES])
    industries = [INDUSTRIES[i % len(INDUSTRIES)] for i in rng.permutation(max(count, len(INDUSTRIES)))][:count]
    # Exact shares of brands per country (then shuffled), so every market country has advertisers.
    country_of = [countries[k] for k in np.repeat(np.arange(len(countries)), split_integer(count, weights))]
    country_of = [country_of[int(k)] for k in rng.permutation(count)]
    out: list[Brand] = []
    names: set[str] = set()
    for i in range(count):
        stem = stems[int(order[i % len(stems)])]
        industry = industries[i]
        suffixes = category_for(industry.label).brand_suffixes
        name = f"{stem} {suffixes[int(rng.integers(len(suffixes)))]}"
        k = 2
        while name in names:
            name = f"{stem} {suffixes[(i + k) % len(suffixes)]} {k}"
            k += 1
        names.add(name)
        country = country_of[i]
        legal = LEGAL_FORMS[country]
        group = ("Group", "Holdings", "Brands", "Consumer")[int(rng.integers(4))]
        advertiser = f"{stem} {group} {legal[int(rng.integers(len(legal)))]}"
        out.append(Brand(i + 1, name, advertiser, industry.label, country))
    return out


# --------------------------------------------------------------------------- calendar


def window_months(as_of: date) -> list[tuple[int, int]]:
    months = []
    year, month = WINDOW_START.year, WINDOW_START.month
    while (year, month) <= (as_of.year, as_of.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def month_counts(total: int, months: list[tuple[int, int]]) -> np.ndarray:
    """Starts per month, exact, with every peak month at least PEAK_RATIO x the median month."""
    weights = np.array([MONTH_WEIGHTS[m] * (GROWTH_2025 if y >= 2025 else 1.0) for y, m in months])
    counts = split_integer(total, weights)
    peaks = np.array([m in PEAK_MONTHS for _, m in months])
    # Rounding can leave a peak just under the ratio at small scales: move starts from ordinary months.
    for _ in range(total):
        median = float(np.median(counts))
        low = np.flatnonzero(peaks & (counts < math.ceil(PEAK_RATIO * median)))
        if low.size == 0:
            break
        donors = np.flatnonzero(~peaks & (counts > 0))
        if donors.size == 0:
            break
        counts[donors[np.argmax(counts[donors])]] -= 1
        counts[low[np.argmin(counts[low])]] += 1
    return counts


def _days_in_month(year: int, month: int) -> int:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (following - date(year, month, 1)).days


def start_dates(rng: np.random.Generator, total: int, as_of: date) -> list[date]:
    months = window_months(as_of)
    counts = month_counts(total, months)
    out: list[date] = []
    for (year, month), n in zip(months, counts.tolist(), strict=True):
        last = _days_in_month(year, month) if (year, month) != (as_of.year, as_of.month) else as_of.day
        dom = np.arange(1, last + 1)
        if month == 11:
            w = 1.0 + 2.0 * (dom >= 15)  # launches ahead of Black Friday
        elif month == 12:
            w = 1.0 + 1.5 * (dom <= 20)
        elif month == 1:
            w = 1.0 + 1.5 * (dom <= 15)
        else:
            w = np.ones(dom.size)
        picks = rng.choice(dom, size=n, p=w / w.sum())
        out.extend(date(year, month, int(d)) for d in picks)
    return out


def choose_active(rng: np.random.Generator, starts: list[date], as_of: date, share: float) -> np.ndarray:
    """Exactly round(share x n) active campaigns, mostly recent ones; the last week's starts always."""
    n = len(starts)
    n_active = round(share * n)
    age = np.array([(as_of - s).days for s in starts], dtype=np.float64)
    weights = np.exp(-age / 70.0) + 0.002  # a few always-on campaigns started long ago
    must = np.flatnonzero(age <= 7)
    if must.size >= n_active:
        chosen = must[np.argsort(age[must], kind="stable")][:n_active]
    else:
        rest = np.setdiff1d(np.arange(n), must)
        chosen = np.concatenate([must, rest[gumbel_top(rng, weights[rest], n_active - must.size)]])
    active = np.zeros(n, dtype=bool)
    active[chosen] = True
    return active


# --------------------------------------------------------------------------- campaigns


def _channels_for(rng: np.random.Generator, brand: Brand, objective: str) -> tuple[str, ...]:
    industry = industry_of(brand.industry)
    codes = [ch.code for ch in channels()]
    w = np.array([CHANNEL_BASE.get(code, 0.5) for code in codes])
    for k, code in enumerate(codes):
        if code in industry.preferred_channels:
            w[k] *= 3.0
        if code in OBJECTIVE_CHANNELS[objective]:
            w[k] *= 1.8
    n = int(rng.choice(5, p=[0.05, 0.25, 0.35, 0.25, 0.10])) + 1
    picked = gumbel_top(rng, w, n)
    return tuple(codes[int(k)] for k in picked)


def _markets_for(rng: np.random.Generator, brand: Brand) -> tuple[str, ...]:
    home = [m.code for m in markets() if m.country_code == brand.country_code]
    n = int(rng.choice(4, p=[0.35, 0.35, 0.2, 0.1])) + 1
    chosen = [home[int(rng.integers(len(home)))]]
    others = [c for c in home if c not in chosen] + [c for c in NEIGHBOURS.get(brand.country_code, ()) if c not in home]
    others = [c for c in others if c in {m.code for m in markets()}]
    while len(chosen) < n and others:
        chosen.append(others.pop(int(rng.integers(len(others)))))
    return tuple(chosen)


def _audiences_for(rng: np.random.Generator, brand: Brand) -> tuple[str, ...]:
    pool = [a for a in category_for(brand.industry).audiences if a in AUDIENCES]
    n = min(len(pool), int(rng.choice(3, p=[0.4, 0.4, 0.2])) + 1)
    return tuple(pool[int(k)] for k in rng.permutation(len(pool))[:n])


def _campaign_name(
    rng: np.random.Generator, brand: Brand, product: str, starts_on: date, used: set[tuple[int, str]]
) -> str:
    stem = brand.brand_name.split()[0]
    moment = moment_of(starts_on.month)
    moment = moment.removeprefix("the ")
    moment = " ".join(w[:1].upper() + w[1:] for w in moment.split())
    style = int(rng.integers(4))
    title = " ".join(w[:1].upper() + w[1:] for w in product.split())
    base = (
        f"{stem} {moment} {starts_on.year}",
        f"{title} {moment} {starts_on.year}",
        f"{title} Launch {starts_on:%b %Y}",
        f"{stem} {moment} Push {starts_on:%b %Y}",
    )[style]
    name, wave = base, 1
    while (brand.brand_id, name) in used:  # unique per brand, as PromptAds requires
        wave += 1
        name = f"{base} Wave {wave}"
    used.add((brand.brand_id, name))
    return name[:200]


@dataclass
class _Draft:
    """A campaign before its name and money are settled (the sentiment cases may still move its end)."""

    campaign_id: int
    brand: Brand
    objective: str
    status: str
    starts_on: date
    ends_on: date
    channels: tuple[str, ...]
    markets: tuple[str, ...]
    audiences: tuple[str, ...]
    linked: int

    def facts(self, seed: int, as_of: date, name: str = "") -> CampaignFacts:
        sales, revenue_cents, budget, reach = _money(seed, as_of, self)
        return CampaignFacts(
            campaign_id=self.campaign_id,
            brand_id=self.brand.brand_id,
            campaign_name=name,
            objective=self.objective,
            status=self.status,
            starts_on=self.starts_on,
            ends_on=self.ends_on,
            budget_usd=budget,
            channels=self.channels,
            markets=self.markets,
            audiences=self.audiences,
            sales_count=sales,
            revenue_cents=revenue_cents,
            reach=reach,
            linked_clients=self.linked,
        )


def _money(seed: int, as_of: date, d: _Draft) -> tuple[int, int, float, int]:
    """Sales count, revenue in cents, budget and reach of a campaign (from its own stream: re-computable)."""
    rng = stream(seed, "campaigns.money", d.campaign_id)
    industry = industry_of(d.brand.industry)
    traits = brand_traits(seed, d.brand)
    elapsed = (min(d.ends_on, as_of) - d.starts_on).days + 1
    total = (d.ends_on - d.starts_on).days + 1
    rate = OBJECTIVE_CONVERSION[d.objective] * industry.conversion * float(rng.lognormal(0.0, 0.35))
    rate = float(np.clip(rate, 0.004, 0.45))
    ripeness = min(1.0, elapsed / 21.0) ** 0.8  # buyers build up over the first three weeks
    buyers = round(d.linked * rate * ripeness)
    sales = round(buyers * (1.0 + industry.repeat_rate))
    mean_quantity = 1.0 + 0.3 * (industry.max_quantity - 1)
    revenue_cents = max(round(sales * traits.ticket_usd * mean_quantity * float(rng.lognormal(0.0, 0.12)) * 100), sales)
    planned_revenue = d.linked * rate * (1.0 + industry.repeat_rate) * traits.ticket_usd * mean_quantity
    roas = OBJECTIVE_ROAS[d.objective] * float(rng.lognormal(0.0, 0.3))
    budget = float(np.clip(round(planned_revenue / roas / 50) * 50, 1_000, 3_000_000))
    spend = budget * elapsed / total * 0.95
    cost_per_person = float(np.mean([CHANNEL_TRAITS[ch].cpm_usd * CHANNEL_TRAITS[ch].frequency for ch in d.channels]))
    reach = max(round(spend / cost_per_person * 1000 * float(rng.lognormal(0.0, 0.15))), 3 * d.linked)
    return sales, revenue_cents, budget, reach


def build_campaigns(seed: int, as_of: date, brands: list[Brand], scale: WorldScale) -> list[CampaignFacts]:
    """Every campaign's facts, ids in start order, with the sentiment cases' campaigns made eligible."""
    rng = stream(seed, "campaigns")
    n = scale.campaigns
    starts = sorted(start_dates(rng, n, as_of))
    active = choose_active(rng, starts, as_of, scale.active_share)
    brand_w = 1.0 / (rng.permutation(len(brands)) + 3.0) ** 0.8
    brand_of = rng.choice(len(brands), size=n, p=brand_w / brand_w.sum())
    lo, hi = scale.links_per_campaign
    drafts: list[_Draft] = []
    for i, starts_on in enumerate(starts):
        c_rng = stream(seed, "campaigns.layout", i + 1)
        brand = brands[int(brand_of[i])]
        peak = starts_on.month in PEAK_MONTHS
        objective = OBJECTIVES[int(c_rng.choice(4, p=[0.2, 0.2, 0.45, 0.15] if peak else [0.3, 0.28, 0.27, 0.15]))]
        if active[i]:
            ends_on = max(as_of + timedelta(days=int(c_rng.integers(0, 91))), starts_on + timedelta(days=20))
        else:
            duration = int(np.clip(round(c_rng.lognormal(math.log(35), 0.45)), 7, 120))
            latest = as_of - timedelta(days=1 + int(c_rng.integers(0, 3)))
            ends_on = max(min(starts_on + timedelta(days=duration - 1), latest), starts_on)
        drafts.append(
            _Draft(
                i + 1,
                brand,
                objective,
                "active" if active[i] else "finished",
                starts_on,
                ends_on,
                _channels_for(c_rng, brand, objective),
                _markets_for(c_rng, brand),
                _audiences_for(c_rng, brand),
                int(c_rng.integers(lo, hi + 1)),
            )
        )
    _make_cases_eligible(seed, as_of, drafts, scale.sentiment_cases)

    used_names: set[tuple[int, str]] = set()
    out = []
    for d in drafts:
        name_rng = stream(seed, "campaigns.name", d.campaign_id)
        product = brand_traits(seed, d.brand).products[d.campaign_id % 2]
        out.append(d.facts(seed, as_of, _campaign_name(name_rng, d.brand, product, d.starts_on, used_names)))
    return out


def _make_cases_eligible(seed: int, as_of: date, drafts: list[_Draft], count: int) -> None:
    """Make sure every sentiment period gets a campaign that can carry it: one that ran through the period and the
    one before it, on a sentiment channel. When none does, the campaign of an unused brand that started closest
    before the preceding period runs on past the period, on the period's channel. The selection is the World's
    (`choose_cases`), repeated until every period is served, since a change can make a campaign eligible for an
    earlier period too."""
    industry = {d.brand.brand_id: d.brand.industry for d in drafts}
    for _ in range(2 * count + 1):
        facts = [d.facts(seed, as_of) for d in drafts]
        chosen = {period for period, _ in choose_cases(facts, as_of, count, industry)}
        missing = [p for p in SENTIMENT_PERIODS[:count] if p not in chosen]
        if not missing:
            return
        period = missing[0]
        used = {
            c.brand_id
            for p, c in choose_cases(facts, as_of, count, industry)
            if SENTIMENT_PERIODS.index(p) < SENTIMENT_PERIODS.index(period)
        }
        days = (period.period_to - period.period_from).days + 1
        previous_from = period.period_from - timedelta(days=days)
        pool = [
            (d.starts_on, k)
            for k, d in enumerate(drafts)
            if d.starts_on <= previous_from
            and d.brand.brand_id not in used
            and (d.status == "active" or period.period_to + timedelta(days=7) < as_of)
        ]
        if not pool:
            return
        d = drafts[max(pool)[1]]
        if d.status == "finished":
            d.ends_on = max(d.ends_on, period.period_to + timedelta(days=7))
        if period.channel_code not in d.channels:
            d.channels = (period.channel_code, *d.channels)[:5]
