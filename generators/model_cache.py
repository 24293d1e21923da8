"""The Redis key design (model/cache.yaml): key kinds, TTLs, encodings, invalidation and rate limits, validated."""

from __future__ import annotations

from typing import Any, Literal

from generators.model import Strict, validate_model


class CacheModel(Strict):
    """The cache's key design (skeleton; the full schema is defined with the cache module)."""

    schema_version: int
    store: str
    dialect: Literal["redis"]
    description: str


def load_cache_model(raw: dict[str, Any], shown: str) -> CacheModel:
    return validate_model(raw, shown, CacheModel, lambda model: ())
