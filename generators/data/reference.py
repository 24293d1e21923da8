"""Reference data of the world: the channels, markets and lead sources the models deploy, and the traits behind them.

The codes come from the reference rows of model/ads.yaml and model/crm.yaml (deployed with the schemas, never
generated again); this module adds what the generator needs to know about each of them: what a thousand views
cost on a channel and how people engage there, where a market's clients live, how tickets differ by industry.
The numbers are rounded public benchmarks (2024-2025 ad-platform averages), good enough to look real.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.model import load_model

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def model_rows(store: str, table: str) -> tuple[dict[str, Any], ...]:
    """The reference rows a model deploys with the schema (empty when the table has none)."""
    model = load_model(ROOT / "model" / f"{store}.yaml")
    return tuple(dict(row) for row in model.table_map[table].rows)


# --------------------------------------------------------------------------- channels


@dataclass(frozen=True)
class ChannelTraits:
    cpm_usd: float
    """Cost of a thousand views (impressions, opens, messages delivered)."""
    frequency: float
    """Views per person reached."""
    engagement: float
    """Interactions (clicks, likes, shares, comments...) per view."""
    likes: float
    shares: float
    comments: float
    """Shares of the interactions; zero where the channel has no such reaction (email, SMS, search, display)."""
    exposure_seconds: float
    """Average time a view keeps the ad on screen."""
    sales_propensity: float
    """How likely a sale is credited to an ad on this channel, relative to a social feed."""
    formats: tuple[tuple[str, float], ...]
    influencer_share: float
    """Share of the channel's ads published by an influencer whose home channel it is."""


CHANNEL_TRAITS: dict[str, ChannelTraits] = {
    "facebook": ChannelTraits(
        9.0,
        1.9,
        0.020,
        0.55,
        0.08,
        0.06,
        3.0,
        1.0,
        (("image", 0.45), ("video", 0.25), ("carousel", 0.2), ("story", 0.1)),
        0.10,
    ),
    "instagram": ChannelTraits(
        10.0,
        2.1,
        0.035,
        0.70,
        0.05,
        0.06,
        3.5,
        1.0,
        (("image", 0.35), ("carousel", 0.25), ("story", 0.25), ("video", 0.15)),
        0.30,
    ),
    "tiktok": ChannelTraits(7.0, 2.4, 0.050, 0.72, 0.08, 0.05, 8.0, 0.9, (("video", 0.8), ("story", 0.2)), 0.35),
    "x": ChannelTraits(
        6.0, 1.7, 0.015, 0.45, 0.15, 0.08, 2.0, 0.6, (("image", 0.4), ("text", 0.35), ("video", 0.25)), 0.15
    ),
    "youtube": ChannelTraits(14.0, 1.5, 0.030, 0.40, 0.04, 0.03, 25.0, 0.8, (("video", 1.0),), 0.25),
    "linkedin": ChannelTraits(
        33.0,
        1.4,
        0.012,
        0.45,
        0.06,
        0.05,
        4.0,
        0.9,
        (("image", 0.4), ("text", 0.3), ("carousel", 0.15), ("video", 0.15)),
        0.05,
    ),
    "influencers": ChannelTraits(
        18.0, 1.8, 0.045, 0.65, 0.08, 0.08, 10.0, 1.3, (("image", 0.35), ("video", 0.35), ("story", 0.3)), 1.0
    ),
    "email": ChannelTraits(1.5, 1.2, 0.120, 0.0, 0.0, 0.0, 12.0, 1.6, (("email", 1.0),), 0.0),
    "sms": ChannelTraits(20.0, 1.05, 0.060, 0.0, 0.0, 0.0, 5.0, 1.2, (("sms", 1.0),), 0.0),
    "google_search": ChannelTraits(35.0, 1.3, 0.040, 0.0, 0.0, 0.0, 1.5, 2.0, (("text", 0.7), ("image", 0.3)), 0.0),
    "display": ChannelTraits(3.0, 3.0, 0.003, 0.0, 0.0, 0.0, 1.0, 0.4, (("image", 0.8), ("video", 0.2)), 0.0),
}

VISUAL_FORMATS = frozenset({"image", "video", "carousel", "story", "email"})
"""Ad formats that show a PromptContent asset (text ads and SMS have none)."""

INFLUENCER_HOME_CHANNELS = (
    ("instagram", 0.35),
    ("tiktok", 0.25),
    ("youtube", 0.15),
    ("x", 0.10),
    ("facebook", 0.10),
    ("linkedin", 0.05),
)
"""Where influencers publish: the home channels of ads.influencers, with their share of influencers."""

SENTIMENT_CHANNELS = ("instagram", "tiktok", "facebook", "x", "youtube", "linkedin")
"""Channels whose reactions carry public sentiment the brand-sentiment query reads, in order of preference."""


@dataclass(frozen=True)
class Channel:
    code: str
    display_name: str
    kind: str
    is_social: bool
    traits: ChannelTraits


@functools.cache
def channels() -> tuple[Channel, ...]:
    """ads.channels as deployed, in model order, with their traits."""
    rows = model_rows("ads", "ads.channels")
    missing = [row["channel_code"] for row in rows if row["channel_code"] not in CHANNEL_TRAITS]
    if missing:
        raise ValueError(f"model/ads.yaml: ads.channels rows without generator traits: {missing}; add them")
    return tuple(
        Channel(
            row["channel_code"],
            row["display_name"],
            row["channel_kind"],
            bool(row["is_social"]),
            CHANNEL_TRAITS[row["channel_code"]],
        )
        for row in rows
    )


@functools.cache
def channel_index() -> dict[str, int]:
    return {channel.code: i for i, channel in enumerate(channels())}


# --------------------------------------------------------------------------- markets


@dataclass(frozen=True)
class Town:
    """A city where a market's clients live, with its centre."""

    name: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class MarketTraits:
    client_share: float
    """Relative number of CRM clients in the market."""
    names_locale: str
    """Faker locale of the name pools (only the pools; Faker never draws a row)."""
    phone_prefix: str
    area_codes: tuple[str, ...]
    towns: tuple[Town, ...]
    """Nearby and farther towns (5-200 km from the market's city), for the distance bands of the analytics."""


MARKET_TRAITS: dict[str, MarketTraits] = {
    "US-NY": MarketTraits(
        14,
        "en_US",
        "+1",
        ("212", "718", "917", "646", "347"),
        (
            Town("Newark", 40.7357, -74.1724),
            Town("Yonkers", 40.9312, -73.8988),
            Town("Paterson", 40.9168, -74.1718),
            Town("White Plains", 41.0340, -73.7629),
            Town("Stamford", 41.0534, -73.5387),
            Town("Trenton", 40.2206, -74.7597),
            Town("New Haven", 41.3083, -72.9279),
            Town("Philadelphia", 39.9526, -75.1652),
        ),
    ),
    "US-CA": MarketTraits(
        14,
        "en_US",
        "+1",
        ("213", "310", "323", "818", "626"),
        (
            Town("Long Beach", 33.7701, -118.1937),
            Town("Pasadena", 34.1478, -118.1445),
            Town("Anaheim", 33.8366, -117.9143),
            Town("Santa Clarita", 34.3917, -118.5426),
            Town("Riverside", 33.9806, -117.3755),
            Town("San Bernardino", 34.1083, -117.2898),
            Town("Oxnard", 34.1975, -119.1771),
            Town("San Diego", 32.7157, -117.1611),
        ),
    ),
    "US-TX": MarketTraits(
        10,
        "en_US",
        "+1",
        ("713", "281", "832", "346"),
        (
            Town("Pasadena", 29.6911, -95.2091),
            Town("Sugar Land", 29.6197, -95.6349),
            Town("The Woodlands", 30.1658, -95.4613),
            Town("Galveston", 29.3013, -94.7977),
            Town("Beaumont", 30.0802, -94.1266),
            Town("College Station", 30.6280, -96.3344),
            Town("Austin", 30.2672, -97.7431),
        ),
    ),
    "US-FL": MarketTraits(
        8,
        "en_US",
        "+1",
        ("305", "786"),
        (
            Town("Hialeah", 25.8576, -80.2781),
            Town("Homestead", 25.4687, -80.4776),
            Town("Fort Lauderdale", 26.1224, -80.1373),
            Town("Boca Raton", 26.3683, -80.1289),
            Town("West Palm Beach", 26.7153, -80.0534),
            Town("Naples", 26.1420, -81.7948),
        ),
    ),
    "US-IL": MarketTraits(
        7,
        "en_US",
        "+1",
        ("312", "773", "872"),
        (
            Town("Evanston", 42.0451, -87.6877),
            Town("Naperville", 41.7508, -88.1535),
            Town("Aurora", 41.7606, -88.3201),
            Town("Joliet", 41.5250, -88.0817),
            Town("Gary", 41.5934, -87.3464),
            Town("Rockford", 42.2711, -89.0940),
            Town("Milwaukee", 43.0389, -87.9065),
        ),
    ),
    "CA-ON": MarketTraits(
        7,
        "en_US",
        "+1",
        ("416", "647", "437"),
        (
            Town("Mississauga", 43.5890, -79.6441),
            Town("Brampton", 43.7315, -79.7624),
            Town("Markham", 43.8561, -79.3370),
            Town("Oshawa", 43.8971, -78.8658),
            Town("Hamilton", 43.2557, -79.8711),
            Town("Barrie", 44.3894, -79.6903),
            Town("Kitchener", 43.4516, -80.4925),
            Town("London", 42.9849, -81.2453),
        ),
    ),
    "MX-CMX": MarketTraits(
        10,
        "es_MX",
        "+52",
        ("55",),
        (
            Town("Ecatepec", 19.6018, -99.0507),
            Town("Nezahualcóyotl", 19.4006, -99.0148),
            Town("Naucalpan", 19.4785, -99.2396),
            Town("Toluca", 19.2826, -99.6557),
            Town("Cuernavaca", 18.9242, -99.2216),
            Town("Pachuca", 20.1011, -98.7591),
            Town("Puebla", 19.0414, -98.2063),
        ),
    ),
    "CR-SJ": MarketTraits(
        5,
        "es",
        "+506",
        ("8", "7", "6"),
        (
            Town("Desamparados", 9.8978, -84.0698),
            Town("Heredia", 9.9981, -84.1198),
            Town("Alajuela", 10.0163, -84.2116),
            Town("Cartago", 9.8644, -83.9194),
            Town("Puntarenas", 9.9763, -84.8384),
            Town("Limón", 9.9907, -83.0359),
            Town("Liberia", 10.6346, -85.4407),
        ),
    ),
    "CO-DC": MarketTraits(
        7,
        "es_CO",
        "+57",
        ("300", "310", "311", "312", "313", "315", "316", "318", "320"),
        (
            Town("Soacha", 4.5794, -74.2168),
            Town("Chía", 4.8617, -74.0322),
            Town("Zipaquirá", 5.0221, -74.0048),
            Town("Facatativá", 4.8137, -74.3545),
            Town("Fusagasugá", 4.3365, -74.3638),
            Town("Villavicencio", 4.1420, -73.6266),
            Town("Girardot", 4.3031, -74.8039),
            Town("Tunja", 5.5353, -73.3678),
        ),
    ),
    "ES-MD": MarketTraits(
        7,
        "es_ES",
        "+34",
        ("6", "7"),
        (
            Town("Getafe", 40.3057, -3.7329),
            Town("Móstoles", 40.3223, -3.8649),
            Town("Alcobendas", 40.5475, -3.6420),
            Town("Alcalá de Henares", 40.4820, -3.3635),
            Town("Guadalajara", 40.6329, -3.1669),
            Town("Toledo", 39.8628, -4.0273),
            Town("Segovia", 40.9429, -4.1088),
        ),
    ),
    "GB-LND": MarketTraits(
        7,
        "en_GB",
        "+44",
        ("7700",),
        (
            Town("Croydon", 51.3762, -0.0982),
            Town("Watford", 51.6565, -0.3903),
            Town("Slough", 51.5105, -0.5950),
            Town("Luton", 51.8787, -0.4200),
            Town("Guildford", 51.2362, -0.5704),
            Town("Reading", 51.4543, -0.9781),
            Town("Brighton", 50.8225, -0.1372),
            Town("Cambridge", 52.2053, 0.1218),
            Town("Oxford", 51.7520, -1.2577),
        ),
    ),
    "BR-SP": MarketTraits(
        9,
        "pt_BR",
        "+55",
        ("11",),
        (
            Town("Guarulhos", -23.4543, -46.5337),
            Town("Osasco", -23.5325, -46.7917),
            Town("Santo André", -23.6639, -46.5383),
            Town("São Bernardo do Campo", -23.6914, -46.5646),
            Town("Santos", -23.9608, -46.3336),
            Town("Campinas", -22.9099, -47.0626),
            Town("Sorocaba", -23.5015, -47.4526),
            Town("São José dos Campos", -23.2237, -45.9009),
        ),
    ),
}


@dataclass(frozen=True)
class Market:
    code: str
    country_code: str
    city: str
    latitude: float
    longitude: float
    currency_code: str
    traits: MarketTraits


@functools.cache
def markets() -> tuple[Market, ...]:
    """ads.markets as deployed, in model order, with their traits (crm.markets holds the same codes)."""
    rows = model_rows("ads", "ads.markets")
    crm_codes = sorted(row["market_code"] for row in model_rows("crm", "crm.markets"))
    if crm_codes != sorted(row["market_code"] for row in rows):
        raise ValueError("model/crm.yaml: crm.markets must hold the same market codes as ads.markets in model/ads.yaml")
    missing = [row["market_code"] for row in rows if row["market_code"] not in MARKET_TRAITS]
    if missing:
        raise ValueError(f"model/ads.yaml: ads.markets rows without generator traits: {missing}; add them")
    return tuple(
        Market(
            row["market_code"],
            row["country_code"],
            row["city"],
            float(row["latitude"]),
            float(row["longitude"]),
            row["currency_code"],
            MARKET_TRAITS[row["market_code"]],
        )
        for row in rows
    )


@functools.cache
def market_index() -> dict[str, int]:
    return {market.code: i for i, market in enumerate(markets())}


@functools.cache
def lead_sources() -> tuple[str, ...]:
    return tuple(row["source_code"] for row in model_rows("crm", "crm.lead_sources"))


# --------------------------------------------------------------------------- industries


@dataclass(frozen=True)
class Industry:
    label: str
    """ads.brands.industry; content.category_for() maps it to the image vocabulary."""
    ticket_usd: float
    """Typical price of one unit sold."""
    max_quantity: int
    conversion: float
    """How readily a reached client buys, relative to an everyday consumer good."""
    repeat_rate: float
    """Purchases per buyer beyond the first, within one campaign."""
    niche: str
    """The influencer niche that fits the industry."""
    preferred_channels: tuple[str, ...]


INDUSTRIES: tuple[Industry, ...] = (
    Industry("Footwear", 95, 2, 1.0, 0.15, "running", ("instagram", "tiktok", "influencers", "facebook")),
    Industry("Apparel", 70, 3, 1.0, 0.25, "fashion", ("instagram", "tiktok", "facebook", "influencers")),
    Industry("Beverages", 18, 4, 1.1, 0.60, "food & drink", ("tiktok", "instagram", "youtube", "display")),
    Industry("Food", 22, 4, 1.1, 0.55, "food & drink", ("facebook", "instagram", "email", "google_search")),
    Industry("Beauty", 38, 3, 1.0, 0.35, "beauty", ("instagram", "tiktok", "influencers", "youtube")),
    Industry("Electronics", 180, 1, 0.7, 0.05, "tech", ("youtube", "google_search", "x", "display")),
    Industry("Home", 120, 2, 0.8, 0.10, "home & decor", ("facebook", "instagram", "email", "google_search")),
    Industry("Fitness", 140, 1, 0.8, 0.10, "fitness", ("instagram", "youtube", "influencers", "tiktok")),
    Industry("Travel", 650, 1, 0.5, 0.05, "travel", ("google_search", "instagram", "email", "youtube")),
    Industry("Finance", 250, 1, 0.5, 0.02, "personal finance", ("linkedin", "google_search", "email", "x")),
    Industry("Automotive", 32000, 1, 0.15, 0.0, "cars", ("youtube", "display", "google_search", "facebook")),
    Industry("Toys", 45, 2, 0.9, 0.20, "parenting", ("youtube", "tiktok", "facebook", "influencers")),
    Industry("Pet care", 55, 3, 1.0, 0.45, "pets", ("instagram", "facebook", "email", "influencers")),
    Industry("Jewellery", 420, 1, 0.5, 0.03, "fashion", ("instagram", "influencers", "facebook", "email")),
)

INDUSTRY_BY_LABEL = {industry.label: industry for industry in INDUSTRIES}

OBJECTIVES = ("awareness", "consideration", "conversion", "retention")
OBJECTIVE_CONVERSION = {"awareness": 0.05, "consideration": 0.09, "conversion": 0.16, "retention": 0.20}
"""Share of a campaign's linked clients who buy, for an everyday consumer good, by objective."""
OBJECTIVE_ROAS = {"awareness": 1.1, "consideration": 2.0, "conversion": 3.8, "retention": 5.0}
"""Revenue per dollar of budget a campaign is planned for, by objective."""


def industry_of(label: str) -> Industry:
    if label not in INDUSTRY_BY_LABEL:
        raise ValueError(f"unknown industry {label!r}; known: {', '.join(INDUSTRY_BY_LABEL)}")
    return INDUSTRY_BY_LABEL[label]
