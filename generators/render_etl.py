"""Render the delta ETL from model/etl.yaml: each source's query, and the PostgreSQL staging and apply objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generators.model_etl import EtlModel
from generators.render import Rendered


def render_etl(
    etl: EtlModel, models: dict[str, Any], out: Rendered, templates_root: Path, manifest: dict[str, Any]
) -> None:
    """Add the ETL's files to `out` and its deploy files to the target store's entry in `manifest`."""
