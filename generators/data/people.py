"""The CRM's people: name pools per market, and each client's market, sex, birth date, home and contact details.

Faker fills the name pools once per locale, with a fixed seed, and never draws a row: rows pick from the pools
with numpy. Emails use the reserved example.com/.net/.org domains and include the client id (so they are unique);
UK phone numbers use Ofcom's drama range 07700 900xxx and North American ones the 555 exchange.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from generators.data import national_ids
from generators.data.batches import labels, stream
from generators.data.reference import Market, markets

FAKER_POOL_SEED = 20240917
POOL_DRAWS = 500
SPANISH_SURNAMES = frozenset({"MX", "CR", "CO", "ES"})
"""Countries where a person carries two surnames (father's, then mother's); the CURP uses both."""


@dataclass(frozen=True)
class NamePool:
    female: tuple[str, ...]
    male: tuple[str, ...]
    last: tuple[str, ...]


@functools.cache
def name_pool(locale: str) -> NamePool:
    """First and last names of one Faker locale, deduplicated in the order Faker produced them (deterministic)."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(FAKER_POOL_SEED)
    female = tuple(dict.fromkeys(fake.first_name_female() for _ in range(POOL_DRAWS)))
    male = tuple(dict.fromkeys(fake.first_name_male() for _ in range(POOL_DRAWS)))
    last = tuple(dict.fromkeys(fake.last_name() for _ in range(POOL_DRAWS)))
    return NamePool(female, male, last)


def ascii_word(text: str) -> str:
    """Lower-case a-z and digits only: the part of a name an email address keeps."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]", "", plain)


# --------------------------------------------------------------------------- per-client parameters


@dataclass(frozen=True)
class ClientBase:
    """Numeric facts about every client, drawn once for the whole world (a few bytes per client)."""

    market: np.ndarray
    """Index into reference.markets()."""
    female: np.ndarray
    birth_year: np.ndarray
    town: np.ndarray
    """-1 when the client lives in the market's city, else the index of a town of MarketTraits.towns."""
    latitude: np.ndarray
    longitude: np.ndarray

    @property
    def count(self) -> int:
        return int(self.market.size)

    def ids_in(self, market: int) -> np.ndarray:
        return np.flatnonzero(self.market == market) + 1


KM_PER_DEGREE = 111.32


def offset_point(
    latitude: np.ndarray, longitude: np.ndarray, km: np.ndarray, bearing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points `km` away from the given ones in direction `bearing` (radians), rounded to decimal(9,6)."""
    lat = latitude + km * np.cos(bearing) / KM_PER_DEGREE
    lon = longitude + km * np.sin(bearing) / (KM_PER_DEGREE * np.cos(np.radians(latitude)))
    return np.round(lat, 6), np.round(lon, 6)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: float | np.ndarray, lon2: float | np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


def build_client_base(seed: int, count: int) -> ClientBase:
    """Market, sex, birth year and home of clients 1..count."""
    rng = stream(seed, "clients.base")
    all_markets = markets()
    shares = np.array([m.traits.client_share for m in all_markets], dtype=np.float64)
    market = rng.choice(len(all_markets), size=count, p=shares / shares.sum()).astype(np.int8)
    female = rng.random(count) < 0.51
    # Adults 18-85 in 2026, most between 25 and 50.
    age = np.clip(np.round(rng.gamma(6.5, 6.0, size=count) + 14), 18, 85).astype(np.int16)
    birth_year = (2026 - age).astype(np.int16)

    town = np.full(count, -1, dtype=np.int16)
    latitude = np.empty(count, dtype=np.float64)
    longitude = np.empty(count, dtype=np.float64)
    for m, mk in enumerate(all_markets):
        idx = np.flatnonzero(market == m)
        n = idx.size
        towns = mk.traits.towns
        in_town = rng.random(n) < 0.36
        # Nearer towns (listed first) are home to more clients than the farther ones.
        town_weights = 1.0 / np.arange(1, len(towns) + 1) ** 0.8
        chosen = rng.choice(len(towns), size=n, p=town_weights / town_weights.sum())
        centre_lat = np.where(in_town, np.array([t.latitude for t in towns])[chosen], mk.latitude)
        centre_lon = np.where(in_town, np.array([t.longitude for t in towns])[chosen], mk.longitude)
        # The metro area spreads over 0-35 km around the city; a town's clients live within a few km of it.
        km = np.where(in_town, np.minimum(rng.exponential(2.5, n), 12.0), np.minimum(rng.exponential(7.0, n), 35.0))
        lat, lon = offset_point(centre_lat, centre_lon, km, rng.uniform(0, 2 * math.pi, n))
        latitude[idx], longitude[idx] = lat, lon
        town[idx] = np.where(in_town, chosen, -1)
    return ClientBase(market, female, birth_year, town, latitude, longitude)


def home_city(base: ClientBase, index: np.ndarray) -> list[str]:
    """The city name of each client's home (the market's city, or the town they live in)."""
    all_markets = markets()
    out = []
    for m, t in zip(base.market[index].tolist(), base.town[index].tolist(), strict=True):
        out.append(all_markets[m].city if t < 0 else all_markets[m].traits.towns[t].name)
    return out


# --------------------------------------------------------------------------- per-chunk strings

EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "correo.example.net")
INCOME_BANDS = ("under_25k", "25k_50k", "50k_75k", "75k_100k", "100k_150k", "over_150k")
OCCUPATIONS = (
    "student",
    "teacher",
    "nurse",
    "software developer",
    "sales associate",
    "accountant",
    "small business owner",
    "designer",
    "engineer",
    "driver",
    "retired",
    "homemaker",
    "marketing specialist",
    "physician",
    "chef",
    "administrative assistant",
    "consultant",
    "technician",
)
CONTACT_PREFERENCES = ("email", "sms", "whatsapp", "phone", "none")
NOTES = (
    "prefers evening contact",
    "asked for fewer promotional emails",
    "loyal customer since the first purchase",
    "interested in new product launches",
    "price sensitive; responds to discounts",
    "shops mostly online",
    "visits the store on weekends",
    "referred by a friend",
    "requested information in Spanish",
    "birthday offers welcome",
)


@dataclass(frozen=True)
class ClientStrings:
    first_name: list[str]
    last_name: list[str]
    email: list[str | None]
    phone: list[str | None]
    national_id: list[str]
    context_json: list[str]


def _phone(market: Market, rng: np.random.Generator, n: int) -> list[str]:
    t = market.traits
    area = labels(rng.integers(0, len(t.area_codes), n), t.area_codes)
    a = rng.integers(0, 10_000, n).tolist()
    b = rng.integers(0, 10_000, n).tolist()
    c = rng.integers(0, 1_000, n).tolist()
    country = market.country_code
    if country in ("US", "CA"):
        return [f"+1 {ar}-555-{x:04d}" for ar, x in zip(area, a, strict=True)]
    if country == "MX":
        return [f"+52 55 {x:04d} {y:04d}" for x, y in zip(a, b, strict=True)]
    if country == "CR":
        return [f"+506 {ar}{z:03d} {x:04d}" for ar, z, x in zip(area, c, a, strict=True)]
    if country == "CO":
        return [f"+57 {ar} {z:03d} {x:04d}" for ar, z, x in zip(area, c, a, strict=True)]
    if country == "ES":
        return [
            f"+34 {ar}{x // 100:02d} {x % 100:02d} {y // 100:02d} {y % 100:02d}"
            for ar, x, y in zip(area, a, b, strict=True)
        ]
    if country == "GB":
        return [f"+44 7700 900{z:03d}" for z in c]
    if country == "BR":
        return [f"+55 11 9{x:04d}-{y:04d}" for x, y in zip(a, b, strict=True)]
    return [f"{t.phone_prefix} {x:04d} {y:04d}" for x, y in zip(a, b, strict=True)]


def _national_ids(
    country: str,
    ids: np.ndarray,
    birth_year: np.ndarray,
    female: np.ndarray,
    given: list[str],
    surname1: list[str],
    surname2: list[str],
    rng: np.random.Generator,
    curp_seen: dict[str, int],
) -> list[str]:
    n = ids.size
    if country == "US":
        return national_ids.us_ssn(ids)
    if country == "CA":
        return national_ids.ca_sin(ids)
    if country == "CR":
        # Mostly born in San José (1), else Alajuela, Cartago, Heredia and the coastal provinces.
        province = rng.choice(np.arange(1, 8), size=n, p=[0.52, 0.16, 0.1, 0.1, 0.04, 0.04, 0.04])
        return national_ids.cr_cedula(ids, province)
    if country == "CO":
        return national_ids.co_cedula(ids, birth_year)
    if country == "ES":
        return national_ids.es_dni(ids, rng.random(n) < 0.06)
    if country == "GB":
        return national_ids.gb_nino(ids)
    if country == "BR":
        return national_ids.br_cpf(ids)
    if country == "MX":
        month = rng.integers(1, 13, n)
        day = np.minimum(rng.integers(1, 32, n), np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[month - 1])
        states_codes = [s for s, _ in national_ids.MX_STATES]
        weights = np.array([w for _, w in national_ids.MX_STATES])
        states = labels(rng.choice(len(states_codes), size=n, p=weights / weights.sum()), states_codes)
        births = [(int(y), int(mo), int(d)) for y, mo, d in zip(birth_year, month, day, strict=True)]
        return national_ids.mx_curp(surname1, surname2, given, births, female.tolist(), states, curp_seen)
    raise ValueError(f"no national ID format for country {country!r}; add one to generators/data/national_ids.py")


def client_strings(
    seed: int, chunk: int, ids: np.ndarray, base: ClientBase, curp_seen: dict[str, int]
) -> ClientStrings:
    """Names, contact details, national IDs and context of the clients `ids` (one chunk)."""
    rng = stream(seed, "crm.clients", chunk)
    index = ids - 1
    n = ids.size
    first: list[str] = [""] * n
    last: list[str] = [""] * n
    email: list[str | None] = [None] * n
    phone: list[str | None] = [None] * n
    national: list[str] = [""] * n
    all_markets = markets()
    market_of = base.market[index]
    for m in np.unique(market_of).tolist():
        mk = all_markets[m]
        rows = np.flatnonzero(market_of == m)
        k = rows.size
        pool = name_pool(mk.traits.names_locale)
        fem = base.female[index[rows]]
        given_f = labels(rng.integers(0, len(pool.female), k), pool.female)
        given_m = labels(rng.integers(0, len(pool.male), k), pool.male)
        given = [f if is_f else g for f, g, is_f in zip(given_f, given_m, fem.tolist(), strict=True)]
        s1 = labels(rng.integers(0, len(pool.last), k), pool.last)
        s2 = labels(rng.integers(0, len(pool.last), k), pool.last)
        if mk.country_code in SPANISH_SURNAMES:
            surnames = [f"{a} {b}" for a, b in zip(s1, s2, strict=True)]
        elif mk.country_code == "BR":  # Brazilians often carry the mother's surname before the father's
            two = (rng.random(k) < 0.5).tolist()
            surnames = [f"{b} {a}" if t else a for a, b, t in zip(s1, s2, two, strict=True)]
        else:
            surnames = s1
        national_part = _national_ids(
            mk.country_code, ids[rows], base.birth_year[index[rows]], fem, given, s1, s2, rng, curp_seen
        )
        pattern = rng.integers(0, 4, k).tolist()
        domain = labels(rng.integers(0, len(EMAIL_DOMAINS), k), EMAIL_DOMAINS)
        has_email = (rng.random(k) >= 0.04).tolist()
        phones = _phone(mk, rng, k)
        has_phone = (rng.random(k) >= 0.08).tolist()
        for j, r in enumerate(rows.tolist()):
            first[r], last[r], national[r] = given[j], surnames[j], national_part[j]
            if has_email[j]:
                f, s = ascii_word(given[j]) or "client", ascii_word(s1[j]) or "mail"
                cid = int(ids[r])
                local = (f"{f}.{s}{cid}", f"{f[0]}{s}.{cid}", f"{f}{cid}", f"{s}.{f}.{cid}")[pattern[j]]
                email[r] = f"{local}@{domain[j]}"
            if has_phone[j]:
                phone[r] = phones[j]
    income = labels(rng.choice(len(INCOME_BANDS), size=n, p=[0.14, 0.24, 0.22, 0.17, 0.14, 0.09]), INCOME_BANDS)
    household = np.clip(rng.poisson(1.7, n) + 1, 1, 8).tolist()
    occupation = labels(rng.integers(0, len(OCCUPATIONS), n), OCCUPATIONS)
    contact = labels(
        rng.choice(len(CONTACT_PREFERENCES), size=n, p=[0.38, 0.18, 0.22, 0.14, 0.08]), CONTACT_PREFERENCES
    )
    note = labels(rng.integers(0, len(NOTES), n), NOTES)
    # The pools hold no quotes or backslashes, so the JSON is assembled directly (keys in sorted order).
    context = [
        f'{{"household_size":{h},"income_band":"{i}","notes":"{t}","occupation":"{o}","preferred_contact":"{c}"}}'
        for h, i, t, o, c in zip(household, income, note, occupation, contact, strict=True)
    ]
    return ClientStrings(first, last, email, phone, national, context)
