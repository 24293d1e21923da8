"""The Redis cache on the real local Redis: TTLs, encodings, size caps, versions, sessions, single-flight and the
token bucket under parallel clients. Every test works under its own namespace and deletes its keys."""

from __future__ import annotations

import base64
import copy
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from generators.model_cache import CacheModel, load_cache_model
from mcp_servers.cache import Cache, CacheError, CacheUnavailable, RateLimiter, canonical_sha256, redis_url

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
RAW_DESIGN: dict[str, Any] = yaml.safe_load((ROOT / "model" / "cache.yaml").read_text(encoding="utf-8"))
SESSION_ID = "s" * 8 + "Q2xpZW50U2Vzc2lvbg"  # 26 URL-safe characters, like a real random id


def design_under(namespace: str, change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The committed design moved to `namespace` (and optionally changed), as raw YAML data."""
    raw = copy.deepcopy(RAW_DESIGN)
    old = f"{raw['namespace']}:"

    def move(value: str) -> str:
        assert value.startswith(old)
        return f"{namespace}:{value[len(old) :]}"

    raw["namespace"] = namespace
    raw["counters"]["key"] = move(raw["counters"]["key"])
    for kind in raw["key_kinds"]:
        kind["prefix"], kind["key"] = move(kind["prefix"]), move(kind["key"])
    for version_key in raw["version_keys"]:
        version_key["key"] = move(version_key["key"])
    if change:
        change(raw)
    return raw


@pytest.fixture(scope="module")
def url() -> str:
    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {url} ({exc}); run `make services` or set PROMPTSALES_REDIS_URL")
    return url


@pytest.fixture
def namespace(url: str) -> Iterator[str]:
    """A namespace of this test only; every key under it is deleted afterwards."""
    ns = f"t{uuid.uuid4().hex[:12]}"
    yield ns
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{ns}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def client(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url)
    yield client
    client.close()


@pytest.fixture
def design(namespace: str) -> CacheModel:
    return load_cache_model(design_under(namespace), "test design")


@pytest.fixture
def cache(client: redis.Redis, design: CacheModel) -> Cache:
    return Cache(client, design)


@pytest.fixture
def limiter(client: redis.Redis, design: CacheModel) -> RateLimiter:
    return RateLimiter(client, design)


MCP = {"server": "sales", "tool": "campaignReach"}


# --------------------------------------------------------------------------- keys


def test_keys_follow_the_pattern_and_hash_arguments_canonically(cache: Cache, namespace: str) -> None:
    key = cache.key("mcp_result", **MCP, args={"campaign": 17, "metrics": ["reach", "sales"]})
    same = cache.key("mcp_result", **MCP, args={"metrics": ["reach", "sales"], "campaign": 17})
    other = cache.key("mcp_result", **MCP, args={"campaign": 18, "metrics": ["reach", "sales"]})
    digest = canonical_sha256({"campaign": 17, "metrics": ["reach", "sales"]})
    assert key == same == f"{namespace}:mcp:sales:campaignReach:v0:{digest}"
    assert other != key
    assert cache.key("session", session_id=SESSION_ID) == f"{namespace}:sess:{SESSION_ID}"


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (
            {"server": "sales:x", "tool": "t", "args": {}},
            "cache kind 'mcp_result': server='sales:x' does not match ^(ads|content|crm|sales)$",
        ),
        ({"tool": "t", "args": {}}, "cache kind 'mcp_result': missing 'server' (its key takes: server, tool, args)"),
        ({"server": "sales", "tool": "t"}, "cache kind 'mcp_result': missing 'args' (hashed into its key)"),
        (
            {"server": "sales", "tool": "t", "args": {}, "version": 3},
            "cache kind 'mcp_result': 'version' is filled by the cache, do not pass it",
        ),
        (
            {"server": "sales", "tool": "t", "args": {}, "page": 2},
            "cache kind 'mcp_result': unexpected 'page' (its key takes: server, tool, args)",
        ),
        (
            {"server": "sales", "tool": "t", "args": {"when": object()}},
            "cache arguments must be plain JSON",
        ),
    ],
)
def test_bad_key_parts_fail_with_one_line(cache: Cache, parts: dict[str, Any], message: str) -> None:
    with pytest.raises(CacheError) as info:
        cache.key("mcp_result", **parts)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_unreachable_redis_names_the_url_without_the_password(design: CacheModel) -> None:
    cache = Cache(design=design, url="redis://reader:hunter2@127.0.0.1:1/0")
    with pytest.raises(CacheUnavailable) as info:
        cache.get("session", session_id=SESSION_ID)
    message = str(info.value)
    assert message.startswith("Redis is not reachable at redis://reader:***@127.0.0.1:1/0 (")
    assert "hunter2" not in message and "\n" not in message
    limiter = RateLimiter(design=design, url="redis://reader:hunter2@127.0.0.1:1/0")
    with pytest.raises(CacheUnavailable, match=r"redis://reader:\*\*\*@127\.0\.0\.1:1/0"):
        limiter.allow("mcp_client", "agent-1")


# --------------------------------------------------------------------------- values


def test_round_trip_sets_each_kinds_ttl(cache: Cache, client: redis.Redis, design: CacheModel) -> None:
    answer = {"campaign": 17, "reach": 120_431, "success_pct": 3.25, "channels": ["email", "linkedin"]}
    cases: list[tuple[str, dict[str, Any]]] = [
        ("mcp_result", {**MCP, "args": {"campaign": 17}}),
        ("rest_response", {"api": "social_metrics", "endpoint": "post_stats", "args": {"post": "p1"}}),
        ("ai_generation", {"task": "campaign_messages", "ai_model": "gpt-4o-mini", "args": {"audience": "smb"}}),
        ("session", {"session_id": SESSION_ID}),
    ]
    for kind, parts in cases:
        assert cache.get(kind, **parts) is None
        result = cache.set(kind, answer, **parts)
        assert result.stored and result.reason == "stored"
        assert cache.get(kind, **parts) == answer
        ttl = client.ttl(result.key)
        assert design.kind_map[kind].ttl_seconds - 2 <= ttl <= design.kind_map[kind].ttl_seconds, (kind, ttl)
        assert (
            client.get(result.key)
            == b'{"campaign":17,"reach":120431,"success_pct":3.25,"channels":["email","linkedin"]}'
        )
    assert cache.counters["mcp_result.miss"] == 1 and cache.counters["mcp_result.hit"] == 1


def test_large_values_are_compressed_and_still_read_back(cache: Cache, client: redis.Redis) -> None:
    rows = [{"campaign": i, "channel": "email", "reach": i * 37, "revenue": i * 1.5} for i in range(2_000)]
    result = cache.set("mcp_result", {"rows": rows, "truncated": False}, **MCP, args={"all": True})
    raw = client.get(result.key)
    assert result.stored and raw is not None and raw[:1] == b"x"  # a zlib stream, not JSON
    assert result.size_bytes == len(raw) < 120_000 // 4  # the JSON is about 120 kB
    assert cache.get("mcp_result", **MCP, args={"all": True}) == {"rows": rows, "truncated": False}


def test_expired_entries_are_misses(cache: Cache, client: redis.Redis) -> None:
    key = cache.set("ai_generation", {"draft": "hello"}, task="t", ai_model="m", args={}).key
    client.pexpire(key, 30)
    time.sleep(0.08)
    assert cache.get("ai_generation", task="t", ai_model="m", args={}) is None
    assert client.exists(key) == 0


def test_values_over_the_cap_are_not_stored_and_are_counted(
    cache: Cache, client: redis.Redis, design: CacheModel
) -> None:
    # Random bytes barely compress, so this stays over 256 KiB after zlib.
    blob = base64.b64encode(os.urandom(300 * 1024)).decode()
    result = cache.set("mcp_result", {"blob": blob}, **MCP, args={"huge": True})
    assert not result.stored and result.reason == "oversized"
    assert result.size_bytes > result.limit_bytes == 262_144
    assert client.exists(result.key) == 0
    assert cache.counters["mcp_result.oversized"] == 1
    assert client.hget(design.counters.key, "mcp_result.oversized") == b"1"
    # Computed but uncacheable: every call computes, none claims to be cached.
    calls: list[int] = []
    for _ in range(2):
        value, cached = cache.get_or_compute("mcp_result", lambda: calls.append(1) or {"blob": blob}, **MCP, args={})
        assert value == {"blob": blob} and not cached
    assert len(calls) == 2 and client.hget(design.counters.key, "mcp_result.oversized") == b"3"
    # Sessions are plain JSON capped at 16 KiB.
    assert not cache.set("session", {"notes": "n" * 17_000}, session_id=SESSION_ID).stored


def test_a_session_ttl_slides_on_read_and_a_cache_ttl_does_not(cache: Cache, client: redis.Redis) -> None:
    session_key = cache.set("session", {"client": "agent-1", "scopes": ["sales:read"]}, session_id=SESSION_ID).key
    client.pexpire(session_key, 5_000)  # as if the session had been idle for almost 30 minutes
    assert cache.get("session", session_id=SESSION_ID) == {"client": "agent-1", "scopes": ["sales:read"]}
    assert client.pttl(session_key) > 1_799_000
    ai_key = cache.set("ai_generation", {"draft": "x"}, task="t", ai_model="m", args={}).key
    client.pexpire(ai_key, 5_000)
    assert cache.get("ai_generation", task="t", ai_model="m", args={}) == {"draft": "x"}
    assert client.pttl(ai_key) <= 5_000
    assert cache.delete("session", session_id=SESSION_ID) and cache.get("session", session_id=SESSION_ID) is None


def test_bumping_a_version_makes_old_answers_unreachable(cache: Cache, client: redis.Redis) -> None:
    computed: list[str] = []

    def answer(label: str) -> Callable[[], dict[str, str]]:
        return lambda: computed.append(label) or {"answer": label}

    assert cache.get_or_compute("mcp_result", answer("before"), **MCP, args={"c": 1}) == ({"answer": "before"}, False)
    assert cache.get_or_compute("mcp_result", answer("again"), **MCP, args={"c": 1}) == ({"answer": "before"}, True)
    ads = {"server": "ads", "tool": "campaignAds", "args": {"c": 1}}
    assert cache.get_or_compute("mcp_result", answer("ads"), **ads) == ({"answer": "ads"}, False)
    old_key = cache.key("mcp_result", **MCP, args={"c": 1})

    assert cache.version("sales") == 0
    assert cache.bump_version("sales") == 1  # what the ETL does after advancing a watermark
    assert cache.version("sales") == 1 and client.ttl(cache.version_key("sales")) == -1  # never expires
    new_key = cache.key("mcp_result", **MCP, args={"c": 1})
    assert new_key != old_key and ":v1:" in new_key
    assert cache.get_or_compute("mcp_result", answer("after"), **MCP, args={"c": 1}) == ({"answer": "after"}, False)
    assert client.ttl(old_key) > 0  # the old entry is unreachable and left to expire by its TTL
    assert cache.get_or_compute("mcp_result", answer("ads2"), **ads) == ({"answer": "ads"}, True)  # other store
    assert computed == ["before", "ads", "after"]


def test_single_flight_computes_once_for_32_threads(cache: Cache, client: redis.Redis) -> None:
    threads, start = 32, threading.Barrier(32)
    calls: list[float] = []
    results: list[tuple[Any, bool]] = []
    lock = threading.Lock()

    def compute() -> dict[str, int]:
        calls.append(time.monotonic())
        time.sleep(0.3)  # a slow query
        return {"reach": 42}

    def agent() -> None:
        start.wait()
        outcome = cache.get_or_compute("mcp_result", compute, **MCP, args={"same": "question"})
        with lock:
            results.append(outcome)

    began = time.monotonic()
    workers = [threading.Thread(target=agent) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=10)
    elapsed = time.monotonic() - began
    assert len(calls) == 1
    assert len(results) == threads and all(value == {"reach": 42} for value, _ in results)
    assert sorted(cached for _, cached in results) == [False] + [True] * (threads - 1)
    assert elapsed < 1.5, f"waiters should read the answer soon after it is stored, took {elapsed:.2f} s"
    assert client.exists(cache.key("mcp_result", **MCP, args={"same": "question"}) + ":lock") == 0


def test_a_failed_computation_releases_the_lock_at_once(cache: Cache, client: redis.Redis) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("the store timed out")

    with pytest.raises(RuntimeError, match="timed out"):
        cache.get_or_compute("mcp_result", broken, **MCP, args={"q": 1})
    assert client.exists(cache.key("mcp_result", **MCP, args={"q": 1}) + ":lock") == 0
    began = time.monotonic()
    assert cache.get_or_compute("mcp_result", lambda: {"ok": 1}, **MCP, args={"q": 1}) == ({"ok": 1}, False)
    assert time.monotonic() - began < 0.5  # no waiting for a lock nobody holds


# --------------------------------------------------------------------------- rate limits


def hammer(
    url: str,
    raw_design: dict[str, Any],
    bucket: str,
    client_id: str,
    seconds: float,
    start: Any,
    results: Any,
) -> None:
    """One client (own process or thread, own connection): call allow() as fast as it can for `seconds`."""
    client = redis.Redis.from_url(url)
    limiter = RateLimiter(client, load_cache_model(raw_design, "test design"))
    client.ping()
    start.wait()
    deadline = time.monotonic() + seconds
    count, first, last, allowed = 0, (0.0, 0.0), (0.0, 0.0), []
    while (t0 := time.monotonic()) < deadline:
        decision = limiter.allow(bucket, client_id)
        t1 = time.monotonic()
        first = first if count else (t0, t1)
        last, count = (t0, t1), count + 1
        if decision.allowed:
            allowed.append((t0, t1, decision.remaining))
    results.put((count, first, last, allowed))
    client.close()


def check_bucket(outcomes: list[Any], capacity: int, rate: float, *, burst: bool = True) -> dict[str, float]:
    """Compare what the clients were allowed with capacity + refill x elapsed; returns the measured numbers."""
    first_start = min(o[1][0] for o in outcomes)
    first_end = min(o[1][1] for o in outcomes)
    last_start = max(o[2][0] for o in outcomes)
    last_end = max(o[2][1] for o in outcomes)
    allowed = sorted((a for o in outcomes for a in o[3]), key=lambda a: a[1])
    # First instant: before one token can refill (1/rate), exactly `capacity` calls get through, each its own token.
    if burst:
        instant = [a for a in allowed if a[1] < first_start + 0.75 / rate]
        assert len(instant) == capacity, (len(instant), capacity)
        assert sorted(a[2] for a in instant) == list(range(capacity))
    # At no moment did the clients together get more than the bucket could have held.
    for i, (_, t1, _) in enumerate(allowed):
        assert i + 1 <= capacity + rate * (t1 - first_start) + 1e-9, (i, t1 - first_start)
    # Over the window: capacity + rate x elapsed, the elapsed time bracketed by the clients' clocks.
    low = capacity + rate * (last_start - first_end)
    high = capacity + rate * (last_end - first_start)
    assert low - 1 < len(allowed) <= high + 1e-9, (len(allowed), low, high)
    return {
        "requests": sum(o[0] for o in outcomes),
        "allowed": len(allowed),
        "expected": capacity + rate * (last_end - first_start),
        "elapsed": last_end - first_start,
    }


def test_sixteen_processes_share_one_bucket_exactly(url: str, namespace: str, design: CacheModel) -> None:
    limit = design.rate_limit_map["mcp_client"]
    context = multiprocessing.get_context("fork")  # children start in milliseconds with the modules loaded
    processes_count = 16
    start, results = context.Barrier(processes_count), context.Queue()
    args = (url, design_under(namespace), "mcp_client", "agent-hot", 2.5, start, results)
    processes = [context.Process(target=hammer, args=args) for _ in range(processes_count)]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=20) for _ in processes]
    for p in processes:
        p.join(timeout=5)
    numbers = check_bucket(outcomes, limit.capacity, limit.refill_per_second)
    print(
        f"\nrate limit {limit.name} ({limit.capacity}, {limit.refill_per_second:g}/s): {processes_count} processes, "
        f"{numbers['requests']:,.0f} requests in {numbers['elapsed']:.3f} s, allowed {numbers['allowed']:.0f}, "
        f"expected {numbers['expected']:.2f}"
    )
    assert numbers["requests"] > 20 * numbers["allowed"]  # the bucket was under real pressure


def test_refill_rate_holds_under_parallel_threads(url: str, namespace: str) -> None:
    def fast(raw: dict[str, Any]) -> None:
        bucket = next(r for r in raw["rate_limits"] if r["name"] == "mcp_client")
        bucket["capacity"], bucket["refill_per_second"] = 50, 200

    raw = design_under(namespace, fast)
    threads_count, start = 8, threading.Barrier(8)
    outcomes: list[Any] = []

    class Results:
        def put(self, item: Any) -> None:
            outcomes.append(item)

    threads = [
        threading.Thread(target=hammer, args=(url, raw, "mcp_client", "agent-fast", 1.0, start, Results()))
        for _ in range(threads_count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    numbers = check_bucket(outcomes, 50, 200, burst=False)  # 50 tokens cannot all go in 1/200 s
    print(
        f"\nrate limit (50, 200/s): {threads_count} threads, {numbers['requests']:,.0f} requests in "
        f"{numbers['elapsed']:.3f} s, allowed {numbers['allowed']:.0f}, expected {numbers['expected']:.2f}"
    )


def test_separate_clients_have_separate_buckets(limiter: RateLimiter) -> None:
    first = [limiter.allow("mcp_client", "agent-a").allowed for _ in range(25)]
    second = [limiter.allow("mcp_client", "agent-b").allowed for _ in range(25)]
    other_bucket = [limiter.allow("external_api", "agent-a").allowed for _ in range(12)]
    assert first[:20] == [True] * 20 and not any(first[20:])
    assert second[:20] == [True] * 20 and not any(second[20:])
    assert other_bucket[:10] == [True] * 10 and not any(other_bucket[10:])


def test_retry_after_is_consistent_and_idle_buckets_expire(limiter: RateLimiter, client: redis.Redis) -> None:
    decisions = [limiter.allow("mcp_client", "agent-r") for _ in range(20)]
    assert [d.remaining for d in decisions] == list(range(19, -1, -1))
    denied = limiter.allow("mcp_client", "agent-r")
    assert not denied.allowed and denied.remaining == 0
    assert 0 < denied.retry_after_seconds <= 1 / 5  # one token refills every 0.2 s
    time.sleep(denied.retry_after_seconds / 2)
    halfway = limiter.allow("mcp_client", "agent-r")
    assert not halfway.allowed and 0 < halfway.retry_after_seconds < denied.retry_after_seconds
    time.sleep(halfway.retry_after_seconds + 0.01)
    assert limiter.allow("mcp_client", "agent-r").allowed
    key = limiter.key("mcp_client", "agent-r")
    assert set(client.hgetall(key)) == {b"tokens", b"ts"}
    assert 119_000 < client.pttl(key) <= 120_000  # an idle bucket disappears after the kind's TTL
    with pytest.raises(CacheError, match="unknown rate limit 'mcp_clients'"):
        limiter.allow("mcp_clients", "agent-r")
    with pytest.raises(CacheError, match=r"cost 21 is outside 1\.\.20"):
        limiter.allow("mcp_client", "agent-r", cost=21)


def test_cached_answers_come_back_well_inside_the_400_ms_target(cache: Cache) -> None:
    rows = [{"campaign": i, "channel": "email", "reach": i * 37, "revenue": i * 1.5} for i in range(2_000)]
    cache.get_or_compute("mcp_result", lambda: {"rows": rows}, **MCP, args={"report": "all"})
    timings = []
    for _ in range(100):
        began = time.perf_counter()
        value, cached = cache.get_or_compute("mcp_result", lambda: {"rows": []}, **MCP, args={"report": "all"})
        timings.append(time.perf_counter() - began)
        assert cached and len(value["rows"]) == 2_000
    timings.sort()
    # A hit is two round trips (version, value) and a decompression: the median is a small fraction of the
    # 400 ms target and even the slowest of 100 (a scheduler hiccup) keeps half of it in reserve.
    assert timings[50] < 0.4 / 20 and timings[-1] < 0.4 / 2, (timings[50], timings[-1])
    print(f"\ncached 120 kB answer: median {timings[50] * 1000:.2f} ms, slowest {timings[-1] * 1000:.2f} ms")
