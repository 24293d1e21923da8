"""Create PromptAds campaigns from Python: ads.ADSSP_CreateCampaign called with real table-valued parameters.

pymssql cannot send table-valued parameters (TVPs); python-tds (`pytds`, pure Python) can, so this client uses it.
The server comes from an `mssql://user:password@host:1433/PromptAds` URL, by default the one in
`PROMPTSALES_ADS_URL` (the same URI as Airflow's `promptads_mssql` connection).

    from generators import ads_client
    from generators.ads_client import ChannelShare, NewAd, NewCampaign

    with ads_client.connect() as conn:
        campaign_id = ads_client.create_campaign(conn, NewCampaign(
            brand_id=7, campaign_name="Spring launch", objective="awareness",
            starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 31), budget_usd=Decimal("25000.00"),
            channels=[ChannelShare("facebook", Decimal("0.6")), ChannelShare("instagram", Decimal("0.4"))],
            markets=["US-NY", "CR-SJ"],
            ads=[NewAd(1, "instagram", "Spring is here", "image")],
        ))

The procedure owns the business rules (brand exists, period, budget, shares adding up to 1, known codes, unique
name) and logs every rejection to ops.log; this client checks only what the wire format needs (NULLs, lengths,
decimal places), so a rule lives in one place and every rejection is logged where operators look.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytds
from pytds.tds_base import Param
from pytds.tds_types import DecimalType, NVarCharType, sql_type_by_declaration

log = logging.getLogger(__name__)

ENV_VAR = "PROMPTSALES_ADS_URL"
EXAMPLE_URL = "mssql://user:password@host:1433/PromptAds"
DEFAULT_PORT = 1433
DEFAULT_DATABASE = "PromptAds"
SCHEMES = frozenset({"mssql", "mssql+pytds"})
APPNAME = "promptsales-ads-client"
PROCEDURE = "ads.ADSSP_CreateCampaign"

VALIDATION_ERRORS: Mapping[int, str] = {
    51001: "unknown brand",
    51002: "invalid period (the end precedes the start)",
    51003: "invalid budget (must be greater than 0)",
    51004: "no channels, or budget shares not adding up to 1",
    51005: "unknown channel",
    51006: "unknown market",
    51007: "unknown audience",
    51008: "ad on a channel the campaign does not use",
    51009: "unknown influencer",
    51010: "the brand already has a campaign with this name",
    51011: "no market",
}
"""The procedure's validation errors (51001..51099; see its header in sql/ads/050_functions.sql)."""

UNEXPECTED_ERROR = 51000
"""The procedure wraps any engine error (constraint, deadlock, ...) in this number after rolling back."""


# --------------------------------------------------------------------------- errors


class AdsClientError(Exception):
    """Base of the errors this client raises; the message is one line and never holds a password."""


class AdsUrlError(AdsClientError, ValueError):
    """The connection URL is missing or malformed."""


class AdsConnectionError(AdsClientError):
    """The server could not be reached or refused the login."""


class CampaignInputError(AdsClientError, ValueError):
    """A value cannot be sent in its parameter or TVP column (NULL where NOT NULL, too long, too many decimals)."""


class CampaignRejected(AdsClientError):
    """ADSSP_CreateCampaign refused the campaign (51001..51099); nothing was written, the rejection was logged."""

    def __init__(self, number: int, message: str) -> None:
        meaning = VALIDATION_ERRORS.get(number, "validation error")
        super().__init__(f"campaign rejected ({number}, {meaning}): {message}")
        self.number = number
        self.message = message


class CampaignFailed(AdsClientError):
    """ADSSP_CreateCampaign hit an unexpected engine error (51000); it rolled back what it had written."""

    def __init__(self, number: int, message: str) -> None:
        super().__init__(f"campaign creation failed ({number}): {message}")
        self.number = number
        self.message = message


# --------------------------------------------------------------------------- connection URL


@dataclass(frozen=True)
class AdsUrl:
    """A parsed mssql:// URL; `repr` and `masked` never show the password."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    login_timeout: float = 15.0
    timeout: float | None = None
    """Per-query timeout in seconds; None waits as long as the server works."""
    cafile: str | None = None
    """PEM file of trusted CAs: turns TLS on (pytds then needs pyOpenSSL installed)."""

    @property
    def masked(self) -> str:
        credentials = f"{self.user}:***@" if self.password else (f"{self.user}@" if self.user else "")
        return f"mssql://{credentials}{self.host}:{self.port}/{self.database}"


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, even when the URL does not parse (used in every message)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if "@" in url else url
    # The last "@" ends the credentials (an unencoded "@" in a password stays hidden); if it is further right,
    # more than the password is hidden, never less.
    credentials, at, location = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{location}"


_QUERY_OPTIONS = ("cafile", "login_timeout", "timeout")


def parse_url(url: str) -> AdsUrl:
    """Parse `mssql://user:password@host[:port][/database][?login_timeout=s&timeout=s&cafile=path]`.

    User and password are percent-decoded (encode `@ : / ? #` in a password as in any URI). The port defaults
    to 1433 and the database to PromptAds.
    """
    shown = mask_url(url)
    parts = urlsplit(url.strip())
    if parts.scheme not in SCHEMES:
        raise AdsUrlError(f"{shown}: the scheme must be mssql:// (for example {EXAMPLE_URL})")
    if not parts.hostname:
        raise AdsUrlError(f"{shown}: no host (for example {EXAMPLE_URL})")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise AdsUrlError(f"{shown}: the port must be a number between 0 and 65535") from None
    database = unquote(parts.path.lstrip("/")) or DEFAULT_DATABASE
    if "/" in database:
        raise AdsUrlError(f"{shown}: the path must be just the database name")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _QUERY_OPTIONS:
            raise AdsUrlError(f"{shown}: unknown option {key!r}; known: {', '.join(_QUERY_OPTIONS)}")
        options[key] = value
    try:
        login_timeout = float(options.get("login_timeout", "15"))
        timeout = float(options["timeout"]) if options.get("timeout") else None
    except ValueError:
        raise AdsUrlError(f"{shown}: login_timeout and timeout are seconds (numbers)") from None
    return AdsUrl(
        host=parts.hostname,
        port=port,
        database=database,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        login_timeout=login_timeout,
        timeout=timeout,
        cafile=options.get("cafile") or None,
    )


def url_from_env(env: Mapping[str, str] | None = None) -> str:
    """The PromptAds URL from PROMPTSALES_ADS_URL, or a one-line error saying what to set."""
    url = (os.environ if env is None else env).get(ENV_VAR, "").strip()
    if not url:
        raise AdsUrlError(f"{ENV_VAR} is not set: set it to the PromptAds server, for example {EXAMPLE_URL}")
    return url


def connect(url: str | None = None, *, database: str | None = None, autocommit: bool = True) -> Any:
    """Open a pytds connection to the URL's server (PROMPTSALES_ADS_URL when `url` is None).

    `database` overrides the URL's (the deploy connects to master before PromptAds exists). Autocommit is on by
    default so ADSSP_CreateCampaign runs its own transaction and logs its rejections; with `autocommit=False`
    pytds opens a transaction the caller must commit, and the procedure joins it instead.
    """
    settings = parse_url(url if url is not None else url_from_env())
    target = settings.masked if database is None else settings.masked.rsplit("/", 1)[0] + f"/{database}"
    log.info("connecting to %s", target)
    try:
        return pytds.connect(
            dsn=settings.host,
            port=settings.port,
            database=database or settings.database,
            user=settings.user or None,
            password=settings.password or None,
            login_timeout=settings.login_timeout,
            timeout=settings.timeout,
            cafile=settings.cafile,
            autocommit=autocommit,
            appname=APPNAME,
        )
    except (pytds.Error, OSError, ValueError) as exc:
        # The driver's messages name the host or the login, never the password; the masked URL says which server.
        raise AdsConnectionError(f"cannot connect to {target}: {_error_detail(exc)}") from None


def _error_detail(exc: BaseException) -> str:
    """One line: the error, and the cause it wraps when it has no text of its own (pytds's login TimeoutError)."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not str(cause).strip():
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return type(exc).__name__
    return f"{type(exc).__name__} (last error: {str(cause).strip().splitlines()[0]})"


# --------------------------------------------------------------------------- typed inputs


@dataclass(frozen=True)
class ChannelShare:
    """One row of ads.ChannelList: a channel of the campaign and its share of the budget (0 < share <= 1)."""

    channel_code: str
    budget_share: Decimal


@dataclass(frozen=True)
class NewAd:
    """One row of ads.AdList; `ad_key` is the caller's key, echoed in errors and deciding the insert order."""

    ad_key: int
    channel_code: str
    headline: str
    format: str
    content_asset_id: str | None = None
    """The PromptContent asset (MongoDB ObjectId, 24 hex characters), or None."""
    influencer_handle: str | None = None


@dataclass(frozen=True)
class NewCampaign:
    """Everything ADSSP_CreateCampaign takes; channels, markets, audiences and ads become its TVPs."""

    brand_id: int
    campaign_name: str
    objective: str
    starts_on: date
    ends_on: date
    budget_usd: Decimal
    channels: Sequence[ChannelShare]
    markets: Sequence[str]
    audiences: Sequence[str] = ()
    ads: Sequence[NewAd] = ()
    status: str = "draft"


# --------------------------------------------------------------------------- parameters and TVPs


@dataclass(frozen=True)
class TvpColumn:
    name: str
    declaration: str
    """The column's T-SQL type exactly as in model/ads.yaml (a test keeps them equal)."""
    nullable: bool = False


@dataclass(frozen=True)
class TvpType:
    """A table type of PromptAds: its qualified name, its columns in declaration order and its primary key."""

    name: str
    columns: tuple[TvpColumn, ...]
    primary_key: tuple[str, ...]


CHANNEL_LIST = TvpType(
    "ads.ChannelList",
    (TvpColumn("channel_code", "varchar(30)"), TvpColumn("budget_share", "decimal(5,4)")),
    ("channel_code",),
)
MARKET_LIST = TvpType("ads.MarketList", (TvpColumn("market_code", "varchar(10)"),), ("market_code",))
AUDIENCE_LIST = TvpType("ads.AudienceList", (TvpColumn("audience_code", "varchar(40)"),), ("audience_code",))
AD_LIST = TvpType(
    "ads.AdList",
    (
        TvpColumn("ad_key", "int"),
        TvpColumn("channel_code", "varchar(30)"),
        TvpColumn("headline", "nvarchar(200)"),
        TvpColumn("format", "varchar(20)"),
        TvpColumn("content_asset_id", "char(24)", nullable=True),
        TvpColumn("influencer_handle", "nvarchar(80)", nullable=True),
    ),
    ("ad_key",),
)
TABLE_TYPES = (CHANNEL_LIST, MARKET_LIST, AUDIENCE_LIST, AD_LIST)

SCALAR_PARAMETERS: Mapping[str, str] = {
    "@BrandId": "int",
    "@CampaignName": "nvarchar(200)",
    "@Objective": "varchar(20)",
    "@StartsOn": "date",
    "@EndsOn": "date",
    "@BudgetUsd": "decimal(14,2)",
    "@Status": "varchar(12)",
}
"""The procedure's scalar parameters and their declared types (a test compares them with the rendered SQL)."""

_SIZED = re.compile(r"^(?:n?var)?n?char\((\d+)\)$", re.IGNORECASE)
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$", re.IGNORECASE)


def _checked(value: Any, declaration: str, nullable: bool, where: str) -> Any:
    """The value as it goes on the wire, or CampaignInputError when the declared type cannot carry it.

    pytds writes what it is given: a string longer than its declared size breaks the request and a decimal with
    more places than the scale is silently truncated, so both are refused here with the field named.
    """
    if value is None:
        if not nullable:
            raise CampaignInputError(f"{where}: NULL is not allowed ({declaration} NOT NULL)")
        return None
    sized = _SIZED.match(declaration)
    if sized:
        if not isinstance(value, str):
            raise CampaignInputError(f"{where}: expected text for {declaration}, got {type(value).__name__}")
        # Strings travel as UTF-16 (see wire_type), so the limit counts UTF-16 code units, as SQL Server does.
        units = len(value.encode("utf-16-le")) // 2
        if units > int(sized.group(1)):
            raise CampaignInputError(f"{where}: {units} characters do not fit {declaration}")
        return value
    scaled = _DECIMAL.match(declaration)
    if scaled:
        precision, scale = int(scaled.group(1)), int(scaled.group(2))
        try:
            # str() first: Decimal(0.1) would carry the float's binary error into the amount.
            number = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:
            raise CampaignInputError(f"{where}: {value!r} is not a number for {declaration}") from None
        if not number.is_finite():
            raise CampaignInputError(f"{where}: {number} is not a finite number for {declaration}")
        if abs(number) >= Decimal(10) ** (precision - scale):
            raise CampaignInputError(f"{where}: {number} does not fit {declaration}")
        if number != number.quantize(Decimal(1).scaleb(-scale)):
            raise CampaignInputError(f"{where}: {number} has more than {scale} decimal places ({declaration})")
        return number
    if declaration == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
            raise CampaignInputError(f"{where}: expected a 32-bit integer for int, got {value!r}")
        return value
    if declaration == "date":
        if not isinstance(value, date):
            raise CampaignInputError(f"{where}: expected a date, got {type(value).__name__}")
        return value
    raise NotImplementedError(f"no wire check for T-SQL type {declaration}")  # a new column type needs one here


def wire_type(declaration: str) -> Any:
    """The pytds type a value of this T-SQL type is sent as.

    Strings go as nvarchar of the declared length whatever their column type (the server converts to varchar or
    char on arrival): pytds writes a varchar column of a TVP with an all-zero collation, which leaves its code
    page to chance, while UTF-16 needs none. Numbers and dates go as declared.
    """
    sized = _SIZED.match(declaration)
    if sized:
        return NVarCharType(size=int(sized.group(1)))
    scaled = _DECIMAL.match(declaration)
    if scaled:
        return DecimalType(precision=int(scaled.group(1)), scale=int(scaled.group(2)))
    return sql_type_by_declaration(declaration)


def _key_part(value: Any) -> Any:
    return value.rstrip(" ").casefold() if isinstance(value, str) else value


def table_valued_param(tvp: TvpType, rows: Iterable[Sequence[Any]], parameter: str) -> pytds.TableValuedParam:
    """A pytds TVP with explicit columns and checked rows.

    pytds can infer columns from the first row, but not for an empty TVP (an error), and it infers a NULL
    cell as nvarchar(1) and a decimal's precision from that one value, which then applies to every row; so
    the columns always come from the table type.
    """
    names = [col.name for col in tvp.columns]
    key_at = [names.index(name) for name in tvp.primary_key]
    checked: list[tuple[Any, ...]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for index, row in enumerate(rows):
        if len(row) != len(tvp.columns):
            raise CampaignInputError(f"{parameter} row {index}: {len(row)} values for {len(tvp.columns)} columns")
        values = tuple(
            _checked(cell, col.declaration, col.nullable, f"{parameter} row {index} {col.name}")
            for cell, col in zip(row, tvp.columns, strict=True)
        )
        # A duplicate key breaks the table type's PRIMARY KEY while the server binds the parameter, before the
        # procedure runs, so the procedure could neither explain nor log it. Keys compare as the default
        # case-insensitive collation does (trailing spaces ignored).
        key = tuple(_key_part(values[i]) for i in key_at)
        if key in seen:
            shown = ", ".join(f"{name}={values[i]!r}" for name, i in zip(tvp.primary_key, key_at, strict=True))
            raise CampaignInputError(f"{parameter} rows {seen[key]} and {index}: duplicate key {shown} ({tvp.name})")
        seen[key] = index
        checked.append(values)
    columns = [
        pytds.Column(
            name=col.name,
            type=wire_type(col.declaration),
            # Nullable on the wire for every column, as pytds does by default: the table type enforces NOT NULL.
            flags=pytds.Column.fNullable,
        )
        for col in tvp.columns
    ]
    return pytds.TableValuedParam(type_name=tvp.name, columns=columns, rows=checked)


def procedure_parameters(campaign: NewCampaign) -> dict[str, Any]:
    """The named RPC parameters of ADSSP_CreateCampaign for a campaign: typed scalars and four TVPs.

    @CampaignId (OUTPUT, default NULL) is not sent: the procedure returns the id as a one-row result set,
    which is read here; pytds's get_proc_outputs() indexes OUTPUT values by parameter position into a list
    sized by their count, which fails for an OUTPUT that is not first.
    """
    scalars = {
        "@BrandId": campaign.brand_id,
        "@CampaignName": campaign.campaign_name,
        "@Objective": campaign.objective,
        "@StartsOn": campaign.starts_on,
        "@EndsOn": campaign.ends_on,
        "@BudgetUsd": campaign.budget_usd,
        "@Status": campaign.status,
    }
    params: dict[str, Any] = {
        name: Param(
            name=name,
            type=wire_type(SCALAR_PARAMETERS[name]),
            value=_checked(value, SCALAR_PARAMETERS[name], False, name),
        )
        for name, value in scalars.items()
    }
    params["@Channels"] = table_valued_param(
        CHANNEL_LIST, [(c.channel_code, c.budget_share) for c in campaign.channels], "@Channels"
    )
    params["@Markets"] = table_valued_param(MARKET_LIST, [(m,) for m in campaign.markets], "@Markets")
    params["@Audiences"] = table_valued_param(AUDIENCE_LIST, [(a,) for a in campaign.audiences], "@Audiences")
    params["@Ads"] = table_valued_param(
        AD_LIST,
        [
            (a.ad_key, a.channel_code, a.headline, a.format, a.content_asset_id, a.influencer_handle)
            for a in campaign.ads
        ],
        "@Ads",
    )
    return params


def create_campaign(conn: Any, campaign: NewCampaign) -> int:
    """Call ads.ADSSP_CreateCampaign on a pytds connection (to PromptAds) and return the new campaign id.

    Raises CampaignRejected (51001..51099) or CampaignFailed (51000) with the server's number and message; other
    database errors (permissions, lost connection) propagate as pytds errors. It neither commits nor rolls back:
    on an autocommit connection the procedure's own transaction decides, otherwise the caller's does.
    """
    params = procedure_parameters(campaign)
    try:
        with conn.cursor() as cur:
            cur.callproc(PROCEDURE, params)
            # The id is the procedure's one result set; skip anything before it (a caller's session may have
            # NOCOUNT off), then drain the rest so an error raised after it is not lost.
            while cur.description is None:
                if not cur.nextset():
                    break
            row = cur.fetchone() if cur.description is not None else None
            while cur.nextset():
                pass
    except pytds.DatabaseError as exc:
        number = int(getattr(exc, "number", 0) or 0)
        message = str(getattr(exc, "text", "") or exc).strip()
        if number == UNEXPECTED_ERROR:
            raise CampaignFailed(number, message) from None
        if 51001 <= number <= 51099:
            raise CampaignRejected(number, message) from None
        raise
    if row is None or row[0] is None:
        raise AdsClientError(f"{PROCEDURE} returned no campaign_id for {campaign.campaign_name!r}")
    campaign_id = int(row[0])
    log.info("campaign %d (%s) created for brand %d", campaign_id, campaign.campaign_name, campaign.brand_id)
    return campaign_id
