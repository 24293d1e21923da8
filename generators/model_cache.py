"""The Redis key design (model/cache.yaml): key kinds, TTLs, encodings, invalidation and rate limits, validated."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import Any, Literal

from pydantic import ConfigDict, Field

from generators.model import IDENT, ModelError, Strict, validate_model

BUILTIN_PLACEHOLDERS: dict[str, str] = {
    "version": "the current value of the kind's version key (0 before the first bump), read at key-building time",
    "args_sha256": "SHA-256 (hex) of the call's arguments as canonical JSON: sorted keys, no spaces, UTF-8",
}
"""Placeholders the cache fills itself; a caller passes `args=` for args_sha256 and never passes version."""

RESERVED_PARTS = frozenset({*BUILTIN_PLACEHOLDERS, "args"})

Use = Literal["mcp_result", "rest_response", "ai_generation", "rate_limit", "session"]
Encoding = Literal["json", "json_zlib", "hash"]
Invalidation = Literal["none", "ttl", "version"]

_NAMED_LISTS = ("placeholders", "key_kinds", "version_keys", "rate_limits")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _safe_placeholders(pattern: str) -> list[str]:
    """The placeholders of a pattern, or none when it is malformed (that is reported where the pattern is checked)."""
    try:
        return pattern_placeholders(pattern)
    except ValueError:
        return []


def pattern_placeholders(pattern: str) -> list[str]:
    """The placeholder names of a key pattern, in order; ValueError on unbalanced braces."""
    if "{" in _PLACEHOLDER.sub("", pattern) or "}" in _PLACEHOLDER.sub("", pattern):
        raise ValueError(f"unbalanced braces in key pattern {pattern!r}")
    return _PLACEHOLDER.findall(pattern)


# --------------------------------------------------------------------------- schema


class Placeholder(Strict):
    """A named part of key patterns; every value a caller passes must match `pattern` (no ':' ever)."""

    name: str
    pattern: str = Field(description="anchored regular expression a value must match")
    description: str


class KeyKind(Strict):
    """One use of Redis: how its keys are built, how long they live, how values are stored and invalidated."""

    name: str
    use: Use
    prefix: str = Field(description="namespace:segment; every key of the kind starts with prefix + ':'")
    key: str = Field(description="key pattern with {placeholder} parts")
    ttl_seconds: int
    sliding: bool = Field(default=False, description="refresh the TTL on every read (sessions)")
    encoding: Encoding
    compress_above_bytes: int | None = Field(default=None, description="json_zlib: compress JSON longer than this")
    invalidation: Invalidation
    version_key: str | None = Field(default=None, description="invalidation: version - the version key embedded")
    version_part: str | None = Field(
        default=None, description="the kind's placeholder that selects the version key's value (default: same name)"
    )
    max_bytes: int | None = Field(default=None, description="values whose stored bytes exceed this are not cached")
    lock_seconds: float | None = Field(
        default=None, description="single-flight lock of get_or_compute: how long one computation may hold it"
    )
    purpose: str

    @property
    def placeholders(self) -> list[str]:
        return pattern_placeholders(self.key)


class VersionKey(Strict):
    """A counter the delta ETL increments; versioned kinds embed its value so old entries become unreachable."""

    name: str
    key: str = Field(description="key pattern with exactly one placeholder (the store whose data it versions)")
    bumped_by: str
    purpose: str

    @property
    def placeholder(self) -> str:
        return pattern_placeholders(self.key)[0]


class RateLimit(Strict):
    """A named token bucket: `capacity` requests at once, refilled at `refill_per_second`."""

    name: str
    kind: str = Field(description="the rate_limit key kind its buckets are stored under")
    algorithm: Literal["token_bucket"]
    per: str = Field(description="what the client_id of a bucket identifies")
    applies_to: str = Field(description="which calls take a token")
    capacity: int
    refill_per_second: float
    purpose: str

    @property
    def seconds_to_full(self) -> float:
        return self.capacity / self.refill_per_second


class Eviction(Strict):
    """The maxmemory policy the Redis deployment must use with this design."""

    maxmemory_policy: Literal["volatile-lru", "volatile-lfu", "volatile-ttl", "noeviction"]
    purpose: str


class Counters(Strict):
    """A hash of events worth seeing across pods (e.g. `<kind>.oversized`)."""

    key: str
    purpose: str


class CacheModel(Strict):
    """The cache's key design: namespace, placeholders, key kinds, version keys and rate limits."""

    schema_version: int
    store: str
    dialect: Literal["redis"]
    description: str
    namespace: str = Field(description="first segment of every key (namespace:...)")
    eviction: Eviction
    counters: Counters
    placeholders: list[Placeholder] = Field(min_length=1)
    key_kinds: list[KeyKind] = Field(min_length=1)
    version_keys: list[VersionKey] = Field(default=[])
    rate_limits: list[RateLimit] = Field(default=[])

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    @cached_property
    def kind_map(self) -> dict[str, KeyKind]:
        return {k.name: k for k in self.key_kinds}

    @cached_property
    def version_key_map(self) -> dict[str, VersionKey]:
        return {v.name: v for v in self.version_keys}

    @cached_property
    def rate_limit_map(self) -> dict[str, RateLimit]:
        return {r.name: r for r in self.rate_limits}

    @cached_property
    def placeholder_map(self) -> dict[str, Placeholder]:
        return {p.name: p for p in self.placeholders}


# --------------------------------------------------------------------------- cross-checks


def _duplicates(names: list[str]) -> Iterator[int]:
    """Indexes of the names already seen earlier in the list."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield i
        seen.add(name)


def _placeholder_problems(model: CacheModel) -> Iterator[tuple[str, str]]:
    for i in _duplicates([p.name for p in model.placeholders]):
        yield f"placeholders.{model.placeholders[i].name}", f"duplicate placeholder {model.placeholders[i].name!r}"
    for p in model.placeholders:
        where = f"placeholders.{p.name}"
        if not re.match(IDENT, p.name):
            yield f"{where}.name", f"invalid placeholder name {p.name!r} (lower_snake_case)"
        if p.name in RESERVED_PARTS:
            yield f"{where}.name", f"{p.name!r} is filled by the cache itself and cannot be declared"
        if not (p.pattern.startswith("^") and p.pattern.endswith("$")):
            yield f"{where}.pattern", "must be anchored (^...$) so a value cannot smuggle extra key segments"
            continue
        try:
            re.compile(p.pattern)
        except re.error as exc:
            yield f"{where}.pattern", f"invalid regular expression: {exc}"


def _pattern_problems(
    model: CacheModel, where: str, pattern: str, start: str, known: set[str]
) -> Iterator[tuple[str, str]]:
    """A key pattern: starts with the namespace and `start`, balanced braces, known and unrepeated placeholders."""
    ns = f"{model.namespace}:"
    if not pattern.startswith(ns):
        yield where, f"{pattern!r} does not start with the namespace {ns!r}"
        return
    if not pattern.startswith(start):
        yield where, f"{pattern!r} does not start with {start!r}"
        return
    if re.search(r"\s", pattern):
        yield where, f"{pattern!r} contains whitespace"
        return
    try:
        names = pattern_placeholders(pattern)
    except ValueError as exc:
        yield where, str(exc)
        return
    for name in names:
        if name not in known:
            yield where, f"unknown placeholder {{{name}}} (known: {', '.join(sorted(known))})"
            return
    for i in _duplicates(names):
        yield where, f"placeholder {{{names[i]}}} appears twice"


def _kind_problems(model: CacheModel) -> Iterator[tuple[str, str]]:
    ns = f"{model.namespace}:"
    declared = set(model.placeholder_map)
    known = declared | set(BUILTIN_PLACEHOLDERS)
    for i in _duplicates([k.name for k in model.key_kinds]):
        yield f"key_kinds.{model.key_kinds[i].name}", f"duplicate key kind {model.key_kinds[i].name!r}"
    prefixes: dict[str, str] = {}
    for kind in model.key_kinds:
        kp = f"key_kinds.{kind.name}"
        if not re.match(IDENT, kind.name):
            yield f"{kp}.name", f"invalid kind name {kind.name!r} (lower_snake_case)"
        if not kind.prefix.startswith(ns):
            yield f"{kp}.prefix", f"{kind.prefix!r} does not start with the namespace {ns!r}"
        elif not re.fullmatch(r"[a-z0-9]+(:[a-z0-9_]+)+", kind.prefix):
            yield f"{kp}.prefix", f"invalid prefix {kind.prefix!r} (segments of a-z, 0-9, _ joined by ':')"
        for other_prefix, other in prefixes.items():
            if other_prefix == kind.prefix:
                yield f"{kp}.prefix", f"duplicate prefix {kind.prefix!r} (also kind {other!r})"
            elif (other_prefix + ":").startswith(kind.prefix + ":") or (kind.prefix + ":").startswith(
                other_prefix + ":"
            ):
                yield f"{kp}.prefix", f"prefix {kind.prefix!r} overlaps {other_prefix!r} of kind {other!r}"
        prefixes.setdefault(kind.prefix, kind.name)
        yield from _pattern_problems(model, f"{kp}.key", kind.key, f"{kind.prefix}:", known)
        if kind.ttl_seconds <= 0:
            yield f"{kp}.ttl_seconds", f"must be positive, not {kind.ttl_seconds}"
        if kind.sliding and kind.use != "session":
            yield f"{kp}.sliding", f"a sliding TTL is for session kinds, not {kind.use}"
        yield from _encoding_problems(kind, kp)
        yield from _invalidation_problems(model, kind, kp)


def _encoding_problems(kind: KeyKind, kp: str) -> Iterator[tuple[str, str]]:
    if (kind.encoding == "hash") != (kind.use == "rate_limit"):
        yield f"{kp}.encoding", "rate_limit kinds, and only they, are Redis hashes (encoding: hash)"
    if kind.encoding == "json_zlib":
        if kind.compress_above_bytes is None:
            yield f"{kp}.compress_above_bytes", "json_zlib needs the size above which values are compressed"
        elif kind.compress_above_bytes <= 0:
            yield f"{kp}.compress_above_bytes", f"must be positive, not {kind.compress_above_bytes}"
    elif kind.compress_above_bytes is not None:
        yield f"{kp}.compress_above_bytes", f"only json_zlib compresses, not {kind.encoding}"
    if kind.encoding == "hash":
        # A bucket hash is written only by its Lua script and holds two numbers: nothing to cap.
        for field in ("max_bytes", "lock_seconds"):
            if getattr(kind, field) is not None:
                yield f"{kp}.{field}", "a hash kind is written by its Lua script; it takes no value cap or lock"
    else:
        if kind.max_bytes is None:
            yield f"{kp}.max_bytes", "required field is missing (the size cap of one stored value)"
        elif kind.max_bytes <= 0:
            yield f"{kp}.max_bytes", f"must be positive, not {kind.max_bytes}"
        if kind.lock_seconds is not None and not 0 < kind.lock_seconds < kind.ttl_seconds:
            yield (
                f"{kp}.lock_seconds",
                f"must be positive and below ttl_seconds ({kind.ttl_seconds}), not {kind.lock_seconds}",
            )
    if kind.use == "rate_limit":
        missing = [p for p in ("bucket", "client_id") if p not in _safe_placeholders(kind.key)]
        if missing:
            yield (
                f"{kp}.key",
                f"a rate_limit key needs the placeholders {{bucket}} and {{client_id}} (missing {{{missing[0]}}})",
            )


def _invalidation_problems(model: CacheModel, kind: KeyKind, kp: str) -> Iterator[tuple[str, str]]:
    embeds_version = "version" in _safe_placeholders(kind.key)
    if kind.invalidation != "version":
        if kind.version_key is not None or kind.version_part is not None:
            yield (
                f"{kp}.version_key",
                f"only versioned kinds (invalidation: version) name a version key, not {kind.invalidation}",
            )
        if embeds_version:
            yield f"{kp}.key", "embeds {version} but its invalidation is not version"
        return
    declared = ", ".join(sorted(model.version_key_map)) or "none"
    if kind.version_key is None:
        yield f"{kp}.version_key", f"a versioned kind must name a version key (declared: {declared})"
        return
    version_key = model.version_key_map.get(kind.version_key)
    if version_key is None:
        yield f"{kp}.version_key", f"unknown version key {kind.version_key!r} (declared: {declared})"
        return
    if not embeds_version:
        yield f"{kp}.key", "a versioned kind must embed {version} in its key"
    try:
        selector = kind.version_part or version_key.placeholder
    except (ValueError, IndexError):
        return  # the version key's own pattern is reported under version_keys
    if selector not in _safe_placeholders(kind.key):
        yield (
            f"{kp}.version_part",
            f"{{{selector}}} is not a placeholder of this kind (it selects the version key {version_key.name!r})",
        )


def _version_key_problems(model: CacheModel) -> Iterator[tuple[str, str]]:
    declared = set(model.placeholder_map)
    for i in _duplicates([v.name for v in model.version_keys]):
        yield f"version_keys.{model.version_keys[i].name}", f"duplicate version key {model.version_keys[i].name!r}"
    prefixes = [k.prefix + ":" for k in model.key_kinds]
    for vk in model.version_keys:
        vp = f"version_keys.{vk.name}"
        problems = list(_pattern_problems(model, f"{vp}.key", vk.key, f"{model.namespace}:", declared))
        yield from problems
        if problems:
            continue
        if len(pattern_placeholders(vk.key)) != 1:
            yield f"{vp}.key", "a version key has exactly one placeholder (the store whose data it versions)"
        if any(vk.key.startswith(p) for p in prefixes):
            yield f"{vp}.key", "lies under a key kind's prefix; version keys need a prefix of their own"


def _rate_limit_problems(model: CacheModel) -> Iterator[tuple[str, str]]:
    for i in _duplicates([r.name for r in model.rate_limits]):
        yield f"rate_limits.{model.rate_limits[i].name}", f"duplicate rate limit {model.rate_limits[i].name!r}"
    bucket = model.placeholder_map.get("bucket")
    for limit in model.rate_limits:
        rp = f"rate_limits.{limit.name}"
        if bucket is not None and not re.fullmatch(bucket.pattern, limit.name):
            yield f"{rp}.name", f"{limit.name!r} does not match the bucket placeholder {bucket.pattern}"
        kind = model.kind_map.get(limit.kind)
        if kind is None:
            yield f"{rp}.kind", f"unknown key kind {limit.kind!r}"
        elif kind.use != "rate_limit":
            yield f"{rp}.kind", f"kind {kind.name!r} is for {kind.use}, not rate_limit"
        if limit.capacity < 1:
            yield f"{rp}.capacity", f"must be at least 1, not {limit.capacity}"
            continue
        if limit.refill_per_second <= 0:
            yield f"{rp}.refill_per_second", f"must be positive, not {limit.refill_per_second:g}"
            continue
        if kind is not None and kind.ttl_seconds < limit.seconds_to_full:
            # An idle bucket that expires before it is full again would come back full too early.
            yield (
                f"{rp}.capacity",
                f"refills in {limit.seconds_to_full:g} s but kind {kind.name!r} keeps idle buckets only "
                f"{kind.ttl_seconds} s (ttl_seconds)",
            )


def _cache_problems(model: CacheModel) -> Iterator[tuple[str, str]]:
    """Cross-reference checks the schema alone cannot express; yields (path, problem)."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", model.namespace):
        yield "namespace", f"invalid namespace {model.namespace!r} (a-z and digits, at most 16)"
        return
    yield from _placeholder_problems(model)
    yield from _kind_problems(model)
    yield from _version_key_problems(model)
    yield from _rate_limit_problems(model)
    ns = f"{model.namespace}:"
    if not model.counters.key.startswith(ns):
        yield "counters.key", f"{model.counters.key!r} does not start with the namespace {ns!r}"
    elif "{" in model.counters.key or any(model.counters.key.startswith(k.prefix + ":") for k in model.key_kinds):
        yield "counters.key", "must be a fixed key outside every key kind's prefix"


def _named_path(raw: dict[str, Any], path: str) -> str:
    """`key_kinds[2].ttl` -> `key_kinds.session.ttl`: name list items as the cross-checks do."""
    match = re.match(r"^(\w+)\[(\d+)\]", path)
    if not match or match.group(1) not in _NAMED_LISTS:
        return path
    items = raw.get(match.group(1))
    index = int(match.group(2))
    if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
        name = items[index].get("name")
        if isinstance(name, str) and name:
            return f"{match.group(1)}.{name}{path[match.end() :]}"
    return path


def load_cache_model(raw: dict[str, Any], shown: str) -> CacheModel:
    """Validate the cache design; raise ModelError (one line: file, path, problem) on the first defect."""
    try:
        return validate_model(raw, shown, CacheModel, _cache_problems)
    except ModelError as exc:
        raise ModelError(exc.file, _named_path(raw, exc.path), exc.problem) from None
