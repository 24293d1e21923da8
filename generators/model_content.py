"""The PromptContent (MongoDB) model: collections, their fields and indexes, validated before any template runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from generators.model import Strict, validate_model


class ContentModel(Strict):
    """A MongoDB store: its collections (skeleton; the full schema is defined with the content store)."""

    schema_version: int
    store: str
    dialect: Literal["mongodb"]
    database: str
    description: str
    collections: list[dict[str, Any]] = Field(default=[])


def load_content_model(raw: dict[str, Any], shown: str) -> ContentModel:
    return validate_model(raw, shown, ContentModel, lambda model: ())
