"""The MCP servers' Redis cache: keys, TTLs, encodings, single-flight, versions and rate limits (model/cache.yaml).

One design file (model/cache.yaml, validated by generators.model_cache) decides every key; this module only
implements it over a `redis.Redis` client:

    cache = Cache()                                   # PROMPTSALES_REDIS_URL, the committed design
    answer, cached = cache.get_or_compute("mcp_result", run_query, server="sales", tool="campaignReach", args=args)
    cache.bump_version("sales")                       # what the delta ETL calls after advancing a watermark
    decision = RateLimiter().allow("mcp_client", client_id)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

import redis

from generators.model import load_any_model
from generators.model_cache import BUILTIN_PLACEHOLDERS, CacheModel, KeyKind, RateLimit, pattern_placeholders

ROOT = Path(__file__).resolve().parent.parent
DESIGN_FILE = ROOT / "model" / "cache.yaml"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
URL_VARIABLE = "PROMPTSALES_REDIS_URL"
ZLIB_LEVEL = 1
"""Fast compression: JSON shrinks several-fold even at level 1, and a cached answer must stay far below 400 ms."""
WAIT_FIRST_SECONDS = 0.005
WAIT_MAX_SECONDS = 0.05
"""How a single-flight waiter polls: 5 ms doubling to 50 ms, so 300 waiters cost Redis a few thousand GETs/s at most."""

_UNSAFE_PART = re.compile(r"[:{}\s*?\[\]]")
"""Characters a key part may never hold, whatever its pattern: segment separator, glob and brace characters."""

# The token bucket, atomically: refill from the elapsed Redis time, take `cost` tokens if there are enough,
# store tokens and timestamp, set the idle TTL. Redis time (not the caller's clock) so every pod agrees.
_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local refill_per_us = tonumber(ARGV[2]) / 1000000
local ttl_ms = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * refill_per_us)
  ts = now
end
local allowed = 0
local wait_us = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait_us = math.ceil((cost - tokens) / refill_per_us)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%d', ts))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return {allowed, string.format('%.17g', tokens), wait_us}
"""

# Release a single-flight lock only if it is still ours (it may have expired and been taken by another).
_RELEASE_LOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class CacheError(Exception):
    """A cache call a user can get wrong (unknown kind, bad key part, Redis refusing); the message is one line."""


class CacheUnavailable(CacheError):
    """Redis cannot be reached; the message names the URL without its password."""


@dataclass(frozen=True)
class StoreResult:
    """What `Cache.set` did: stored, or not stored because the encoded value is over the kind's cap."""

    stored: bool
    key: str
    size_bytes: int
    limit_bytes: int
    reason: Literal["stored", "oversized"]


@dataclass(frozen=True)
class Decision:
    """A rate-limit decision: whether the call may go ahead, whole tokens left, and when to retry if not."""

    allowed: bool
    remaining: int
    retry_after_seconds: float


# --------------------------------------------------------------------------- connection and design


def redis_url() -> str:
    """The Redis URL from PROMPTSALES_REDIS_URL, or the local default."""
    return os.environ.get(URL_VARIABLE) or DEFAULT_REDIS_URL


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # IPv6
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _describe(client: redis.Redis) -> str:
    """A password-free URL for a client that was not built from a URL here."""
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def connect(url: str | None = None) -> redis.Redis:
    """A client for `url` (default PROMPTSALES_REDIS_URL); bytes in, bytes out, short timeouts."""
    url = url or redis_url()
    try:
        # 2 s: a dead Redis becomes one clear error quickly, while a briefly slow one (a failover) is still waited for.
        return redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0, decode_responses=False)
    except ValueError as exc:
        raise CacheError(f"invalid Redis URL {redact(url)}: {exc} (set {URL_VARIABLE})") from None


def load_design(path: Path = DESIGN_FILE) -> CacheModel:
    """The validated key design; raises generators.model.ModelError (one line) when the file is broken."""
    model = load_any_model(path, root=ROOT)
    if not isinstance(model, CacheModel):
        raise CacheError(f"{path}: is a {type(model).__name__}, not the Redis key design (dialect: redis)")
    return model


class _RedisDesign:
    """What Cache and RateLimiter share: the client, the design, and one-line errors."""

    def __init__(self, client: redis.Redis | None, design: CacheModel | None, url: str | None) -> None:
        if client is None:
            url = url or redis_url()
            client = connect(url)
            self.url = redact(url)
        else:
            self.url = redact(url) if url else _describe(client)
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise CacheError(f"the Redis client for {self.url} decodes responses; the cache stores bytes")
        self.redis = client
        self.design = design or load_design()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise CacheUnavailable(
                f"Redis is not reachable at {self.url} ({exc}); run `make services` or set {URL_VARIABLE}"
            ) from None
        except redis.RedisError as exc:
            raise CacheError(f"Redis at {self.url} refused {what}: {exc}") from None

    def _kind(self, name: str) -> KeyKind:
        kind = self.design.kind_map.get(name)
        if kind is None:
            known = ", ".join(sorted(self.design.kind_map))
            raise CacheError(f"unknown cache kind {name!r} (known: {known})")
        return kind

    def _format(self, kind: KeyKind, parts: dict[str, Any], computed: dict[str, str]) -> str:
        """Fill the kind's pattern from caller parts (checked against their patterns) and computed parts."""
        names = kind.placeholders
        given = set(parts) - {"args"} if "args_sha256" in names else set(parts)
        missing = [n for n in names if n not in computed and n not in parts]
        unexpected = sorted(given - set(names))
        if missing or unexpected:
            wanted = ", ".join(n for n in names if n not in computed) + (", args" if "args_sha256" in names else "")
            problem = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
            raise CacheError(f"cache kind {kind.name!r}: {problem} (its key takes: {wanted})")
        values: dict[str, str] = dict(computed)
        for name in names:
            if name in computed:
                continue
            value = parts[name]
            text = value if isinstance(value, str) else str(value)
            pattern = self.design.placeholder_map[name].pattern
            if _UNSAFE_PART.search(text) or not re.fullmatch(pattern, text):
                raise CacheError(f"cache kind {kind.name!r}: {name}={text!r} does not match {pattern}")
            values[name] = text
        return kind.key.format(**values)


def canonical_sha256(args: Any) -> str:
    """SHA-256 of `args` as canonical JSON (sorted keys, no spaces, UTF-8): equal arguments, equal keys."""
    try:
        text = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CacheError(f"cache arguments must be plain JSON (dict, list, str, number, bool, None): {exc}") from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- the cache


class Cache(_RedisDesign):
    """Get, set and compute-once over the key kinds of the design; counts hits, misses and oversized values."""

    def __init__(
        self, client: redis.Redis | None = None, design: CacheModel | None = None, *, url: str | None = None
    ) -> None:
        super().__init__(client, design, url)
        self.counters: Counter[str] = Counter()
        """Per-process events, as "<kind>.<event>": hit, miss, stored, oversized, waited, computed, undecodable."""
        self._counters_lock = threading.Lock()  # one Cache serves every thread of an MCP server
        self._release = self.redis.register_script(_RELEASE_LOCK_LUA)

    def _count(self, kind: KeyKind, event: str) -> None:
        with self._counters_lock:
            self.counters[f"{kind.name}.{event}"] += 1

    # keys ---------------------------------------------------------------------------------

    def key(self, kind: str, /, **parts: Any) -> str:
        """The Redis key of `kind` for `parts`; `args=` is hashed into {args_sha256}, {version} is read from Redis."""
        k = self._kind(kind)
        filled = sorted(set(parts) & set(BUILTIN_PLACEHOLDERS))
        if filled:
            raise CacheError(f"cache kind {k.name!r}: {filled[0]!r} is filled by the cache, do not pass it")
        computed: dict[str, str] = {}
        if "args_sha256" in k.placeholders:
            if "args" not in parts:
                raise CacheError(f"cache kind {k.name!r}: missing 'args' (hashed into its key)")
            computed["args_sha256"] = canonical_sha256(parts["args"])
        if "version" not in k.placeholders:
            return self._format(k, parts, computed)
        assert k.version_key is not None  # the validated design guarantees it
        version_key = self.design.version_key_map[k.version_key]
        selector = k.version_part or version_key.placeholder
        # Check every part before the round trip that reads the version.
        self._format(k, parts, computed | {"version": "0"})
        computed["version"] = str(self.version(str(parts[selector]), version_key=version_key.name))
        return self._format(k, parts, computed)

    def version_key(self, store: str, *, version_key: str | None = None) -> str:
        """The key of a store's version counter (e.g. ps:ver:sales)."""
        if version_key is None:
            if len(self.design.version_keys) != 1:
                names = ", ".join(sorted(self.design.version_key_map)) or "none"
                raise CacheError(f"name the version key (declared: {names})")
            vk = self.design.version_keys[0]
        elif version_key in self.design.version_key_map:
            vk = self.design.version_key_map[version_key]
        else:
            raise CacheError(f"unknown version key {version_key!r}")
        (name,) = pattern_placeholders(vk.key)
        pattern = self.design.placeholder_map[name].pattern
        if _UNSAFE_PART.search(store) or not re.fullmatch(pattern, store):
            raise CacheError(f"version key {vk.name!r}: {name}={store!r} does not match {pattern}")
        return vk.key.format(**{name: store})

    def version(self, store: str, *, version_key: str | None = None) -> int:
        """The store's current data version (0 before the first bump)."""
        key = self.version_key(store, version_key=version_key)
        with self._errors(f"GET {key}"):
            raw = cast("bytes | None", self.redis.get(key))
        return int(raw) if raw is not None else 0

    def bump_version(self, store: str, *, version_key: str | None = None) -> int:
        """Make every cached answer about `store` unreachable at once; the ETL calls it after a watermark commits."""
        key = self.version_key(store, version_key=version_key)
        with self._errors(f"INCR {key}"):
            return int(cast("int", self.redis.incr(key)))

    # values -------------------------------------------------------------------------------

    def get(self, kind: str, /, **parts: Any) -> Any:
        """The cached value, or None on a miss; a sliding kind's TTL is refreshed by the read (GETEX)."""
        k = self._kind(kind)
        value = self._read(k, self.key(kind, **parts))
        self._count(k, "miss" if value is None else "hit")
        return value

    def set(self, kind: str, value: Any, /, **parts: Any) -> StoreResult:
        """Store `value` with the kind's TTL and encoding, unless its encoded size is over the kind's cap."""
        k = self._kind(kind)
        return self._write(k, self.key(kind, **parts), value)

    def delete(self, kind: str, /, **parts: Any) -> bool:
        """Remove one entry (a session at logout); True when it existed."""
        key = self.key(kind, **parts)
        with self._errors(f"DEL {key}"):
            return bool(self.redis.delete(key))

    def get_or_compute(self, kind: str, compute: Callable[[], Any], /, **parts: Any) -> tuple[Any, bool]:
        """(value, cached): the cached value, or `compute()` run once however many callers ask at the same time.

        The first caller to miss takes a short lock (SET NX with the kind's lock_seconds) and computes; the
        others poll the entry until it appears. If the lock holder fails, or its value is not cacheable, the
        lock is released and the next caller computes; past lock_seconds a waiter computes on its own.
        """
        k = self._kind(kind)
        if k.lock_seconds is None:
            raise CacheError(f"cache kind {k.name!r} has no lock_seconds; get_or_compute is for computed kinds")
        key = self.key(kind, **parts)
        value = self._read(k, key)
        if value is not None:
            self._count(k, "hit")
            return value, True
        self._count(k, "miss")
        lock, token = f"{key}:lock", secrets.token_hex(16)
        deadline = time.monotonic() + k.lock_seconds
        delay = WAIT_FIRST_SECONDS
        while True:
            with self._errors(f"SET {lock} NX"):
                acquired = bool(self.redis.set(lock, token, nx=True, px=math.ceil(k.lock_seconds * 1000)))
            if acquired:
                try:
                    # Another caller may have stored it between our miss and our lock.
                    value = self._read(k, key)
                    if value is not None:
                        return value, True
                    return self._compute(k, key, compute), False
                finally:
                    with self._errors(f"release {lock}"):
                        self._release(keys=[lock], args=[token])
            time.sleep(delay)
            delay = min(delay * 2, WAIT_MAX_SECONDS)
            self._count(k, "waited")
            value = self._read(k, key)
            if value is not None:
                return value, True
            if time.monotonic() >= deadline:
                return self._compute(k, key, compute), False

    # encoding -----------------------------------------------------------------------------

    def _compute(self, k: KeyKind, key: str, compute: Callable[[], Any]) -> Any:
        value = compute()
        self._count(k, "computed")
        if value is not None:
            self._write(k, key, value)
        return value

    def _read(self, k: KeyKind, key: str) -> Any:
        if k.encoding == "hash":
            raise CacheError(f"cache kind {k.name!r} is a Redis hash written by the rate limiter, not a value")
        with self._errors(f"GET {key}"):
            if k.sliding:
                raw = cast("bytes | None", self.redis.getex(key, ex=k.ttl_seconds))
            else:
                raw = cast("bytes | None", self.redis.get(key))
        if raw is None:
            return None
        try:
            # zlib output starts with 0x78 ('x'), which no JSON text does: plain JSON stays readable in redis-cli.
            text = zlib.decompress(raw) if raw[:1] == b"x" else raw
            return json.loads(text)
        except (zlib.error, ValueError):
            # Foreign or damaged bytes are a miss, not an error for the agent; the count shows it happened.
            self._count(k, "undecodable")
            return None

    def _write(self, k: KeyKind, key: str, value: Any) -> StoreResult:
        if k.encoding == "hash":
            raise CacheError(f"cache kind {k.name!r} is a Redis hash written by the rate limiter, not a value")
        if value is None:
            raise CacheError(f"cache kind {k.name!r}: None is not cached (a miss reads as None)")
        try:
            data = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise CacheError(f"cache kind {k.name!r}: the value is not plain JSON: {exc}") from None
        if k.encoding == "json_zlib" and k.compress_above_bytes is not None and len(data) > k.compress_above_bytes:
            data = zlib.compress(data, ZLIB_LEVEL)
        limit = k.max_bytes or 0
        if len(data) > limit:
            self._count(k, "oversized")
            with self._errors(f"HINCRBY {self.design.counters.key}"):
                self.redis.hincrby(self.design.counters.key, f"{k.name}.oversized", 1)
            return StoreResult(False, key, len(data), limit, "oversized")
        with self._errors(f"SET {key}"):
            self.redis.set(key, data, ex=k.ttl_seconds)
        self._count(k, "stored")
        return StoreResult(True, key, len(data), limit, "stored")


# --------------------------------------------------------------------------- rate limits


class RateLimiter(_RedisDesign):
    """Token buckets of the design, decided atomically inside Redis by one Lua script (EVALSHA, cached)."""

    def __init__(
        self, client: redis.Redis | None = None, design: CacheModel | None = None, *, url: str | None = None
    ) -> None:
        super().__init__(client, design, url)
        # register_script sends EVALSHA and loads the script once when Redis answers NOSCRIPT.
        self._bucket = self.redis.register_script(_BUCKET_LUA)

    def limit(self, bucket: str) -> RateLimit:
        limit = self.design.rate_limit_map.get(bucket)
        if limit is None:
            known = ", ".join(sorted(self.design.rate_limit_map))
            raise CacheError(f"unknown rate limit {bucket!r} (known: {known})")
        return limit

    def key(self, bucket: str, client_id: str) -> str:
        """The bucket's hash key (e.g. ps:rl:mcp_client:<client id>)."""
        limit = self.limit(bucket)
        return self._format(self._kind(limit.kind), {"bucket": bucket, "client_id": client_id}, {})

    def allow(self, bucket: str, client_id: str, cost: int = 1) -> Decision:
        """Take `cost` tokens from the client's bucket if it holds them; the Redis clock decides the refill."""
        limit = self.limit(bucket)
        if not 1 <= cost <= limit.capacity:
            raise CacheError(f"rate limit {bucket!r}: cost {cost} is outside 1..{limit.capacity} (its capacity)")
        key = self.key(bucket, client_id)
        ttl_ms = self._kind(limit.kind).ttl_seconds * 1000
        with self._errors(f"the token bucket script on {key}"):
            allowed, tokens, wait_us = cast(
                "list[Any]", self._bucket(keys=[key], args=[limit.capacity, limit.refill_per_second, ttl_ms, cost])
            )
        return Decision(bool(allowed), math.floor(float(tokens)), int(wait_us) / 1_000_000)


__all__ = [
    "Cache",
    "CacheError",
    "CacheUnavailable",
    "Decision",
    "RateLimiter",
    "StoreResult",
    "canonical_sha256",
    "connect",
    "load_design",
    "redact",
    "redis_url",
]
