"""The OAuth2 client-credentials client and the Reddit search, against a local HTTP stand-in of Reddit's endpoints.

The stand-in is NOT Reddit: a ThreadingHTTPServer on 127.0.0.1 (ephemeral port) that plays Reddit's token endpoint
(POST /api/v1/access_token) and API (GET /search) well enough to check the wire format, records every request, and
issues fake tokens (`standin-token-1`, `-2`, ...). The one test that calls the real Reddit runs only when
PROMPTCONTENT_REDDIT_CLIENT_ID is set.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mcp_servers import oauth_client
from mcp_servers.oauth_client import (
    ApiError,
    ClientCredentialsConfig,
    ConfigError,
    CredentialsRefused,
    InputError,
    Mention,
    NetworkError,
    OAuth2Client,
    OAuthClientError,
    RateLimited,
    RedditClient,
    TokenError,
)

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "PROMPTCONTENT_REDDIT"
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"
USER_AGENT = "test:org.promptsales.oauth-client-tests:0.1 (by /u/test-user)"
BASIC_CREDENTIALS = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
TOKEN_PATH = "/api/v1/access_token"
UNAUTHORIZED = {"message": "Unauthorized", "error": 401}
"""The body Reddit answers a 401 with (its token endpoint and its API alike)."""

POSTS: list[dict[str, Any]] = [
    {
        "title": "Acme Coffee's new cold brew is great",
        "subreddit": "coffee",
        "created_utc": 1767225600.0,
        "score": 42,
        "num_comments": 7,
        "permalink": "/r/coffee/comments/abc123/acme_coffees_new_cold_brew_is_great/",
        "selftext": "ignored by the client",
    },
    {
        "title": "Anyone else had a bad order from Acme Coffee?",
        "subreddit": "CustomerService",
        "created_utc": 1767139200.0,
        "score": -3,
        "num_comments": 15,
        "permalink": "/r/CustomerService/comments/def456/anyone_else_had_a_bad_order_from_acme_coffee/",
    },
    {
        "title": "Acme Coffee opens in Brooklyn",
        "subreddit": "nyc",
        "created_utc": 1767052800.0,
        "score": 120,
        "num_comments": 33,
        "permalink": "/r/nyc/comments/ghi789/acme_coffee_opens_in_brooklyn/",
    },
]


# --------------------------------------------------------------------------- the stand-in


@dataclass(frozen=True)
class Seen:
    """One request as the stand-in received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class StandIn:
    """Stand-in of Reddit's token endpoint and search API (not Reddit): fake tokens, a canned listing."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.requests: list[Seen] = []
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.expires_in: Any = 3600
        self.token_delay = 0.0
        self.token_replies: list[Reply] = []
        """Scripted answers of the token endpoint, used (in order) before its normal behaviour."""
        self.api_replies: list[Reply] = []
        self.children: list[dict[str, Any]] = [{"kind": "t3", "data": post} for post in POSTS]

    def seen(self, method: str, path: str) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    @property
    def token_requests(self) -> list[Seen]:
        return self.seen("POST", TOKEN_PATH)

    @property
    def search_requests(self) -> list[Seen]:
        return self.seen("GET", "/search")

    def answer(self, seen: Seen) -> Reply:
        with self.lock:
            self.requests.append(seen)
        if (seen.method, seen.path) == ("POST", TOKEN_PATH):
            return self.token(seen)
        if (seen.method, seen.path) == ("GET", "/search"):
            return self.search(seen)
        return Reply(404, {"message": "Not Found", "error": 404})

    def token(self, seen: Seen) -> Reply:
        with self.lock:
            if self.token_replies:
                return self.token_replies.pop(0)
        if seen.form.get("grant_type") != ["client_credentials"]:
            return Reply(200, {"error": "unsupported_grant_type"})  # Reddit answers this one with a 200
        authorization = seen.headers.get("authorization", "")
        if authorization.startswith("Basic "):
            presented = base64.b64decode(authorization.removeprefix("Basic ")).decode()
        else:
            presented = f"{seen.form.get('client_id', [''])[0]}:{seen.form.get('client_secret', [''])[0]}"
        if presented != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return Reply(401, UNAUTHORIZED)
        threading.Event().wait(self.token_delay)
        with self.lock:
            token = f"standin-token-{len(self.issued) + 1}"
            self.issued.append(token)
            self.valid.add(token)
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in, "scope": "*"})

    def search(self, seen: Seen) -> Reply:
        with self.lock:
            if self.api_replies:
                return self.api_replies.pop(0)
            scheme, _, token = seen.headers.get("authorization", "").partition(" ")
            if scheme != "bearer" or token not in self.valid:
                return Reply(401, UNAUTHORIZED)
        limit = int(seen.query["limit"][0])
        return Reply(200, {"kind": "Listing", "data": {"after": None, "children": self.children[:limit]}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stand_in: StandIn


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        parts = urlsplit(self.path)
        form_encoded = self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
        seen = Seen(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            form=parse_qs(body, keep_blank_values=True) if form_encoded else {},
        )
        reply = self.server.stand_in.answer(seen)
        if isinstance(reply.body, dict | list):
            payload, content_type = json.dumps(reply.body).encode(), "application/json; charset=UTF-8"
        else:
            payload, content_type = str(reply.body or "").encode(), "text/html; charset=UTF-8"
        self.send_response(reply.status)
        headers = {"Content-Type": content_type, "Content-Length": str(len(payload)), **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stand-in records requests itself; stderr stays quiet


class FakeClock:
    """A monotonic clock the test moves by hand, so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stand_in = StandIn(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server.stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=1)


@pytest.fixture
def reddit_env(monkeypatch: pytest.MonkeyPatch, stand_in: StandIn) -> StandIn:
    """The PROMPTCONTENT_REDDIT_* variables pointing at the stand-in (and no proxy in the way)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(f"{PREFIX}_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv(f"{PREFIX}_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv(f"{PREFIX}_USER_AGENT", USER_AGENT)
    monkeypatch.setenv(f"{PREFIX}_TOKEN_URL", stand_in.url + TOKEN_PATH)
    monkeypatch.setenv(f"{PREFIX}_API_BASE", stand_in.url)
    return stand_in


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reddit(reddit_env: StandIn, clock: FakeClock) -> Iterator[RedditClient]:
    with RedditClient.from_env(clock=clock) as client:
        yield client


def raised(call: Callable[[], object]) -> OAuthClientError:
    with pytest.raises(OAuthClientError) as info:
        call()
    return info.value


def assert_one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message and message == message.strip()
    return message


# --------------------------------------------------------------------------- the wire format


def test_token_request_is_a_form_post_with_basic_auth_and_the_user_agent(
    reddit: RedditClient, reddit_env: StandIn
) -> None:
    reddit.search_mentions("Acme Coffee", limit=2)

    [token_request] = reddit_env.token_requests
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_request.form == {"grant_type": ["client_credentials"]}  # no scope asked, no secret in the body
    assert token_request.headers["authorization"] == f"Basic {BASIC_CREDENTIALS}"
    assert token_request.headers["user-agent"] == USER_AGENT
    assert token_request.headers["accept"] == "application/json"


def test_search_call_carries_the_bearer_token_and_returns_typed_mentions(
    reddit: RedditClient, reddit_env: StandIn
) -> None:
    mentions = reddit.search_mentions("  Acme   Coffee ", limit=2)

    [search] = reddit_env.search_requests
    assert search.headers["authorization"] == "bearer standin-token-1"
    assert search.headers["user-agent"] == USER_AGENT
    assert search.headers["accept"] == "application/json"
    assert search.query == {
        "q": ["Acme Coffee"],
        "sort": ["new"],
        "limit": ["2"],
        "type": ["link"],
        "raw_json": ["1"],
    }
    assert mentions == [
        Mention(
            title="Acme Coffee's new cold brew is great",
            subreddit="coffee",
            created_utc=datetime(2026, 1, 1, tzinfo=UTC),
            score=42,
            num_comments=7,
            permalink="https://www.reddit.com/r/coffee/comments/abc123/acme_coffees_new_cold_brew_is_great/",
        ),
        Mention(
            title="Anyone else had a bad order from Acme Coffee?",
            subreddit="CustomerService",
            created_utc=datetime(2025, 12, 31, tzinfo=UTC),
            score=-3,
            num_comments=15,
            permalink=(
                "https://www.reddit.com/r/CustomerService/comments/def456/anyone_else_had_a_bad_order_from_acme_coffee/"
            ),
        ),
    ]


def test_search_skips_listing_children_that_are_not_posts(reddit: RedditClient, reddit_env: StandIn) -> None:
    reddit_env.children.insert(0, {"kind": "t5", "data": {"display_name": "coffee"}})

    mentions = reddit.search_mentions("Acme Coffee", limit=3)

    assert [m.subreddit for m in mentions] == ["coffee", "CustomerService"]


def test_client_secret_post_sends_the_credentials_and_scope_in_the_body(reddit_env: StandIn) -> None:
    config = ClientCredentialsConfig.from_env(PREFIX, auth_method="client_secret_post", scope="read")
    with OAuth2Client(config) as client:
        listing = client.get_json("/search", params={"q": "acme", "limit": 1})

    assert len(listing["data"]["children"]) == 1
    [token_request] = reddit_env.token_requests
    assert token_request.form == {
        "grant_type": ["client_credentials"],
        "scope": ["read"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }
    assert "authorization" not in token_request.headers
    assert reddit_env.search_requests[0].headers["authorization"] == "bearer standin-token-1"


def test_basic_credentials_are_form_urlencoded_before_base64_as_rfc6749_says(reddit_env: StandIn) -> None:
    reddit_env.token_replies.append(Reply(200, {"access_token": "standin-token-x", "token_type": "bearer"}))
    reddit_env.api_replies.append(Reply(200, {"kind": "Listing", "data": {"children": []}}))
    config = ClientCredentialsConfig(
        token_url=reddit_env.url + TOKEN_PATH,
        api_base=reddit_env.url,
        client_id="id with space",
        client_secret="p@ss:w/rd+1",
        user_agent=USER_AGENT,
    )
    with OAuth2Client(config) as client:
        assert client.get_json("/search", params={"limit": 1}) == {"kind": "Listing", "data": {"children": []}}

    header = reddit_env.token_requests[0].headers["authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == "id+with+space:p%40ss%3Aw%2Frd%2B1"


# --------------------------------------------------------------------------- token lifetime


def test_token_is_reused_until_shortly_before_expiry_then_refreshed(
    reddit: RedditClient, reddit_env: StandIn, clock: FakeClock
) -> None:
    reddit_env.expires_in = 120  # refreshed 12 s early: a tenth of the lifetime, as it is under a minute

    reddit.search_mentions("acme", limit=1)
    clock.now += 107.9
    reddit.search_mentions("acme", limit=1)
    assert len(reddit_env.token_requests) == 1

    clock.now += 0.1
    reddit.search_mentions("acme", limit=1)
    clock.now += 50
    reddit.search_mentions("acme", limit=1)

    assert len(reddit_env.token_requests) == 2
    assert [r.headers["authorization"] for r in reddit_env.search_requests] == [
        "bearer standin-token-1",
        "bearer standin-token-1",
        "bearer standin-token-2",
        "bearer standin-token-2",
    ]


def test_a_long_lived_token_is_refreshed_a_minute_before_it_expires(
    reddit: RedditClient, reddit_env: StandIn, clock: FakeClock
) -> None:
    reddit_env.expires_in = "86400"  # a number in a string, as some providers send it

    reddit.search_mentions("acme", limit=1)
    clock.now += 86400 - 61
    reddit.search_mentions("acme", limit=1)
    assert len(reddit_env.token_requests) == 1
    clock.now += 1
    reddit.search_mentions("acme", limit=1)
    assert len(reddit_env.token_requests) == 2


def test_concurrent_callers_share_one_token_fetch(reddit: RedditClient, reddit_env: StandIn) -> None:
    reddit_env.token_delay = 0.1  # every caller arrives while the first fetch is still in flight
    results: list[list[Mention]] = []
    threads = [threading.Thread(target=lambda: results.append(reddit.search_mentions("acme", 1))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2)

    assert len(results) == 8 and all(len(r) == 1 for r in results)
    assert len(reddit_env.token_requests) == 1
    assert {r.headers["authorization"] for r in reddit_env.search_requests} == {"bearer standin-token-1"}


def test_api_401_triggers_exactly_one_refresh_and_retry(reddit: RedditClient, reddit_env: StandIn) -> None:
    reddit.search_mentions("acme", limit=1)
    reddit_env.valid.clear()  # the provider revoked token 1 before its expiry

    mentions = reddit.search_mentions("acme", limit=1)

    assert [m.subreddit for m in mentions] == ["coffee"]
    assert len(reddit_env.token_requests) == 2
    assert [r.headers["authorization"] for r in reddit_env.search_requests] == [
        "bearer standin-token-1",
        "bearer standin-token-1",
        "bearer standin-token-2",
    ]


def test_a_401_after_the_refresh_is_one_line_error_not_a_loop(reddit: RedditClient, reddit_env: StandIn) -> None:
    reddit_env.api_replies += [Reply(401, UNAUTHORIZED), Reply(401, UNAUTHORIZED)]

    exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, ApiError) and exc.status == 401
    message = assert_one_line(exc)
    assert f"GET {reddit_env.url}/search refused a freshly issued access token (401, Unauthorized)" in message
    assert len(reddit_env.token_requests) == 2
    assert len(reddit_env.search_requests) == 2


# --------------------------------------------------------------------------- errors, one line each


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        pytest.param(None, "(401)", id="reddit-401"),
        pytest.param(
            Reply(400, {"error": "invalid_client", "error_description": "bad client"}),
            "(400 invalid_client)",
            id="rfc6749-invalid-client",
        ),
    ],
)
def test_refused_credentials_say_which_variables_to_check(
    reddit_env: StandIn, monkeypatch: pytest.MonkeyPatch, reply: Reply | None, code: str
) -> None:
    monkeypatch.setenv(f"{PREFIX}_CLIENT_SECRET", "test-wrong-secret")
    if reply is not None:
        reddit_env.token_replies.append(reply)

    with RedditClient.from_env() as reddit:
        exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, CredentialsRefused)
    assert assert_one_line(exc) == (
        f"token endpoint {reddit_env.url}{TOKEN_PATH} refused the client credentials {code}:"
        " check PROMPTCONTENT_REDDIT_CLIENT_ID/SECRET"
    )
    assert reddit_env.search_requests == []


def test_unauthorized_client_points_at_the_app_type(reddit: RedditClient, reddit_env: StandIn) -> None:
    reddit_env.token_replies.append(Reply(400, {"error": "unauthorized_client"}))

    exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, CredentialsRefused)
    assert "(unauthorized_client)" in assert_one_line(exc) and "'script' or 'web app'" in str(exc)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            Reply(200, {"token_type": "bearer", "expires_in": 3600}),
            "answered 200 without an access_token",
            id="no-access-token",
        ),
        pytest.param(
            Reply(200, "<html><body>Sign in</body></html>"),
            "answered 200 with text/html, not a JSON token response: check PROMPTCONTENT_REDDIT_TOKEN_URL",
            id="not-json",
        ),
        pytest.param(
            Reply(200, {"access_token": "standin-token-mac", "token_type": "mac"}),
            "issued a token of type 'mac'; only bearer tokens are supported",
            id="wrong-token-type",
        ),
        pytest.param(
            Reply(200, {"access_token": "standin-token-z", "token_type": "bearer", "expires_in": "soon"}),
            "answered an invalid expires_in 'soon'",
            id="bad-expires-in",
        ),
        pytest.param(
            Reply(200, {"error": "unsupported_grant_type"}),
            "answered 200 with error 'unsupported_grant_type'",
            id="error-in-a-200",
        ),
        pytest.param(
            Reply(503, "<html>Our CDN was unable to reach our servers</html>"),
            "answered 503 Service Unavailable",
            id="server-error",
        ),
    ],
)
def test_unusable_token_responses_are_one_line_errors(
    reddit: RedditClient, reddit_env: StandIn, reply: Reply, expected: str
) -> None:
    reddit_env.token_replies.append(reply)

    exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert type(exc) is TokenError
    assert assert_one_line(exc).startswith(f"token endpoint {reddit_env.url}{TOKEN_PATH} ")
    assert expected in str(exc)
    assert reddit_env.search_requests == []


def test_a_redirecting_token_endpoint_is_not_followed(reddit: RedditClient, reddit_env: StandIn) -> None:
    reddit_env.token_replies.append(Reply(302, "", {"Location": reddit_env.url + "/elsewhere"}))

    exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, TokenError)
    assert f"redirected to {reddit_env.url}/elsewhere (302)" in assert_one_line(exc)
    assert reddit_env.seen("POST", "/elsewhere") == reddit_env.seen("GET", "/elsewhere") == []


def _in_30_seconds() -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        pytest.param({"Retry-After": "7"}, 7.0, id="seconds"),
        pytest.param({"X-Ratelimit-Reset": "42", "X-Ratelimit-Remaining": "0"}, 42.0, id="reddit-reset-header"),
        pytest.param(None, 30.0, id="http-date"),
    ],
)
def test_api_429_reports_when_to_retry(
    reddit: RedditClient, reddit_env: StandIn, headers: dict[str, str] | None, retry_after: float
) -> None:
    reddit_env.api_replies.append(Reply(429, {"message": "Too Many Requests", "error": 429}, headers or {}))
    if headers is None:
        reddit_env.api_replies[-1].headers["Retry-After"] = _in_30_seconds()

    exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, RateLimited)
    assert exc.retry_after == pytest.approx(retry_after, abs=2)
    host = reddit_env.url.removeprefix("http://")
    assert exc.host == host
    assert assert_one_line(exc).startswith(f"GET {reddit_env.url}/search is rate limited by {host} (429): retry after")
    assert len(reddit_env.search_requests) == 1  # no silent retry: the caller decides when


def test_token_endpoint_429_without_a_hint_says_retry_later(reddit: RedditClient, reddit_env: StandIn) -> None:
    reddit_env.token_replies.append(Reply(429, "Too Many Requests"))

    exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, RateLimited) and exc.retry_after is None
    assert assert_one_line(exc).endswith("(429): retry later")
    assert "token endpoint" in str(exc)


def test_api_errors_carry_the_providers_own_message(reddit: RedditClient, reddit_env: StandIn) -> None:
    reddit_env.api_replies.append(Reply(403, {"message": "Forbidden", "reason": "private", "error": 403}))

    exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, ApiError) and exc.status == 403
    assert assert_one_line(exc) == f"GET {reddit_env.url}/search answered 403 Forbidden: Forbidden"


def test_a_body_that_is_not_a_listing_is_reported(reddit: RedditClient, reddit_env: StandIn) -> None:
    reddit_env.api_replies.append(Reply(200, {"kind": "t2", "data": {"name": "someone"}}))

    exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, ApiError)
    assert "is not a Reddit listing (no data.children)" in assert_one_line(exc)


def test_a_post_missing_a_field_is_reported_with_its_path(reddit: RedditClient, reddit_env: StandIn) -> None:
    broken = {key: value for key, value in POSTS[0].items() if key != "num_comments"}
    reddit_env.children = [{"kind": "t3", "data": broken}]

    exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, ApiError)
    assert "data.children[0].data.num_comments" in assert_one_line(exc)


def test_an_unreachable_host_is_named_and_the_secret_is_not(
    monkeypatch: pytest.MonkeyPatch, reddit_env: StandIn
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, then released
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(f"{PREFIX}_TOKEN_URL", f"http://127.0.0.1:{port}{TOKEN_PATH}")

    with RedditClient.from_env() as reddit:
        exc = raised(lambda: reddit.search_mentions("acme", limit=1))

    assert isinstance(exc, NetworkError) and exc.host == f"127.0.0.1:{port}"
    message = assert_one_line(exc)
    assert f"POST http://127.0.0.1:{port}{TOKEN_PATH}: cannot reach 127.0.0.1:{port} (" in message
    assert message.endswith("check the network, the proxy settings and PROMPTCONTENT_REDDIT_TOKEN_URL")
    assert CLIENT_SECRET not in "".join(traceback.format_exception(exc))


def test_missing_variables_are_all_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for suffix in ("CLIENT_ID", "CLIENT_SECRET", "USER_AGENT", "TOKEN_URL", "API_BASE"):
        monkeypatch.delenv(f"{PREFIX}_{suffix}", raising=False)
    monkeypatch.setenv(f"{PREFIX}_CLIENT_SECRET", "   ")  # blank counts as missing

    exc = raised(RedditClient.from_env)

    assert isinstance(exc, ConfigError)
    assert assert_one_line(exc) == (
        "missing environment variables PROMPTCONTENT_REDDIT_CLIENT_ID, PROMPTCONTENT_REDDIT_CLIENT_SECRET,"
        " PROMPTCONTENT_REDDIT_USER_AGENT: register a 'script' or 'web app' at https://www.reddit.com/prefs/apps;"
        " see docs/external-api.md"
    )


def test_reddit_urls_are_the_defaults_and_a_generic_provider_must_name_its_own() -> None:
    env = {f"{PREFIX}_CLIENT_ID": CLIENT_ID, f"{PREFIX}_CLIENT_SECRET": CLIENT_SECRET, f"{PREFIX}_USER_AGENT": "x"}

    reddit = RedditClient.from_env(env)
    assert (reddit.oauth.config.token_url, reddit.oauth.config.api_base) == (
        "https://www.reddit.com/api/v1/access_token",
        "https://oauth.reddit.com",
    )
    reddit.close()
    exc = raised(lambda: ClientCredentialsConfig.from_env(PREFIX, environ=env))
    assert str(exc).startswith(
        "missing environment variables PROMPTCONTENT_REDDIT_TOKEN_URL, PROMPTCONTENT_REDDIT_API_BASE:"
    )


@pytest.mark.parametrize(
    ("variable", "url", "expected"),
    [
        ("TOKEN_URL", "http://www.reddit.com/api/v1/access_token", "must use https:// (plain http only for localhost)"),
        ("API_BASE", "ftp://oauth.reddit.com", "must be an absolute https:// URL"),
        ("API_BASE", "https://user:pw@oauth.reddit.com", "must not hold credentials in the URL"),
    ],
)
def test_urls_that_would_leak_the_secret_or_token_are_refused(variable: str, url: str, expected: str) -> None:
    env = {
        f"{PREFIX}_CLIENT_ID": CLIENT_ID,
        f"{PREFIX}_CLIENT_SECRET": CLIENT_SECRET,
        f"{PREFIX}_USER_AGENT": USER_AGENT,
        f"{PREFIX}_{variable}": url,
    }

    exc = raised(lambda: RedditClient.from_env(env))

    assert isinstance(exc, ConfigError)
    assert assert_one_line(exc).startswith(f"{PREFIX}_{variable} {expected}")


@pytest.mark.parametrize(("brand", "limit"), [("   ", 5), ("acme", 0), ("acme", 101), ("a" * 513, 5)])
def test_bad_search_arguments_fail_before_any_request(
    reddit: RedditClient, reddit_env: StandIn, brand: str, limit: int
) -> None:
    exc = raised(lambda: reddit.search_mentions(brand, limit))

    assert isinstance(exc, InputError)
    assert_one_line(exc)
    assert reddit_env.requests == []


def test_an_api_path_cannot_send_the_token_to_another_host(reddit_env: StandIn) -> None:
    with OAuth2Client(ClientCredentialsConfig.from_env(PREFIX)) as client:
        exc = raised(lambda: client.get_json("//evil.example/steal"))

    assert isinstance(exc, InputError)
    assert reddit_env.requests == []


# --------------------------------------------------------------------------- secrets stay secret


def test_secrets_never_appear_in_exceptions_reprs_or_logs(
    reddit_env: StandIn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", oauth_client.__name__):
        caplog.set_level(logging.DEBUG, logger=name)
    reddit_env.expires_in = 120
    clock = FakeClock()
    failures: list[BaseException] = []

    with RedditClient.from_env(clock=clock) as reddit:
        reddit.search_mentions("acme", limit=1)
        reddit_env.valid.clear()
        reddit.search_mentions("acme", limit=1)  # 401, refresh, retry
        clock.now += 200
        reddit.search_mentions("acme", limit=1)  # expired, refresh
        echoed = f"client_secret={CLIENT_SECRET} token={reddit_env.issued[-1]} basic={BASIC_CREDENTIALS}"
        reddit_env.api_replies += [Reply(400, {"message": echoed}), Reply(401, UNAUTHORIZED), Reply(401, UNAUTHORIZED)]
        failures.append(raised(lambda: reddit.search_mentions("acme", limit=1)))
        failures.append(raised(lambda: reddit.search_mentions("acme", limit=1)))
        reddit_env.token_replies.append(Reply(400, {"error": "invalid_request", "error_description": echoed}))
        clock.now += 200  # expired again: the next call asks the token endpoint, which echoes the secrets
        failures.append(raised(lambda: reddit.search_mentions("acme", limit=1)))
        reprs = [repr(reddit), repr(reddit.oauth), repr(reddit.oauth.config), repr(reddit.oauth._token)]
    monkeypatch.setenv(f"{PREFIX}_CLIENT_SECRET", "test-wrong-secret")
    with RedditClient.from_env() as reddit:
        failures.append(raised(lambda: reddit.search_mentions("acme", limit=1)))

    secrets = [CLIENT_SECRET, "test-wrong-secret", BASIC_CREDENTIALS, *reddit_env.issued]
    assert len(reddit_env.issued) == 4
    assert "client_secret=*** token=*** basic=***" in str(failures[0])  # the server's echo, redacted
    texts = reprs + ["".join(traceback.format_exception(exc)) + repr(exc) for exc in failures]
    texts += [f"{record.getMessage()} {record.args!r}" for record in caplog.records]
    leaks = [(secret, text) for secret in secrets for text in texts if secret in text]
    assert leaks == []
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"httpx", "httpcore", "mcp_servers"} <= loggers  # the capture did see every library's DEBUG lines


# --------------------------------------------------------------------------- command line


def test_cli_prints_the_mentions_and_exits_0(reddit_env: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    status = oauth_client.main(["search", "Acme Coffee", "--limit", "2"])

    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[:4] == [
        "2026-01-01 00:00Z  r/coffee  42 points, 7 comments  Acme Coffee's new cold brew is great",
        "    https://www.reddit.com/r/coffee/comments/abc123/acme_coffees_new_cold_brew_is_great/",
        "2025-12-31 00:00Z  r/CustomerService  -3 points, 15 comments  Anyone else had a bad order from Acme Coffee?",
        "    https://www.reddit.com/r/CustomerService/comments/def456/anyone_else_had_a_bad_order_from_acme_coffee/",
    ]
    assert lines[4].startswith("2 mentions of 'Acme Coffee' on Reddit (newest first, limit 2) in ")
    assert len(lines) == 5


def test_cli_flattens_untrusted_titles_to_one_line(reddit_env: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    reddit_env.children = [{"kind": "t3", "data": {**POSTS[0], "title": "Acme\n\x1b[31mred\x1b[0m\tnews"}}]

    assert oauth_client.main(["search", "acme", "--limit", "1"]) == 0

    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("7 comments  Acme [31mred [0m news")
    assert "\x1b" not in first


def test_cli_error_is_one_line_on_stderr_and_exit_1(
    reddit_env: StandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{PREFIX}_CLIENT_SECRET", "test-wrong-secret")

    status = oauth_client.main(["search", "acme"])

    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    assert err == (
        f"error: token endpoint {reddit_env.url}{TOKEN_PATH} refused the client credentials (401):"
        " check PROMPTCONTENT_REDDIT_CLIENT_ID/SECRET\n"
    )


def test_cli_as_a_module_names_the_missing_variables_and_exits_1() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(PREFIX)}

    result = subprocess.run(
        [sys.executable, "-m", "mcp_servers.oauth_client", "search", "acme", "--limit", "5"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(
        "error: missing environment variables PROMPTCONTENT_REDDIT_CLIENT_ID, PROMPTCONTENT_REDDIT_CLIENT_SECRET,"
        " PROMPTCONTENT_REDDIT_USER_AGENT: "
    )
    assert result.stderr.count("\n") == 1


# --------------------------------------------------------------------------- the real Reddit (opt-in)


@pytest.mark.skipif(
    not os.environ.get(f"{PREFIX}_CLIENT_ID"),
    reason=(
        "PROMPTCONTENT_REDDIT_CLIENT_ID is not set: no Reddit app to call (the stand-in tests cover the wire format);"
        " set PROMPTCONTENT_REDDIT_CLIENT_ID, _CLIENT_SECRET and _USER_AGENT to call the real Reddit API"
    ),
)
def test_real_reddit_search_returns_recent_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(f"{PREFIX}_TOKEN_URL", raising=False)  # the real endpoints, never a stand-in override
    monkeypatch.delenv(f"{PREFIX}_API_BASE", raising=False)

    with RedditClient.from_env() as reddit:
        mentions = reddit.search_mentions("python", limit=3)

    assert 1 <= len(mentions) <= 3
    assert all(m.permalink.startswith("https://www.reddit.com/r/") for m in mentions)
    assert all(m.created_utc.tzinfo is not None for m in mentions)
    assert [m.created_utc for m in mentions] == sorted((m.created_utc for m in mentions), reverse=True)
