"""OAuth2 client-credentials client (RFC 6749 §4.4) and the Reddit brand-mention search PromptContent calls with it.

The generic part is `ClientCredentialsConfig` + `OAuth2Client`: a token is obtained with a POST
(`grant_type=client_credentials`, form-encoded; client authentication by HTTP Basic or in the body), kept until
shortly before `expires_in` runs out, fetched again after that or once when the API answers 401, and sent as
`Authorization: <token_type> <token>` on every API call. The configured provider is Reddit's application-only
OAuth (`RedditClient`); its credentials come only from the environment:

    PROMPTCONTENT_REDDIT_CLIENT_ID, PROMPTCONTENT_REDDIT_CLIENT_SECRET, PROMPTCONTENT_REDDIT_USER_AGENT
    (optional overrides: PROMPTCONTENT_REDDIT_TOKEN_URL, PROMPTCONTENT_REDDIT_API_BASE)

    from mcp_servers.oauth_client import RedditClient

    with RedditClient.from_env() as reddit:
        for mention in reddit.search_mentions("Acme Coffee", limit=5):
            print(mention.created_utc, mention.subreddit, mention.title)

    python -m mcp_servers.oauth_client search "Acme Coffee" --limit 5

Every error a user can hit is an `OAuthClientError` whose message is one line that names the endpoint or the
variable and what to do; no message, repr or log line of this module holds the client secret or a token.
docs/external-api.md has the provider, the wire format and the errors.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, Self, get_args
from urllib.parse import quote_plus, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)

AuthMethod = Literal["client_secret_basic", "client_secret_post"]
"""How the client authenticates at the token endpoint (RFC 6749 §2.3.1; names as in RFC 8414)."""

AUTH_METHODS: tuple[str, ...] = get_args(AuthMethod)
DEFAULT_TIMEOUT = 10.0
"""Seconds for connect, read and write of each HTTP request."""
DEFAULT_EXPIRES_IN = 3600.0
"""Lifetime assumed when a token response has no `expires_in` (it is optional in RFC 6749 §5.1)."""
REFRESH_MARGIN = 60.0
"""A token is replaced this many seconds before it expires (at most a tenth of its lifetime), so a request never
leaves with a token that expires on the way."""
DETAIL_CHARS = 200

REDDIT_ENV_PREFIX = "PROMPTCONTENT_REDDIT"
REDDIT_TOKEN_URL = "https://www.reddit.com/api/v1/access_token"  # noqa: S105 - an endpoint, not a password
REDDIT_API_BASE = "https://oauth.reddit.com"
REDDIT_WEB_BASE = "https://www.reddit.com"
REDDIT_APPS_URL = "https://www.reddit.com/prefs/apps"
REDDIT_SEARCH_PATH = "/search"
REDDIT_SEARCH_MAX_LIMIT = 100
"""Reddit's listings return at most 100 items per request."""
REDDIT_QUERY_MAX_CHARS = 512
"""Reddit's search refuses longer queries."""
REDDIT_ENV_HELP = f"register a 'script' or 'web app' at {REDDIT_APPS_URL}; see docs/external-api.md"


# --------------------------------------------------------------------------- errors


class OAuthClientError(Exception):
    """Base of the errors of this module: the message is one line and never holds the client secret or a token."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class ConfigError(OAuthClientError, ValueError):
    """The configuration is incomplete or invalid (missing environment variables, a non-https URL, ...)."""


class InputError(OAuthClientError, ValueError):
    """An argument of a call is out of range (empty brand, limit above the provider's maximum, ...)."""


class NetworkError(OAuthClientError):
    """The host could not be reached or did not answer in time."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


class TokenError(OAuthClientError):
    """The token endpoint answered, but not with a usable bearer token."""


class CredentialsRefused(TokenError):
    """The token endpoint refused the client id and secret (401 or `invalid_client`/`unauthorized_client`)."""


class RateLimited(OAuthClientError):
    """The provider answered 429; `retry_after` is the wait in seconds it asked for (None when it did not say)."""

    def __init__(self, message: str, *, host: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.host = host
        self.retry_after = retry_after


class ApiError(OAuthClientError):
    """An API call answered with an error status, or with a body this client cannot read."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ClientCredentialsConfig:
    """Where and how to get a client-credentials token, and the API it is for. `client_secret` stays out of repr.

    `env_prefix` is set by `from_env`; error messages then name the environment variables instead of the fields.
    """

    token_url: str
    api_base: str
    client_id: str
    client_secret: str = field(repr=False)
    user_agent: str
    scope: str | None = None
    auth_method: AuthMethod = "client_secret_basic"
    timeout: float = DEFAULT_TIMEOUT
    env_prefix: str | None = None

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret", "user_agent"):
            value = getattr(self, name)
            if not value or not value.strip():
                raise ConfigError(f"{self.source(name)} is empty")
            if "\n" in value or "\r" in value:
                raise ConfigError(f"{self.source(name)} must be a single line")
        if self.auth_method not in AUTH_METHODS:
            raise ConfigError(
                f"auth_method {self.auth_method!r} is not supported: use one of {', '.join(AUTH_METHODS)}"
            )
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        _check_url(self.token_url, self.source("token_url"))
        _check_url(self.api_base, self.source("api_base"))

    def source(self, name: str) -> str:
        """The name a user sets this field by: `<PREFIX>_<FIELD>` when built from the environment, else the field."""
        return f"{self.env_prefix}_{name.upper()}" if self.env_prefix else name

    @property
    def credentials_hint(self) -> str:
        if self.env_prefix:
            return f"check {self.env_prefix}_CLIENT_ID/SECRET"
        return "check client_id and client_secret"

    @classmethod
    def from_env(
        cls,
        prefix: str,
        *,
        environ: Mapping[str, str] | None = None,
        token_url: str | None = None,
        api_base: str | None = None,
        scope: str | None = None,
        auth_method: AuthMethod = "client_secret_basic",
        timeout: float = DEFAULT_TIMEOUT,
        hint: str = "see docs/external-api.md",
    ) -> ClientCredentialsConfig:
        """Read `<prefix>_CLIENT_ID`, `_CLIENT_SECRET`, `_USER_AGENT` and, overriding the defaults given here,
        `_TOKEN_URL` and `_API_BASE`. All missing variables are named in one error."""
        env = os.environ if environ is None else environ

        def get(suffix: str) -> str | None:
            return env.get(f"{prefix}_{suffix}", "").strip() or None

        values = {suffix: get(suffix) for suffix in ("CLIENT_ID", "CLIENT_SECRET", "USER_AGENT")}
        values["TOKEN_URL"] = get("TOKEN_URL") or token_url
        values["API_BASE"] = get("API_BASE") or api_base
        missing = [f"{prefix}_{suffix}" for suffix, value in values.items() if value is None]
        if missing:
            noun = "variable" if len(missing) == 1 else "variables"
            raise ConfigError(f"missing environment {noun} {', '.join(missing)}: {hint}")
        return cls(
            token_url=str(values["TOKEN_URL"]),
            api_base=str(values["API_BASE"]),
            client_id=str(values["CLIENT_ID"]),
            client_secret=str(values["CLIENT_SECRET"]),
            user_agent=str(values["USER_AGENT"]),
            scope=scope,
            auth_method=auth_method,
            timeout=timeout,
            env_prefix=prefix,
        )


def _check_url(url: str, name: str) -> None:
    """https only: the secret and the token must not travel in clear, except to a stand-in on this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{name} must be an absolute https:// URL, got {url!r}")
    if parts.username or parts.password:
        raise ConfigError(f"{name} must not hold credentials in the URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(f"{name} must use https:// (plain http only for localhost), got {url!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- the OAuth2 client


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    scheme: str
    refresh_at: float
    """On the client's clock: from then on the token is fetched again."""


class OAuth2Client:
    """Calls an API with a client-credentials token, fetched on first use and kept until shortly before it expires.

    Thread-safe: concurrent callers share one token and one fetch. `clock` (seconds, monotonic) is replaceable so
    expiry can be tested without sleeping. Redirects are not followed: the secret and the token go only to the
    configured hosts.
    """

    def __init__(self, config: ClientCredentialsConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._retired: str | None = None
        self._http = httpx.Client(
            timeout=config.timeout,
            follow_redirects=False,
            headers={"User-Agent": config.user_agent, "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"OAuth2Client(token_url={cfg.token_url!r}, api_base={cfg.api_base!r}, client_id={cfg.client_id!r},"
            f" auth_method={cfg.auth_method!r}, token_cached={self._token is not None})"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ----------------------------------------------------------------- API calls

    def request(self, method: str, path: str, *, params: Mapping[str, str | int] | None = None) -> httpx.Response:
        """`method` on `api_base` + `path` with the bearer token; a 401 gets one fresh token and one retry."""
        url = self._api_url(path)
        endpoint = f"{method} {_endpoint(url)}"
        token = self._current_token()
        response = self._send(method, url, params=params, headers=self._authorization(token))
        if response.status_code == 401:
            log.debug("%s answered 401: fetching a new access token and retrying once", endpoint)
            self._discard(token)
            token = self._current_token()
            response = self._send(method, url, params=params, headers=self._authorization(token))
            if response.status_code == 401:
                raise ApiError(
                    f"{endpoint} refused a freshly issued access token (401{self._detail(response)}):"
                    " the app may not have access to this endpoint or scope",
                    status=401,
                )
        if response.status_code == 429:
            raise self._rate_limited(response, endpoint)
        if not response.is_success:
            raise ApiError(
                f"{endpoint} answered {response.status_code} {response.reason_phrase}{self._detail(response, ': ')}",
                status=response.status_code,
            )
        return response

    def get_json(self, path: str, *, params: Mapping[str, str | int] | None = None) -> Any:
        """GET `path` and return its JSON body."""
        response = self.request("GET", path, params=params)
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"GET {_endpoint(response.request.url)} answered {response.status_code} with"
                f" {_content_type(response)}, not JSON",
                status=response.status_code,
            ) from None

    def _api_url(self, path: str) -> str:
        # A path, never a URL: the token must not be sent to a host other than api_base.
        if not path.startswith("/") or path.startswith("//") or "://" in path:
            raise InputError(f"API path must start with a single '/', got {path!r}")
        return self.config.api_base.rstrip("/") + path

    @staticmethod
    def _authorization(token: _Token) -> dict[str, str]:
        return {"Authorization": f"{token.scheme} {token.value}"}

    # ----------------------------------------------------------------- tokens

    def _current_token(self) -> _Token:
        with self._lock:
            if self._token is None or self._clock() >= self._token.refresh_at:
                self._token = self._fetch_token()
            return self._token

    def _discard(self, rejected: _Token) -> None:
        with self._lock:
            # Another thread may already have replaced the rejected token; keep its fresh one.
            if self._token is rejected:
                self._retired = rejected.value
                self._token = None

    def _fetch_token(self) -> _Token:
        cfg = self.config
        data = {"grant_type": "client_credentials"}
        if cfg.scope:
            data["scope"] = cfg.scope
        headers = {}
        if cfg.auth_method == "client_secret_basic":
            headers["Authorization"] = "Basic " + _basic_credentials(cfg.client_id, cfg.client_secret)
        else:
            data |= {"client_id": cfg.client_id, "client_secret": cfg.client_secret}
        log.debug("requesting an access token from %s (%s)", _endpoint(cfg.token_url), cfg.auth_method)
        requested_at = self._clock()
        response = self._send("POST", cfg.token_url, data=data, headers=headers)
        token, expires_in = self._token_from(response, requested_at)
        if self._token is not None:
            self._retired = self._token.value
        log.debug("access token obtained from %s: expires in %g s", _endpoint(cfg.token_url), expires_in)
        return token

    def _token_from(self, response: httpx.Response, requested_at: float) -> tuple[_Token, float]:
        cfg = self.config
        where = f"token endpoint {_endpoint(cfg.token_url)}"
        status = response.status_code
        if status == 429:
            raise self._rate_limited(response, where)
        body = _json_object(response)
        error = body.get("error") if body is not None else None
        if status == 401 or error == "invalid_client":
            code = " ".join(str(part) for part in dict.fromkeys((status, error)) if part is not None)
            raise CredentialsRefused(f"{where} refused the client credentials ({code}): {cfg.credentials_hint}")
        if error == "unauthorized_client":
            raise CredentialsRefused(
                f"{where} does not allow this client the client_credentials grant (unauthorized_client):"
                f" {cfg.credentials_hint}, and that the app is a confidential one (Reddit: 'script' or 'web app')"
            )
        if error is not None:
            description = body.get("error_description") if body is not None else None
            text = f": {self._clean(str(description))}" if description else ""
            raise TokenError(f"{where} answered {status} with error {self._clean(str(error))!r}{text}")
        if response.is_redirect:
            location = self._clean(response.headers.get("Location", "?"))
            raise TokenError(
                f"{where} redirected to {location} ({status}); redirects are not followed so the secret is sent"
                f" only where configured: check {cfg.source('token_url')}"
            )
        if not response.is_success:
            raise TokenError(f"{where} answered {status} {response.reason_phrase}{self._detail(response, ': ')}")
        if body is None:
            raise TokenError(
                f"{where} answered {status} with {_content_type(response)}, not a JSON token response:"
                f" check {cfg.source('token_url')}"
            )
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise TokenError(f"{where} answered {status} without an access_token")
        scheme = body.get("token_type", "Bearer")
        if not isinstance(scheme, str) or scheme.lower() != "bearer":
            raise TokenError(f"{where} issued a token of type {scheme!r}; only bearer tokens are supported")
        expires_in = self._expires_in(body.get("expires_in"), where)
        margin = min(REFRESH_MARGIN, expires_in / 10)
        return _Token(value=value, scheme=scheme, refresh_at=requested_at + expires_in - margin), expires_in

    @staticmethod
    def _expires_in(raw: Any, where: str) -> float:
        if raw is None:
            return DEFAULT_EXPIRES_IN
        try:
            seconds = float(raw)
        except (TypeError, ValueError):
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            raise TokenError(f"{where} answered an invalid expires_in {raw!r} (expected a positive number of seconds)")
        return seconds

    # ----------------------------------------------------------------- HTTP and errors

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        host = urlsplit(url).netloc
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise NetworkError(
                f"{method} {_endpoint(url)}: no answer from {host} within {self.config.timeout:g} s"
                f" ({type(exc).__name__}): check the network or raise the timeout",
                host=host,
            ) from exc
        except httpx.RequestError as exc:
            reason = self._clean(str(exc)) or type(exc).__name__
            raise NetworkError(
                f"{method} {_endpoint(url)}: cannot reach {host} ({reason}): check the network, the proxy settings"
                f" and {self.config.source('token_url' if url == self.config.token_url else 'api_base')}",
                host=host,
            ) from exc

    def _rate_limited(self, response: httpx.Response, what: str) -> RateLimited:
        host = response.request.url.netloc.decode("ascii")
        retry_after = _retry_after(response.headers)
        when = f"retry after {math.ceil(retry_after)} s" if retry_after is not None else "retry later"
        return RateLimited(f"{what} is rate limited by {host} (429): {when}", host=host, retry_after=retry_after)

    def _detail(self, response: httpx.Response, prefix: str = ", ") -> str:
        """The provider's own short explanation from a JSON error body, cleaned; empty when there is none."""
        body = _json_object(response)
        if body is None:
            return ""
        for key in ("error_description", "message", "error", "reason"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return prefix + self._clean(value)[:DETAIL_CHARS]
        return ""

    def _clean(self, text: str) -> str:
        """One line, with anything secret replaced: text from a server or a socket error is never trusted."""
        cfg = self.config
        secrets = [cfg.client_secret, quote_plus(cfg.client_secret)]
        secrets.append(_basic_credentials(cfg.client_id, cfg.client_secret))
        secrets += [token for token in (self._token.value if self._token else None, self._retired) if token]
        for secret in sorted(set(secrets), key=len, reverse=True):
            text = text.replace(secret, "***")
        return " ".join(text.split())


def _basic_credentials(client_id: str, client_secret: str) -> str:
    # RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined; a no-op for Reddit's ids and secrets.
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return base64.b64encode(pair.encode()).decode("ascii")


def _endpoint(url: str | httpx.URL) -> str:
    """The URL without its query: enough to name the endpoint, short in an error line."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _content_type(response: httpx.Response) -> str:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    return content_type or "no content type"


def _retry_after(headers: httpx.Headers, now: datetime | None = None) -> float | None:
    """Seconds to wait: Retry-After (seconds or an HTTP date), else Reddit's X-Ratelimit-Reset (seconds)."""
    raw = headers.get("Retry-After")
    if raw is not None:
        raw = raw.strip()
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    reset = headers.get("X-Ratelimit-Reset")
    if reset is not None:
        try:
            return max(0.0, float(reset))
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------- Reddit


class Mention(BaseModel):
    """One Reddit post (a `t3` link of the search listing) that mentions the brand; text is untrusted user content."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    title: str
    subreddit: str
    created_utc: datetime
    """When the post was created, timezone-aware UTC (Reddit sends epoch seconds)."""
    score: int
    num_comments: int
    permalink: str
    """Absolute URL of the post on www.reddit.com (Reddit sends the path only)."""


class RedditClient:
    """Brand mentions from Reddit's search, called with an application-only OAuth token."""

    def __init__(self, oauth: OAuth2Client) -> None:
        self.oauth = oauth

    def __repr__(self) -> str:
        return f"RedditClient({self.oauth!r})"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> RedditClient:
        """Configured from the PROMPTCONTENT_REDDIT_* variables; TOKEN_URL and API_BASE default to Reddit's."""
        config = ClientCredentialsConfig.from_env(
            REDDIT_ENV_PREFIX,
            environ=environ,
            token_url=REDDIT_TOKEN_URL,
            api_base=REDDIT_API_BASE,
            hint=REDDIT_ENV_HELP,
        )
        return cls(OAuth2Client(config, clock=clock))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.oauth.close()

    def search_mentions(self, brand: str, limit: int = 25) -> list[Mention]:
        """The newest posts (links) whose search match `brand`, newest first, at most `limit` (1..100)."""
        query = " ".join(brand.split())
        if not query:
            raise InputError("brand is empty: give the brand name to search for")
        if len(query) > REDDIT_QUERY_MAX_CHARS:
            raise InputError(f"brand is {len(query)} characters long; Reddit searches at most {REDDIT_QUERY_MAX_CHARS}")
        check_limit(limit)
        # raw_json=1: titles arrive as written, not HTML-escaped (&amp;), as Reddit's API docs describe.
        params: dict[str, str | int] = {"q": query, "sort": "new", "limit": limit, "type": "link", "raw_json": 1}
        listing = self.oauth.get_json(REDDIT_SEARCH_PATH, params=params)
        return _mentions_from(listing, f"GET {self.oauth.config.api_base.rstrip('/')}{REDDIT_SEARCH_PATH}")[:limit]


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= REDDIT_SEARCH_MAX_LIMIT:
        raise InputError(f"limit must be a whole number from 1 to {REDDIT_SEARCH_MAX_LIMIT}, got {limit!r}")
    return limit


def _mentions_from(listing: Any, endpoint: str) -> list[Mention]:
    data = listing.get("data") if isinstance(listing, dict) else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(children, list):
        raise ApiError(f"{endpoint} answered JSON that is not a Reddit listing (no data.children)", status=200)
    mentions = []
    for position, child in enumerate(children):
        if not isinstance(child, dict) or child.get("kind") != "t3" or not isinstance(child.get("data"), dict):
            continue
        post = dict(child["data"])
        permalink = post.get("permalink")
        if isinstance(permalink, str) and permalink.startswith("/"):
            post["permalink"] = REDDIT_WEB_BASE + permalink
        try:
            mentions.append(Mention.model_validate(post))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ApiError(
                f"{endpoint} answered a post (data.children[{position}].data.{where}) this client cannot read:"
                f" {first['msg']}",
                status=200,
            ) from None
    return mentions


# --------------------------------------------------------------------------- command line


def _one_line(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _limit_argument(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    try:
        return check_limit(number)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_servers.oauth_client",
        description="Call Reddit's API with an OAuth2 client-credentials token (PROMPTCONTENT_REDDIT_* variables).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    search = commands.add_parser("search", help="print the newest Reddit posts that mention a brand")
    search.add_argument("brand", help="brand name to search for (quote it for an exact phrase: '\"Acme Coffee\"')")
    search.add_argument(
        "--limit", type=_limit_argument, default=10, help=f"posts to fetch, 1..{REDDIT_SEARCH_MAX_LIMIT} (default 10)"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        with RedditClient.from_env() as reddit:
            mentions = reddit.search_mentions(args.brand, args.limit)
    except OAuthClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for mention in mentions:
        print(
            f"{mention.created_utc:%Y-%m-%d %H:%M}Z  r/{_one_line(mention.subreddit)}  {mention.score} points,"
            f" {mention.num_comments} comments  {_one_line(mention.title)}\n    {_one_line(mention.permalink)}"
        )
    noun = "mention" if len(mentions) == 1 else "mentions"
    print(
        f"{len(mentions)} {noun} of {_one_line(args.brand)!r} on Reddit (newest first, limit {args.limit})"
        f" in {time.perf_counter() - started:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
