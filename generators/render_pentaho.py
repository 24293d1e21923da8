"""Render the Pentaho transformations (.ktr), the job (.kjb) and Carte's configuration from model/etl.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generators.model_etl import EtlModel
from generators.render import Rendered


def render_pentaho(
    etl: EtlModel, models: dict[str, Any], out: Rendered, templates_root: Path, manifest: dict[str, Any]
) -> None:
    """Add pentaho/*.ktr, pentaho/*.kjb and pentaho/carte-config.xml to `out`."""
