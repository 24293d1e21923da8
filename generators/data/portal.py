"""PromptSales portal data generated from the world: companies, people, plans, strategies, calendar, AI approvals.

`portal_tables(world)` turns the world's brands and campaigns into every PromptSales table the portal writes, in
foreign-key load order. It reads only `world.seed`, `world.as_of`, `world.brands` and `world.campaigns`, so the
portal agrees with the other stores by construction:

- one company per PromptAds brand (`company_id` = `brand_id`, `brand_name` = the brand's name), plus the firm's
  own company, PromptSales, whose staff own the contacts and onboard the clients;
- one `portal.campaigns` row per PromptAds campaign with the same `campaign_id`, grouped into strategies per
  objective and half-year; budgets add up to the campaigns' budgets; sales objectives follow the campaigns'
  revenue and sales per quarter; the task calendar, its reminders and the alerts they raised follow the
  campaigns' dates the way `portal.dispatch_due_reminders` would have handled them.

Reference data deployed with the schema (sub-companies, subscription tiers, app roles) is referenced by code and
never generated. Every table has its own numpy Generator seeded from (seed, table name), so a table's rows do not
change when another table's generation changes; Faker only fills name pools, always with the same seed.

Times are timezone-aware UTC `datetime`s. What already happened (created, linked, issued, sent, decided...) lies
at or before the end of the as-of day; what is scheduled (due dates, reminders, token expiry, upcoming
strategies) may lie after it. No usable secret is generated: OAuth tokens exist only as SHA-256 hashes of random
bytes, and integrations name their secret in the vault (`secret_ref`), never its value.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from generators.data.load_order import PORTAL_TABLES
from generators.data.tables import Batch, Brand, CampaignFacts, TableData

STORE = "sales"

# Reference data of model/sales.yaml (deployed with the schema): referenced by code, never generated.
SUB_COMPANIES = ("content", "ads", "crm")
TIERS: dict[str, tuple[str, int, int]] = {
    "content_starter": ("content", 5, 3),
    "content_pro": ("content", 50, 20),
    "ads_growth": ("ads", 25, 10),
    "ads_enterprise": ("ads", 1000, 200),
    "crm_team": ("crm", 25, 15),
    "crm_enterprise": ("crm", 1000, 500),
}
"""tier_code -> (sub_company_code, max_active_campaigns, max_seats), as in portal.subscription_tiers."""
APP_ROLES = ("admin", "marketer", "sales_rep", "viewer")

HOUSE_BRAND = "PromptSales"
HOUSE_LEGAL_NAME = "PromptSales Digital Marketing LLC"
HOUSE_DOMAIN = "promptsales.example"
FAKER_POOL_SEED = 20260131  # Faker only fills the name pools, always with this seed.

DAY = 86_400
HOUR = 3_600

LOCALES = {"US": "en-US", "CA": "en-CA", "GB": "en-GB", "MX": "es-MX", "CO": "es-CO", "CR": "es-CR", "ES": "es-ES"}
LOCALES["BR"] = "pt-BR"
FAKER_LOCALES = {"en-US": "en_US", "en-CA": "en_CA", "en-GB": "en_GB", "es-MX": "es_MX", "es-CO": "es_CO"}
FAKER_LOCALES |= {"es-CR": "es_MX", "es-ES": "es_ES", "pt-BR": "pt_BR"}  # Faker has no Costa Rican locale

JOB_TITLES = (
    "Chief Marketing Officer",
    "VP of Marketing",
    "Head of Growth",
    "Brand Manager",
    "Senior Brand Manager",
    "E-commerce Director",
    "Digital Marketing Manager",
    "Performance Marketing Lead",
    "CRM Manager",
    "Head of Sales",
    "Sales Operations Analyst",
    "Procurement Manager",
    "Chief Financial Officer",
    "Marketing Coordinator",
    "Social Media Manager",
    "Customer Insights Analyst",
)

# Price ranges (USD) per content category (generators.data.content's vocabulary), for plausible list prices.
PRICE_RANGES: dict[str, tuple[float, float]] = {
    "footwear": (59, 229),
    "apparel": (19, 249),
    "beverages": (2, 9),
    "food": (3, 15),
    "beauty": (9, 95),
    "electronics": (39, 899),
    "home": (19, 1499),
    "fitness": (15, 1899),
    "travel": (149, 2999),
    "finance": (0, 95),
    "automotive": (21_900, 68_900),
    "toys": (9, 89),
    "pet_care": (9, 99),
    "jewellery": (79, 2499),
}
DEFAULT_PRICE_RANGE = (9.0, 199.0)

# Integrations a company plausibly connects, derived from the channels its campaigns use.
CHANNEL_PROVIDERS = {
    "facebook": "meta_ads",
    "instagram": "meta_ads",
    "tiktok": "tiktok_ads",
    "x": "x_ads",
    "youtube": "google_ads",
    "google_search": "google_ads",
    "display": "google_ads",
    "linkedin": "linkedin_ads",
    "email": "mailchimp",
    "sms": "twilio",
}
PROVIDER_AUTH = {
    "meta_ads": "oauth2_authorization_code",
    "google_ads": "oauth2_authorization_code",
    "linkedin_ads": "oauth2_authorization_code",
    "tiktok_ads": "oauth2_authorization_code",
    "x_ads": "oauth2_authorization_code",
    "mailchimp": "api_key",
    "twilio": "api_key",
    "salesforce": "oauth2_client_credentials",
    "hubspot": "oauth2_authorization_code",
    "shopify": "api_key",
}

IDENTITY_SCOPES = {
    "google": ["openid", "email", "profile"],
    "microsoft": ["openid", "email", "profile", "offline_access"],
    "linkedin": ["openid", "profile", "email"],
}

AI_TOOLS = (
    # (tool, provider, model_name, latency range ms, what it produces)
    ("draftAdCopy", "anthropic", "claude-3-5-haiku", (900, 6_500), "headlines"),
    ("suggestAudiences", "openai", "gpt-4o-mini", (1_200, 6_800), "audiences"),
    ("getContent", "deterministic", "all-MiniLM-L6-v2", (40, 380), "images"),
    ("requestCampaignContent", "anthropic", "claude-3-5-sonnet", (7_000, 18_500), "messages"),
)
CORRECTIONS = (
    "Shortened headline 2 to fit the {channel} character limit",
    "Replaced the call to action with the brand's approved wording",
    "Removed a price claim that legal has not cleared",
    "Changed the tone to match the {brand} style guide",
    "Swapped the second image for one with usage rights in all markets",
)
REJECTIONS = (
    "Off-brand tone; regenerate with the style guide",
    "Mentions a competitor by name",
    "Images lack usage rights for the campaign's markets",
    "Claims a discount the campaign does not offer",
)


class WorldFacts(Protocol):
    """The part of `generators.data.world.World` the portal is generated from."""

    @property
    def seed(self) -> int: ...

    @property
    def as_of(self) -> date: ...

    @property
    def brands(self) -> Sequence[Brand]: ...

    @property
    def campaigns(self) -> Sequence[CampaignFacts]: ...


def portal_tables(world: WorldFacts) -> list[TableData]:
    """Every PromptSales portal table of `world`, in foreign-key load order (see PORTAL_TABLES)."""
    return _Portal(world).tables()


# --------------------------------------------------------------------------- helpers


def _day_start(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _utc(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC)


def _date(seconds: int) -> date:
    return datetime.fromtimestamp(int(seconds), UTC).date()


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "company"


def _mailbox(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z]+", "", ascii_text) or "x"


def _country(market: str) -> str:
    return market.split("-", 1)[0].upper()[:2]


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _next_quarter(d: date) -> date:
    return date(d.year + 1, 1, 1) if d.month >= 10 else date(d.year, d.month + 3, 1)


@functools.cache
def _name_pools() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """First and last names per Faker locale: the only use of Faker, always seeded the same way."""
    from faker import Faker

    pools = {}
    for locale in sorted(set(FAKER_LOCALES.values())):
        fake = Faker(locale)
        fake.seed_instance(FAKER_POOL_SEED)
        firsts = tuple(dict.fromkeys(fake.first_name() for _ in range(300)))
        lasts = tuple(dict.fromkeys(fake.last_name() for _ in range(300)))
        pools[locale] = (firsts, lasts)
    return pools


@dataclass
class _Company:
    company_id: int
    brand_name: str
    legal_name: str
    industry: str
    country: str
    domain: str
    locale: str
    created: int
    campaigns: list[CampaignFacts]
    brand: Brand | None = None
    is_house: bool = False
    users: list[_User] = field(default_factory=list)
    products: list[int] = field(default_factory=list)
    tiers: dict[str, str] = field(default_factory=dict)  # sub-company -> tier of the current subscription
    account_rep: int | None = None

    def with_role(self, *roles: str) -> list[_User]:
        return [u for u in self.users if u.status != "invited" and set(roles) & set(u.roles)]


@dataclass
class _User:
    user_id: int
    company_id: int
    email: str
    full_name: str
    status: str
    created: int
    last_login: int | None
    roles: list[str] = field(default_factory=list)


@dataclass
class _Strategy:
    strategy_id: int
    company: _Company
    name: str
    objective: str
    status: str
    starts_on: date
    ends_on: date
    owner: int | None
    created: int
    campaigns: list[CampaignFacts]
    audiences: list[str]
    countries: list[str]


@dataclass
class _Task:
    task_id: int
    company_id: int
    assignee: int | None
    campaign_id: int | None
    title: str
    due: int
    status: str
    completed: int | None
    created: int


class _Portal:
    """Generates the portal tables in load order; each step reads what the earlier steps decided."""

    def __init__(self, world: WorldFacts) -> None:
        self.seed = int(world.seed)
        self.as_of: date = world.as_of
        self.now = _day_start(self.as_of) + DAY - 1  # the end of the as-of day: nothing happened after it
        self.brands = sorted(world.brands, key=lambda b: b.brand_id)
        self.campaigns = sorted(world.campaigns, key=lambda c: c.campaign_id)
        self.columns: dict[str, dict[str, Any]] = {}
        self._check_world()
        self._companies()
        self._users()
        self._user_roles()
        self._oauth()
        self._subscriptions()
        self._products()
        self._contacts()
        self._sales_objectives()
        self._strategies()
        self._campaigns()
        self._ai_usage()
        self._tasks()
        self._integrations()
        self._consents()

    def rng(self, table: str) -> np.random.Generator:
        """One Generator per table, from (seed, table name): a table's rows do not depend on another's draws."""
        return np.random.default_rng([self.seed, zlib.crc32(table.encode("utf-8"))])

    def put(self, table: str, columns: dict[str, Any]) -> None:
        self.columns[table] = columns

    def tables(self) -> list[TableData]:
        return [_table_data(name, self.columns[name]) for name in PORTAL_TABLES]

    def _check_world(self) -> None:
        ids = [b.brand_id for b in self.brands]
        names = [b.brand_name for b in self.brands]
        if len(set(ids)) != len(ids) or len(set(names)) != len(names):
            raise ValueError("world.brands: brand ids and brand names must be unique (PromptAds requires it)")
        if HOUSE_BRAND in names:
            raise ValueError(f"world.brands: {HOUSE_BRAND!r} is the firm's own company and cannot be a client brand")
        known = set(ids)
        orphans = sorted({c.brand_id for c in self.campaigns} - known)
        if orphans:
            raise ValueError(f"world.campaigns: campaigns of unknown brand ids {orphans[:5]}")
        if len({c.campaign_id for c in self.campaigns}) != len(self.campaigns):
            raise ValueError("world.campaigns: campaign ids must be unique")

    # ------------------------------------------------------------------ identity

    def _companies(self) -> None:
        rng = self.rng("portal.companies")
        by_brand: dict[int, list[CampaignFacts]] = defaultdict(list)
        for c in self.campaigns:
            by_brand[c.brand_id].append(c)
        self.companies: list[_Company] = []
        draws = rng.random((len(self.brands) + 1, 4))
        domains: set[str] = {HOUSE_DOMAIN}
        for i, brand in enumerate(self.brands):
            campaigns = by_brand.get(brand.brand_id, [])
            first = min((c.starts_on for c in campaigns), default=self.as_of - timedelta(days=60))
            # Clients sign up one to six months before their first campaign starts.
            created = _day_start(first) - int(30 + 150 * draws[i, 0]) * DAY + int(8 * HOUR + 9 * HOUR * draws[i, 1])
            domain = f"{_slug(brand.brand_name)}.example"
            while domain in domains:
                domain = f"{_slug(brand.brand_name)}-{len(domains)}.example"
            domains.add(domain)
            self.companies.append(
                _Company(
                    company_id=brand.brand_id,
                    brand_name=brand.brand_name,
                    legal_name=_fit(brand.advertiser_name or brand.brand_name, 200),
                    industry=brand.industry,
                    country=brand.country_code.upper(),
                    domain=domain,
                    locale=LOCALES.get(brand.country_code.upper(), "en-US"),
                    created=min(created, self.now - 30 * DAY),
                    campaigns=campaigns,
                    brand=brand,
                )
            )
        house_created = min((c.created for c in self.companies), default=self.now - 400 * DAY) - 180 * DAY
        self.house = _Company(
            company_id=max((b.brand_id for b in self.brands), default=0) + 1,
            brand_name=HOUSE_BRAND,
            legal_name=HOUSE_LEGAL_NAME,
            industry="Marketing services",
            country="US",
            domain=HOUSE_DOMAIN,
            locale="en-US",
            created=house_created - house_created % DAY + 9 * HOUR,
            campaigns=[],
            is_house=True,
        )
        self.companies.append(self.house)
        self.clients = self.companies[:-1]
        self.company_by_id = {c.company_id: c for c in self.companies}
        active_after = _day_start(self.as_of) - 365 * DAY
        rows = []
        for i, company in enumerate(self.companies):
            recent = any(_day_start(x.ends_on) >= active_after for x in company.campaigns)
            active = company.is_house or recent or bool(draws[i, 2] < 0.5)
            rows.append((company, active, company.created + int((self.now - company.created) * draws[i, 3])))
        self.put(
            "portal.companies",
            {
                "company_id": np.array([c.company_id for c, _, _ in rows], dtype=np.int64),
                "legal_name": [c.legal_name for c, _, _ in rows],
                "brand_name": [_fit(c.brand_name, 120) for c, _, _ in rows],
                "industry": [_fit(c.industry, 80) for c, _, _ in rows],
                "country_code": [c.country for c, _, _ in rows],
                "website": [f"https://www.{c.domain}" for c, _, _ in rows],
                "is_active": np.array([a for _, a, _ in rows], dtype=bool),
                "created_at": [_utc(c.created) for c, _, _ in rows],
                "updated_at": [_utc(u) for _, _, u in rows],
            },
        )

    def _users(self) -> None:
        rng = self.rng("portal.users")
        pools = _name_pools()
        emails: set[str] = set()
        users: list[_User] = []

        def new_user(company: _Company, status: str, created: int, roles: list[str]) -> _User:
            firsts, lasts = pools[FAKER_LOCALES[company.locale]]
            first = firsts[int(rng.integers(len(firsts)))]
            last = lasts[int(rng.integers(len(lasts)))]
            base = f"{_mailbox(first)}.{_mailbox(last)}"
            email, n = f"{base}@{company.domain}", 1
            while email in emails:  # citext unique: compare lower-case, which every generated address is
                n += 1
                email = f"{base}{n}@{company.domain}"
            emails.add(email)
            created = min(created, self.now - HOUR)
            last_login = None
            if status == "active":
                window = max(HOUR, min(self.now - created, 45 * DAY))
                last_login = self.now - int(rng.random() * window)
            elif status == "suspended":
                last_login = created + int((self.now - created) * (0.2 + 0.5 * rng.random()))
            user = _User(
                len(users) + 1, company.company_id, email, f"{first} {last}", status, created, last_login, roles
            )
            users.append(user)
            company.users.append(user)
            return user

        # The firm's staff first: they onboard every client (user ids 1..n are the firm's).
        n_clients = len(self.clients)
        staff_plan = ["admin", "admin"] + ["sales_rep"] * max(2, math.ceil(n_clients / 8))
        staff_plan += ["marketer"] * max(2, math.ceil(n_clients / 12))
        for k, role in enumerate(staff_plan):
            extra = ["viewer"] if role == "sales_rep" and k % 3 == 0 else []
            new_user(self.house, "active", self.house.created + k * 7 * DAY, [role, *extra])
        reps = [u.user_id for u in self.house.users if "sales_rep" in u.roles]
        for i, company in enumerate(self.clients):
            company.account_rep = reps[i % len(reps)]
            admin_created = company.created + int(rng.integers(0, 2 * DAY))
            new_user(company, "active", admin_created, ["admin", "marketer"])
            extra_users = 1 + min(6, math.ceil(len(company.campaigns) / 4)) + int(rng.integers(0, 3))
            for _ in range(extra_users):
                status = str(rng.choice(["active", "invited", "suspended"], p=[0.82, 0.1, 0.08]))
                roles = [str(rng.choice(["marketer", "sales_rep", "viewer"], p=[0.45, 0.35, 0.2]))]
                if roles[0] != "viewer" and rng.random() < 0.15:
                    roles.append("viewer")
                created = company.created + int(rng.random() * max(DAY, self.now - company.created))
                new_user(company, status, created, roles)
        self.users = users
        self.user_by_id = {u.user_id: u for u in users}
        updated = [u.last_login if u.status == "suspended" and u.last_login else u.created for u in users]
        self.put(
            "portal.users",
            {
                "user_id": np.array([u.user_id for u in users], dtype=np.int64),
                "company_id": np.array([u.company_id for u in users], dtype=np.int64),
                "email": [u.email for u in users],
                "full_name": [_fit(u.full_name, 160) for u in users],
                "locale": [self.company_by_id[u.company_id].locale for u in users],
                "status": [u.status for u in users],
                "last_login_at": [_utc(u.last_login) for u in users],
                "created_at": [_utc(u.created) for u in users],
                "updated_at": [_utc(max(u.created, x)) for u, x in zip(users, updated, strict=True)],
            },
        )

    def _user_roles(self) -> None:
        rng = self.rng("portal.user_roles")
        first_admin = self.house.users[0].user_id
        rows: list[tuple[int, str, int, int | None]] = []
        for company in self.companies:
            admin = company.users[0]
            for user in company.users:
                if user is admin:
                    # The firm's first admin bootstrapped the portal; a client's admin was onboarded by the firm.
                    granted_by = None if user.user_id == first_admin else (company.account_rep or first_admin)
                else:
                    granted_by = admin.user_id
                for role in user.roles:
                    rows.append((user.user_id, role, user.created + int(rng.integers(60, 3_600)), granted_by))
        self.put(
            "portal.user_roles",
            {
                "user_id": np.array([r[0] for r in rows], dtype=np.int64),
                "role_code": [r[1] for r in rows],
                "granted_at": [_utc(min(r[2], self.now)) for r in rows],
                "granted_by": [r[3] for r in rows],
            },
        )

    def _oauth(self) -> None:
        rng = self.rng("portal.oauth_identities")
        token_rng = self.rng("portal.oauth_tokens")
        subjects: set[tuple[str, str]] = set()
        identities: list[tuple[int, int, str, str, str | None, int]] = []
        corporate = {c.company_id: ("google" if rng.random() < 0.5 else "microsoft") for c in self.companies}

        def subject_for(provider: str) -> str:
            while True:
                if provider == "google":  # Google's `sub`: a decimal number of 21 digits
                    value = "1" + "".join(str(d) for d in rng.integers(0, 10, 20))
                elif provider == "microsoft":  # Entra ID object id: a GUID
                    raw = rng.bytes(16).hex()
                    value = f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:]}"
                else:  # LinkedIn member id: ten URL-safe characters
                    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                    value = "".join(alphabet[k] for k in rng.integers(0, len(alphabet), 10))
                if (provider, value) not in subjects:
                    subjects.add((provider, value))
                    return value

        for user in self.users:
            if user.last_login is None:
                continue  # invited: never signed in, so no identity is linked yet
            first_login = user.created + int((user.last_login - user.created) * 0.1 * rng.random())
            provider = corporate[user.company_id]
            identities.append(
                (len(identities) + 1, user.user_id, provider, subject_for(provider), user.email, first_login)
            )
            if rng.random() < 0.3:
                linked = first_login + int((user.last_login - first_login) * rng.random())
                email = user.email if rng.random() < 0.5 else None
                identities.append(
                    (len(identities) + 1, user.user_id, "linkedin", subject_for("linkedin"), email, linked)
                )
        self.put(
            "portal.oauth_identities",
            {
                "identity_id": np.array([i[0] for i in identities], dtype=np.int64),
                "user_id": np.array([i[1] for i in identities], dtype=np.int64),
                "provider": [i[2] for i in identities],
                "subject": [i[3] for i in identities],
                "email_at_provider": [i[4] for i in identities],
                "linked_at": [_utc(i[5]) for i in identities],
            },
        )

        # Tokens: only the SHA-256 of random bytes is stored, exactly what the portal keeps of a real token.
        tokens: list[tuple[int, str, bytes, list[str], int, int, int | None]] = []
        for identity_id, user_id, provider, _, _, linked in identities:
            user = self.user_by_id[user_id]
            last = max(linked, user.last_login or linked)
            writes = bool({"admin", "marketer", "sales_rep"} & set(user.roles))
            scopes = [*IDENTITY_SCOPES[provider], "portal:read", *(["portal:write"] if writes else [])]
            suspended_at = last + int(token_rng.integers(HOUR, 10 * DAY)) if user.status == "suspended" else None
            refresh_issued = max(linked, last - int(token_rng.integers(0, 30)) * DAY)
            if token_rng.random() < 0.35 and refresh_issued - linked > 2 * DAY:
                # A rotated refresh token: the old one was revoked when the new one was issued.
                old = linked + int((refresh_issued - linked) * token_rng.random() * 0.5)
                tokens.append(
                    (identity_id, "refresh", _token_hash(token_rng), scopes, old, old + 90 * DAY, refresh_issued)
                )
            revoked = suspended_at if suspended_at is not None else None
            tokens.append(
                (
                    identity_id,
                    "refresh",
                    _token_hash(token_rng),
                    scopes,
                    refresh_issued,
                    refresh_issued + 90 * DAY,
                    revoked,
                )
            )
            for k in range(int(token_rng.integers(1, 4))):
                issued = max(refresh_issued, last - k * int(token_rng.integers(HOUR, 3 * DAY)))
                tokens.append((identity_id, "access", _token_hash(token_rng), scopes, issued, issued + HOUR, revoked))
        tokens.sort(key=lambda t: (t[4], t[0]))
        self.put(
            "portal.oauth_tokens",
            {
                "token_id": np.arange(1, len(tokens) + 1, dtype=np.int64),
                "identity_id": np.array([t[0] for t in tokens], dtype=np.int64),
                "token_kind": [t[1] for t in tokens],
                "token_sha256": [t[2] for t in tokens],
                "scopes": [list(t[3]) for t in tokens],
                "issued_at": [_utc(t[4]) for t in tokens],
                "expires_at": [_utc(t[5]) for t in tokens],
                "revoked_at": [_utc(None if t[6] is None else min(t[6], self.now)) for t in tokens],
            },
        )

    # ------------------------------------------------------------------ commercial

    def _subscriptions(self) -> None:
        rng = self.rng("portal.subscriptions")
        rows: list[tuple[int, str, date, date | None, int, str, int]] = []

        def add(company: _Company, tier: str, start: date, end: date | None, status: str) -> None:
            seats = max(1, min(TIERS[tier][2], len(company.users) + int(rng.integers(0, 5))))
            created = min(self.now, max(company.created + 600, _day_start(start) + 10 * HOUR))
            rows.append((company.company_id, tier, start, end, seats, status, created))

        for company in self.clients:
            peak = _peak_concurrency(company.campaigns)
            wants = {"ads": True, "crm": rng.random() < 0.75, "content": rng.random() < 0.65}
            last_end = max((c.ends_on for c in company.campaigns), default=_date(company.created))
            lapsed = _day_start(last_end) < self.now - 365 * DAY  # no campaign for a year: the plan was cancelled
            for sub_company in SUB_COMPANIES:
                if not wants[sub_company]:
                    continue
                small, large = (t for t, (s, _, _) in TIERS.items() if s == sub_company)
                # The smaller plan caps concurrently active campaigns: a brand that ran more needs the larger one.
                big = peak > TIERS[small][1] or len(company.campaigns) >= 18 or rng.random() < 0.15
                tier = large if big else small
                start = _date(company.created) + timedelta(days=int(rng.integers(0, 3)))
                if big and not lapsed and len(company.campaigns) >= 6 and rng.random() < 0.5:
                    upgrade = start + timedelta(days=int(rng.integers(60, 240)))
                    if upgrade < self.as_of:  # started on the smaller plan, upgraded when the load grew
                        add(company, small, start, upgrade - timedelta(days=1), "cancelled")
                        start = upgrade
                status, end = "active", None
                if lapsed:
                    status, end = "cancelled", min(last_end + timedelta(days=30), self.as_of)
                elif (self.as_of - start).days < 30:
                    status = "trial"
                elif rng.random() < 0.05:
                    status = "past_due"
                company.tiers[sub_company] = tier
                add(company, tier, start, end, status)
        updated = [min(self.now, max(r[6], _day_start(r[3]) + 10 * HOUR)) if r[3] else r[6] for r in rows]
        self.put(
            "portal.subscriptions",
            {
                "subscription_id": np.arange(1, len(rows) + 1, dtype=np.int64),
                "company_id": np.array([r[0] for r in rows], dtype=np.int64),
                "tier_code": [r[1] for r in rows],
                "starts_on": [r[2] for r in rows],
                "ends_on": [r[3] for r in rows],
                "seats": np.array([r[4] for r in rows], dtype=np.int64),
                "status": [r[5] for r in rows],
                "created_at": [_utc(r[6]) for r in rows],
                "updated_at": [_utc(u) for u in updated],
            },
        )

    def _products(self) -> None:
        from generators.data.content import MODEL_SUFFIXES, PRODUCT_MODELS, category_for

        rng = self.rng("portal.products")
        rows: list[tuple[int, int, str, str, str, float, bool]] = []
        for company in self.clients:
            category = category_for(company.industry)
            label = company.industry if category.label == "product" else category.label
            types = list(category.product_types) or ["product"]
            sold, ticket = _sold_products(self.seed, company.brand)
            low, high = PRICE_RANGES.get(category.label, DEFAULT_PRICE_RANGE)
            if ticket is not None:  # the rest of the range sits around the brand's own unit price
                low, high = 0.5 * ticket, 2.0 * ticket
            names = list(dict.fromkeys(sold))
            wanted = max(len(names) + 1, 3 + int(rng.integers(0, 5)))
            while len(names) < wanted:
                model = PRODUCT_MODELS[int(rng.integers(len(PRODUCT_MODELS)))]
                model += MODEL_SUFFIXES[int(rng.integers(len(MODEL_SUFFIXES)))]
                name = f"{model} {types[int(rng.integers(len(types)))]}"
                if name not in names:
                    names.append(name)
            prefix = (re.sub(r"[^A-Z]", "", _slug(company.brand_name).upper()) or "SKU")[:4]
            for k, name in enumerate(names):
                if name in sold and ticket is not None:
                    price = round(ticket, 2)  # what the campaigns sell it for (the CRM's sales use this price)
                else:
                    price = low + (high - low) * float(rng.random()) ** 2  # most products sit at the lower end
                    price = 0.0 if price < 1 else math.floor(price) + 0.99
                product_id = len(rows) + 1
                company.products.append(product_id)
                active = name in sold or rng.random() < 0.9
                rows.append((product_id, company.company_id, f"{prefix}-{k + 1:04d}", name, label, price, active))
        self.put(
            "portal.products",
            {
                "product_id": np.array([r[0] for r in rows], dtype=np.int64),
                "company_id": np.array([r[1] for r in rows], dtype=np.int64),
                "sku": [r[2] for r in rows],
                "name": [_fit(r[3], 160) for r in rows],
                "category": [_fit(r[4], 80) for r in rows],
                "list_price_usd": np.array([r[5] for r in rows], dtype=np.float64),
                "is_active": np.array([r[6] for r in rows], dtype=bool),
            },
        )

    def _contacts(self) -> None:
        rng = self.rng("portal.contacts")
        pools = _name_pools()
        reps = [u.user_id for u in self.house.users if "sales_rep" in u.roles]
        rows: list[tuple[int, int, str, str | None, str | None, str, int | None, int, int]] = []
        for company in self.clients:
            firsts, lasts = pools[FAKER_LOCALES[company.locale]]
            n = min(80, 5 + 3 * len(company.campaigns)) + int(rng.integers(0, 5))
            picks = rng.integers(0, [len(firsts), len(lasts), len(JOB_TITLES), 100, 10_000], size=(n, 5))
            u = rng.random((n, 5))
            seen: set[str] = set()
            for k in range(n):
                first, last = firsts[picks[k, 0]], lasts[picks[k, 1]]
                email = None
                if u[k, 0] < 0.85:
                    email = f"{_mailbox(first)}.{_mailbox(last)}@{company.domain}"
                    if email in seen:
                        email = f"{_mailbox(first)}.{_mailbox(last)}{k}@{company.domain}"
                    seen.add(email)
                phone = _phone(company.country, int(picks[k, 3]), int(picks[k, 4])) if u[k, 1] < 0.7 else None
                owner: int | None = company.account_rep
                if u[k, 2] < 0.05:
                    owner = None
                elif u[k, 2] < 0.2:
                    owner = reps[int(picks[k, 4]) % len(reps)]
                created = company.created + int((self.now - company.created) * u[k, 3] ** 2)
                updated = created + int((self.now - created) * u[k, 4])
                rows.append((len(rows) + 1, company.company_id, f"{first} {last}", email, phone,
                             JOB_TITLES[picks[k, 2]], owner, created, updated))  # fmt: skip
        self.contacts = [(r[0], r[7]) for r in rows]
        self.put(
            "portal.contacts",
            {
                "contact_id": np.array([r[0] for r in rows], dtype=np.int64),
                "company_id": np.array([r[1] for r in rows], dtype=np.int64),
                "full_name": [_fit(r[2], 160) for r in rows],
                "email": [r[3] for r in rows],
                "phone": [r[4] for r in rows],
                "job_title": [r[5] for r in rows],
                "owner_user_id": [r[6] for r in rows],
                "created_at": [_utc(r[7]) for r in rows],
                "updated_at": [_utc(r[8]) for r in rows],
            },
        )

    def _sales_objectives(self) -> None:
        rng = self.rng("portal.sales_objectives")
        rows: list[tuple[int, int | None, date, date, float, int | None, int | None]] = []
        for company in self.clients:
            if not company.campaigns:
                continue
            planners = company.with_role("admin", "sales_rep") or company.users[:1]
            quarter = _quarter_start(min(c.starts_on for c in company.campaigns))
            last = _quarter_start(max(min(c.ends_on, self.as_of) for c in company.campaigns))
            while quarter <= last:
                end = _next_quarter(quarter) - timedelta(days=1)
                revenue, units = _prorated(company.campaigns, quarter, end)
                if revenue > 0:
                    # Targets are set a little above or below what the quarter's campaigns ended up selling.
                    factor = 0.85 + 0.4 * float(rng.random())
                    target = max(1_000.0, round(revenue * factor / 100, -2))
                    target_units = max(1, round(units * factor)) if units else None
                    owner = planners[int(rng.integers(len(planners)))].user_id
                    rows.append((company.company_id, None, quarter, end, target, target_units, owner))
                    if company.products and rng.random() < 0.35:
                        product = company.products[int(rng.integers(len(company.products)))]
                        share = 0.3 + 0.2 * float(rng.random())
                        units_share = max(1, round(target_units * share)) if target_units else None
                        rows.append(
                            (company.company_id, product, quarter, end, round(target * share, 2), units_share, owner)
                        )
                quarter = _next_quarter(quarter)
        self.put(
            "portal.sales_objectives",
            {
                "objective_id": np.arange(1, len(rows) + 1, dtype=np.int64),
                "company_id": np.array([r[0] for r in rows], dtype=np.int64),
                "product_id": [r[1] for r in rows],
                "period_start": [r[2] for r in rows],
                "period_end": [r[3] for r in rows],
                "target_amount_usd": np.array([r[4] for r in rows], dtype=np.float64),
                "target_units": [r[5] for r in rows],
                "created_by": [r[6] for r in rows],
            },
        )

    # ------------------------------------------------------------------ strategies and campaigns

    def _strategies(self) -> None:
        rng = self.rng("portal.strategies")
        self.strategies: list[_Strategy] = []
        self.strategy_of: dict[int, _Strategy] = {}
        for company in self.clients:
            owners = company.with_role("marketer") or company.users[:1]
            groups: dict[tuple[int, int, str], list[CampaignFacts]] = defaultdict(list)
            for c in company.campaigns:
                groups[(c.starts_on.year, 1 if c.starts_on.month <= 6 else 2, c.objective)].append(c)
            for (year, half, objective), campaigns in sorted(groups.items()):
                starts_on = min(c.starts_on for c in campaigns)
                created = _day_start(starts_on) - int(rng.integers(7, 29)) * DAY + int(rng.integers(9, 18)) * HOUR
                strategy = _Strategy(
                    strategy_id=len(self.strategies) + 1,
                    company=company,
                    name=_fit(f"{company.brand_name} {objective} plan, H{half} {year}", 200),
                    objective=objective,
                    status="running" if any(c.status == "active" for c in campaigns) else "closed",
                    starts_on=starts_on,
                    ends_on=max(c.ends_on for c in campaigns),
                    owner=owners[int(rng.integers(len(owners)))].user_id,
                    created=min(max(created, company.created + HOUR), self.now),
                    campaigns=campaigns,
                    audiences=sorted({a for c in campaigns for a in c.audiences}),
                    countries=sorted({_country(m) for c in campaigns for m in c.markets} or {company.country}),
                )
                self.strategies.append(strategy)
                for c in campaigns:
                    self.strategy_of[c.campaign_id] = strategy
            if any(c.status == "active" for c in company.campaigns) and rng.random() < 0.3:
                # The next plan, approved or still a draft: it starts after the as-of date and has no campaign yet.
                latest = max(company.campaigns, key=lambda c: (c.starts_on, c.campaign_id))
                starts_on = self.as_of + timedelta(days=int(rng.integers(14, 61)))
                objective = latest.objective
                self.strategies.append(
                    _Strategy(
                        strategy_id=len(self.strategies) + 1,
                        company=company,
                        name=_fit(f"{company.brand_name} {objective} plan, next quarter", 200),
                        objective=objective,
                        status="approved" if rng.random() < 0.6 else "draft",
                        starts_on=starts_on,
                        ends_on=starts_on + timedelta(days=int(rng.integers(45, 121))),
                        owner=owners[int(rng.integers(len(owners)))].user_id,
                        created=self.now - int(rng.integers(1, 21)) * DAY,
                        campaigns=[],
                        audiences=sorted(latest.audiences),
                        countries=sorted({_country(m) for m in latest.markets} or {company.country}),
                    )
                )
        s = self.strategies
        updated = []
        for x in s:
            # A closed strategy was last touched when it was closed, shortly after its last campaign ended.
            closed = _day_start(x.ends_on) + int(rng.integers(1, 15)) * DAY + int(rng.integers(9, 18)) * HOUR
            touched = closed if x.status == "closed" else x.created + int((self.now - x.created) * float(rng.random()))
            updated.append(min(self.now, max(x.created, touched)))
        self.put(
            "portal.strategies",
            {
                "strategy_id": np.array([x.strategy_id for x in s], dtype=np.int64),
                "company_id": np.array([x.company.company_id for x in s], dtype=np.int64),
                "name": [x.name for x in s],
                "objective": [x.objective for x in s],
                "status": [x.status for x in s],
                "starts_on": [x.starts_on for x in s],
                "ends_on": [x.ends_on for x in s],
                "owner_user_id": [x.owner for x in s],
                "created_at": [_utc(x.created) for x in s],
                "updated_at": [_utc(u) for u in updated],
            },
        )
        self.put(
            "portal.strategy_audiences",
            {
                "strategy_id": np.array([x.strategy_id for x in s for _ in x.audiences], dtype=np.int64),
                "audience_code": [_fit(a, 40) for x in s for a in x.audiences],
                "description": [_audience_description(a) for x in s for a in x.audiences],
            },
        )
        self.put(
            "portal.strategy_countries",
            {
                "strategy_id": np.array([x.strategy_id for x in s for _ in x.countries], dtype=np.int64),
                "country_code": [cc for x in s for cc in x.countries],
            },
        )
        prng = self.rng("portal.strategy_products")
        pairs = []
        for x in s:
            products = x.company.products
            if not products:
                continue
            count = min(len(products), 1 + int(prng.integers(0, 2)))
            for k in sorted(prng.choice(len(products), size=count, replace=False)):
                pairs.append((x.strategy_id, products[int(k)]))
        self.put(
            "portal.strategy_products",
            {
                "strategy_id": np.array([p[0] for p in pairs], dtype=np.int64),
                "product_id": np.array([p[1] for p in pairs], dtype=np.int64),
            },
        )
        brng = self.rng("portal.budgets")
        budgets: list[tuple[int, str, date, date, float, int]] = []
        for x in s:
            if x.campaigns:
                ads = round(sum(c.budget_usd for c in x.campaigns), 2)
            else:
                typical = float(np.median([c.budget_usd for c in x.company.campaigns]))
                ads = round(typical * (1 + 2 * float(brng.random())), 2)
            # PromptAds gets the campaigns' budgets; content and CRM a share on top, when subscribed.
            shares = {
                "ads": 1.0,
                "content": 0.08 + 0.07 * float(brng.random()),
                "crm": 0.05 + 0.05 * float(brng.random()),
            }
            for sub_company in SUB_COMPANIES:
                if sub_company != "ads" and sub_company not in x.company.tiers:
                    continue
                updated_at = min(self.now, x.created + int(brng.integers(0, 3 * DAY)))
                budgets.append(
                    (
                        x.strategy_id,
                        sub_company,
                        x.starts_on,
                        x.ends_on,
                        round(ads * shares[sub_company], 2),
                        updated_at,
                    )
                )
        self.put(
            "portal.budgets",
            {
                "budget_id": np.arange(1, len(budgets) + 1, dtype=np.int64),
                "strategy_id": np.array([b[0] for b in budgets], dtype=np.int64),
                "sub_company_code": [b[1] for b in budgets],
                "period_start": [b[2] for b in budgets],
                "period_end": [b[3] for b in budgets],
                "allocated_usd": np.array([b[4] for b in budgets], dtype=np.float64),
                "updated_at": [_utc(b[5]) for b in budgets],
            },
        )

    def _campaigns(self) -> None:
        rng = self.rng("portal.campaigns")
        self.campaign_created: dict[int, int] = {}
        self.campaign_creator: dict[int, int | None] = {}
        for c in self.campaigns:
            strategy = self.strategy_of[c.campaign_id]
            start = _day_start(c.starts_on)
            latest = max(strategy.created, min(start - DAY, self.now))
            created = strategy.created + int((latest - strategy.created) * float(rng.random()))
            makers = strategy.company.with_role("marketer") or strategy.company.users[:1]
            self.campaign_created[c.campaign_id] = min(created, self.now)
            self.campaign_creator[c.campaign_id] = (
                strategy.owner if rng.random() < 0.6 else makers[int(rng.integers(len(makers)))].user_id
            )
        cs = self.campaigns
        self.put(
            "portal.campaigns",
            {
                "campaign_id": np.array([c.campaign_id for c in cs], dtype=np.int64),
                "strategy_id": [self.strategy_of[c.campaign_id].strategy_id for c in cs],
                "company_id": np.array([c.brand_id for c in cs], dtype=np.int64),
                "name": [_fit(c.campaign_name, 200) for c in cs],
                "created_by": [self.campaign_creator[c.campaign_id] for c in cs],
                "created_at": [_utc(self.campaign_created[c.campaign_id]) for c in cs],
            },
        )

    # ------------------------------------------------------------------ AI usage and approvals

    def _ai_usage(self) -> None:
        rng = self.rng("ai.usage_log")
        arng = self.rng("portal.ai_approvals")
        usage: list[tuple[int, int, int | None, str, str, str, str, str, str, int, str, str | None, str | None]] = []
        approvals: list[tuple[int, int, int | None, str, str | None, int]] = []
        self.pending_usage: list[tuple[int, int, int, int]] = []  # usage_id, company_id, user_id, occurred
        for c in self.campaigns:
            company = self.company_by_id[c.brand_id]
            askers = company.with_role("marketer") or company.users[:1]
            reviewers = company.with_role("admin", "marketer") or company.users[:1]
            created = self.campaign_created[c.campaign_id]
            launch = max(created + HOUR, _day_start(c.starts_on) + 7 * DAY)
            for _ in range(2 + int(rng.integers(0, 4))):
                tool, provider, model_name, (lo, hi), kind = AI_TOOLS[int(rng.integers(len(AI_TOOLS)))]
                asker = askers[int(rng.integers(len(askers)))]
                occurred = min(self.now - 60, created + int((launch - created) * float(rng.random())))
                prompt, result = _ai_texts(kind, c, company.brand_name, rng)
                usage_id = len(usage) + 1
                latency = int(rng.integers(lo, hi))
                decided = occurred + int(rng.integers(300, 2 * DAY))
                status, method, correction = "pending", None, None
                if decided <= self.now and rng.random() < 0.9:
                    reviewer = reviewers[int(arng.integers(len(reviewers)))].user_id
                    decision = str(arng.choice(["approved", "corrected", "rejected"], p=[0.7, 0.2, 0.1]))
                    comment: str | None = None
                    if decision == "corrected":
                        template = CORRECTIONS[int(arng.integers(len(CORRECTIONS)))]
                        comment = template.format(channel=(c.channels or ("email",))[0], brand=company.brand_name)
                    elif decision == "rejected":
                        comment = REJECTIONS[int(arng.integers(len(REJECTIONS)))]
                    elif arng.random() < 0.3:
                        comment = "Looks good"
                    approvals.append((len(approvals) + 1, usage_id, reviewer, decision, comment, decided))
                    # What trg_ai_approvals_sync_usage writes when the approval is inserted: the seed already holds
                    # it, so the trigger's UPDATE changes no value and the usage log reads as the portal left it.
                    status, method = decision, f"human review by user {reviewer}"
                    correction = comment if decision == "corrected" else None
                else:
                    self.pending_usage.append((usage_id, company.company_id, asker.user_id, occurred))
                usage.append((usage_id, occurred, asker.user_id, asker.email, tool, provider, model_name,
                              prompt, result, latency, status, method, correction))  # fmt: skip
        self.put(
            "ai.usage_log",
            {
                "usage_id": np.array([u[0] for u in usage], dtype=np.int64),
                "occurred_at": [_utc(u[1]) for u in usage],
                "user_id": [u[2] for u in usage],
                "actor": [_fit(u[3], 120) for u in usage],
                "tool": [u[4] for u in usage],
                "provider": [u[5] for u in usage],
                "model_name": [u[6] for u in usage],
                "prompt": [u[7] for u in usage],
                "result": [u[8] for u in usage],
                "latency_ms": np.array([u[9] for u in usage], dtype=np.int64),
                "validation_status": [u[10] for u in usage],
                "validation_method": [u[11] for u in usage],
                "correction": [u[12] for u in usage],
            },
        )
        self.put(
            "portal.ai_approvals",
            {
                "approval_id": np.array([a[0] for a in approvals], dtype=np.int64),
                "usage_id": np.array([a[1] for a in approvals], dtype=np.int64),
                "reviewer_user_id": [a[2] for a in approvals],
                "decision": [a[3] for a in approvals],
                "comment": [a[4] for a in approvals],
                "decided_at": [_utc(a[5]) for a in approvals],
            },
        )

    # ------------------------------------------------------------------ calendar

    def _tasks(self) -> None:
        rng = self.rng("portal.tasks")
        tasks: list[_Task] = []

        def add(company: _Company, campaign_id: int | None, title: str, due_day: date, created: int) -> None:
            due = _day_start(due_day) + int(rng.integers(9 * 4, 17 * 4)) * 900  # working hours, quarter-hours
            helpers = company.with_role("marketer", "sales_rep") or company.users[:1]
            draw = float(rng.random())
            if draw < 0.03:
                assignee = None
            elif draw < 0.25 and company.account_rep:
                assignee = company.account_rep
            else:
                assignee = helpers[int(rng.integers(len(helpers)))].user_id
            created = min(created, due - 2 * DAY, self.now)
            status, completed = "open", None
            if due <= self.now:
                outcome = float(rng.random())
                if outcome < 0.85:
                    status = "done"
                    completed = min(self.now, max(created + HOUR, due + int(rng.integers(-2 * DAY, DAY))))
                elif outcome < 0.9:
                    status = "cancelled"
            tasks.append(_Task(len(tasks) + 1, company.company_id, assignee, campaign_id, _fit(title, 200), due,
                               status, completed, created))  # fmt: skip

        for c in self.campaigns:
            company = self.company_by_id[c.brand_id]
            created = self.campaign_created[c.campaign_id]
            middle = c.starts_on + (c.ends_on - c.starts_on) / 2
            add(
                company,
                c.campaign_id,
                f"Approve the creative brief for {c.campaign_name}",
                c.starts_on - timedelta(21),
                created,
            )
            add(
                company,
                c.campaign_id,
                f"Review the AI-generated content for {c.campaign_name}",
                c.starts_on - timedelta(10),
                created,
            )
            add(company, c.campaign_id, f"Launch {c.campaign_name}", c.starts_on, created)
            add(company, c.campaign_id, f"Mid-campaign performance review: {c.campaign_name}", middle, created)
            add(company, c.campaign_id, f"Wrap-up report for {c.campaign_name}", c.ends_on + timedelta(7), created)
        for company in self.clients:
            if not company.campaigns:
                continue
            quarter = _next_quarter(_quarter_start(_date(company.created)))
            while quarter <= _next_quarter(self.as_of):
                review_day = quarter + timedelta(days=int(rng.integers(5, 25)))
                add(company, None, f"Quarterly business review with {company.brand_name}", review_day,
                    _day_start(review_day) - 30 * DAY)  # fmt: skip
                quarter = _next_quarter(quarter)
        self.tasks = tasks
        updated = [t.completed if t.completed else t.created for t in tasks]
        self.put(
            "portal.tasks",
            {
                "task_id": np.array([t.task_id for t in tasks], dtype=np.int64),
                "company_id": np.array([t.company_id for t in tasks], dtype=np.int64),
                "assignee_user_id": [t.assignee for t in tasks],
                "campaign_id": [t.campaign_id for t in tasks],
                "title": [t.title for t in tasks],
                "due_at": [_utc(t.due) for t in tasks],
                "status": [t.status for t in tasks],
                "completed_at": [_utc(t.completed) for t in tasks],
                "created_at": [_utc(t.created) for t in tasks],
                "updated_at": [_utc(u) for u in updated],
            },
        )
        self._reminders_and_alerts()

    def _reminders_and_alerts(self) -> None:
        rng = self.rng("portal.task_reminders")
        arng = self.rng("portal.alerts")
        reminders: list[tuple[int, int, int, str, int | None]] = []
        alerts: list[tuple[int, str, str, int | None, int, int | None]] = []
        for t in self.tasks:
            if t.assignee is None:
                continue
            plan = []
            if rng.random() < 0.8:
                plan.append((t.due - DAY, "in_app"))
            if rng.random() < 0.4:
                plan.append((t.due - HOUR, "sms" if rng.random() < 0.1 else "email"))
            for remind, channel in plan:
                remind = max(remind, t.created)
                sent = remind + int(rng.integers(1, 120)) if remind + 120 <= self.now else None
                reminder_id = len(reminders) + 1
                reminders.append((reminder_id, t.task_id, remind, channel, sent))
                # portal.dispatch_due_reminders alerts only for a task still open when the reminder fell due.
                open_then = t.status == "open" or (
                    t.status == "done" and t.completed is not None and t.completed > remind
                )
                if sent is not None and open_then:
                    read = sent + int(arng.integers(60, 2 * DAY)) if arng.random() < 0.75 else None
                    message = f'Task "{t.title}" is due {_utc(t.due):%Y-%m-%d %H:%M}'
                    alerts.append((t.assignee, "reminder", message, reminder_id, sent, read))
        for usage_id, _, user_id, occurred in self.pending_usage:
            created = occurred + 60
            read = created + int(arng.integers(300, DAY)) if arng.random() < 0.3 else None
            alerts.append((user_id, "approval", f"AI output #{usage_id} awaits your review", None, created, read))
        alerts.sort(key=lambda a: (a[4], a[3] or 0, a[0]))
        self.put(
            "portal.task_reminders",
            {
                "reminder_id": np.array([r[0] for r in reminders], dtype=np.int64),
                "task_id": np.array([r[1] for r in reminders], dtype=np.int64),
                "remind_at": [_utc(r[2]) for r in reminders],
                "channel": [r[3] for r in reminders],
                "sent_at": [_utc(r[4]) for r in reminders],
            },
        )
        self.put(
            "portal.alerts",
            {
                "alert_id": np.arange(1, len(alerts) + 1, dtype=np.int64),
                "user_id": np.array([a[0] for a in alerts], dtype=np.int64),
                "kind": [a[1] for a in alerts],
                "message": [a[2] for a in alerts],
                "source_reminder_id": [a[3] for a in alerts],
                "created_at": [_utc(min(a[4], self.now)) for a in alerts],
                "read_at": [_utc(None if a[5] is None else min(a[5], self.now)) for a in alerts],
            },
        )

    # ------------------------------------------------------------------ integrations and consent

    def _integrations(self) -> None:
        rng = self.rng("portal.integrations")
        rows: list[tuple[int, str, str, str, str, int | None, int]] = []
        for company in self.clients:
            providers = sorted(
                {CHANNEL_PROVIDERS[ch] for c in company.campaigns for ch in c.channels if ch in CHANNEL_PROVIDERS}
            )
            if "crm" in company.tiers:
                providers.append("salesforce" if rng.random() < 0.6 else "hubspot")
            if (
                company.industry.lower() in {"apparel", "footwear", "beauty", "retail", "e-commerce"}
                and rng.random() < 0.5
            ):
                providers.append("shopify")
            for provider in sorted(set(providers)):
                draw = float(rng.random())
                status = "enabled" if draw < 0.85 else ("disabled" if draw < 0.93 else "failing")
                connected = company.created + int((self.now - company.created) * 0.3 * float(rng.random()))
                if status == "enabled":
                    last_sync: int | None = self.now - int(rng.integers(0, 3 * HOUR))
                elif status == "failing":
                    last_sync = self.now - int(rng.integers(2 * DAY, 10 * DAY))
                else:
                    last_sync = None if rng.random() < 0.5 else connected + int((self.now - connected) * 0.5)
                updated = max(connected, last_sync or connected)
                # The vault path of the credential, never the credential itself.
                secret_ref = f"vault:kv/promptsales/integrations/company-{company.company_id}/{provider}"
                rows.append(
                    (company.company_id, provider, PROVIDER_AUTH[provider], secret_ref, status, last_sync, updated)
                )
        self.put(
            "portal.integrations",
            {
                "integration_id": np.arange(1, len(rows) + 1, dtype=np.int64),
                "company_id": np.array([r[0] for r in rows], dtype=np.int64),
                "provider": [r[1] for r in rows],
                "auth_method": [r[2] for r in rows],
                "secret_ref": [r[3] for r in rows],
                "status": [r[4] for r in rows],
                "last_sync_at": [_utc(r[5]) for r in rows],
                "updated_at": [_utc(min(r[6], self.now)) for r in rows],
            },
        )

    def _consents(self) -> None:
        rng = self.rng("privacy.consents")
        rows: list[tuple[str, int, str, bool, int, str]] = []
        for user in self.users:
            if user.last_login is None:
                continue  # an invited user has not been asked yet
            rows.append(("user", user.user_id, "analytics", bool(rng.random() < 0.9), user.created + 60, "portal"))
        for contact_id, created in self.contacts:
            granted = bool(rng.random() < 0.75)
            rows.append(("contact", contact_id, "marketing_email", granted, created, "import"))
            if granted and rng.random() < 0.1:
                # A later opt-out: the newest row per subject and purpose is the one that counts.
                withdrawn = created + int((self.now - created) * float(rng.random()))
                rows.append(
                    ("contact", contact_id, "marketing_email", False, max(withdrawn, created + 1), "unsubscribe_link")
                )
        rows.sort(key=lambda r: (r[4], r[0], r[1]))
        self.put(
            "privacy.consents",
            {
                "consent_id": np.arange(1, len(rows) + 1, dtype=np.int64),
                "subject_kind": [r[0] for r in rows],
                "subject_id": np.array([r[1] for r in rows], dtype=np.int64),
                "purpose": [r[2] for r in rows],
                "granted": np.array([r[3] for r in rows], dtype=bool),
                "recorded_at": [_utc(min(r[4], self.now)) for r in rows],
                "source": [r[5] for r in rows],
            },
        )


# --------------------------------------------------------------------------- small pieces


def _sold_products(seed: int, brand: Brand | None) -> tuple[tuple[str, ...], float | None]:
    """The products the world's campaigns sell and the brand's unit price, when the world's layout knows the brand.

    `generators.data.layout.brand_traits(seed, brand)` names them from the seed and the brand alone (campaign names
    such as "Orbit yoga mat Summer Sale 2024" use them); a hand-made world with an industry the layout does not
    know gets plausible products of its industry instead.
    """
    if brand is None:
        return (), None
    try:
        from generators.data.layout import brand_traits
    except ImportError:
        return (), None
    try:
        traits = brand_traits(seed, brand)
    except ValueError:  # an industry outside generators.data.reference.INDUSTRIES
        return (), None
    return tuple(traits.products), float(traits.ticket_usd)


def _token_hash(rng: np.random.Generator) -> bytes:
    """The SHA-256 of 32 random bytes: the shape of a stored token hash, with no token anyone could present."""
    return hashlib.sha256(rng.bytes(32)).digest()


def _phone(country: str, a: int, b: int) -> str:
    if country in {"US", "CA"}:
        return f"+1 212-555-01{a:02d}"  # 555-0100..0199: reserved for fiction in the North American plan
    codes = {"MX": "52", "CO": "57", "CR": "506", "ES": "34", "GB": "44", "BR": "55"}
    return f"+{codes.get(country, '1')} 555 {a:02d} {b:04d}"


def _peak_concurrency(campaigns: Sequence[CampaignFacts]) -> int:
    """The most campaigns of one brand running on the same day (what a plan's max_active_campaigns limits)."""
    events = sorted([(c.starts_on, 1) for c in campaigns] + [(c.ends_on + timedelta(days=1), -1) for c in campaigns])
    peak = running = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def _prorated(campaigns: Sequence[CampaignFacts], start: date, end: date) -> tuple[float, float]:
    """Revenue (cents) and sales of the campaigns that fall inside [start, end], pro rata of their days."""
    revenue = units = 0.0
    for c in campaigns:
        overlap = (min(c.ends_on, end) - max(c.starts_on, start)).days + 1
        if overlap <= 0:
            continue
        share = overlap / ((c.ends_on - c.starts_on).days + 1)
        revenue += c.revenue_cents * share
        units += c.sales_count * share
    return revenue, units


def _audience_description(code: str) -> str:
    from generators.data.content import audience_for

    audience = audience_for(code)
    return f"{audience.label.capitalize()}: {audience.personas[0]}"


def _ai_texts(kind: str, c: CampaignFacts, brand: str, rng: np.random.Generator) -> tuple[str, str]:
    channel = (c.channels or ("email",))[int(rng.integers(max(1, len(c.channels))))] if c.channels else "email"
    audience = (c.audiences or ("general_public",))[0].replace("_", " ")
    market = (c.markets or ("US",))[0]
    if kind == "headlines":
        prompt = (
            f"Write three {channel} headlines for the {brand} campaign {c.campaign_name!r} ({c.objective}),"
            f" for {audience} in {market}."
        )
        result = "\n".join(
            f"{k}. {brand}: {hook}"
            for k, hook in enumerate(
                rng.choice(
                    ["made for your every day", "new season, new pace", "try it first in " + market,
                     "the one everyone is talking about", "yours for less this month", "built to last"],
                    size=3,
                    replace=False,
                ),
                start=1,
            )
        )  # fmt: skip
    elif kind == "audiences":
        markets = ", ".join(c.markets) or market
        prompt = f"Suggest audiences for {c.campaign_name!r} by {brand}, objective {c.objective}, markets {markets}."
        result = "Suggested audiences: " + ", ".join(a.replace("_", " ") for a in (c.audiences or ("general_public",)))
    elif kind == "images":
        prompt = f"Images for {brand} that show {audience} in {market}"
        result = f"{int(rng.integers(4, 13))} images matched; best match for {c.campaign_name}"
    else:
        prompt = (
            f"Campaign {c.campaign_name!r} for {brand}: write the three-message sequence for each target population."
        )
        result = "\n".join(
            f"{a.replace('_', ' ')}: 3 messages ({channel})" for a in (c.audiences or ("general_public",))
        )
    return prompt, result


def _table_data(name: str, columns: dict[str, Any]) -> TableData:
    first = next(iter(columns.values()))
    rows = len(first)
    identity = name not in {
        "portal.user_roles",
        "portal.strategy_audiences",
        "portal.strategy_countries",
        "portal.strategy_products",
        "portal.campaigns",
    }

    def make_batches(batch_rows: int) -> Iterator[Batch]:
        for start in range(0, rows, batch_rows):
            yield {c: v[start : start + batch_rows] for c, v in columns.items()}

    return TableData(
        store=STORE,
        table=name,
        columns=tuple(columns),
        rows=rows,
        make_batches=make_batches,
        explicit_identity=identity,
    )
