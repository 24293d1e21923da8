"""Golden files: each fixture model under tests/fixtures/ renders byte for byte to the files in its expected/.

A fixture is `tests/fixtures/<case>/model.yaml` plus `expected/*.sql`; routine templates it needs beyond the real
ones live in `tests/fixtures/<case>/templates/` and are laid over a copy of `templates/` for the render.

After an intended template change, regenerate and then review the diff like any other code change:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/generators/test_golden.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from generators.model import load_model
from generators.render import KINDS, Rendered, render_store

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "model.yaml").is_file())
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def render_fixture(case: str, scratch: Path) -> tuple[dict[str, bytes], dict[str, object]]:
    """Render one fixture in memory; return {file name: bytes} and its manifest entry."""
    templates = scratch / "templates"
    shutil.copytree(ROOT / "templates", templates)
    if (FIXTURES / case / "templates").is_dir():
        shutil.copytree(FIXTURES / case / "templates", templates, dirs_exist_ok=True)
    model = load_model(FIXTURES / case / "model.yaml", root=ROOT)
    out = Rendered()
    entry = render_store(model, f"tests/fixtures/{case}/model.yaml", out, templates)
    return {Path(rel).name: data for rel, data in out.files.items()}, entry


def test_there_are_fixtures_of_both_dialects() -> None:
    dialects = {load_model(FIXTURES / case / "model.yaml").dialect for case in CASES}
    assert dialects == {"postgresql", "tsql"}


@pytest.mark.parametrize("case", CASES)
def test_fixture_renders_to_its_golden_files(case: str, tmp_path: Path) -> None:
    rendered, _ = render_fixture(case, tmp_path)
    expected_dir = FIXTURES / case / "expected"
    if UPDATE:
        shutil.rmtree(expected_dir, ignore_errors=True)
        expected_dir.mkdir(parents=True)
        for name, data in rendered.items():
            (expected_dir / name).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in sorted(expected_dir.glob("*.sql"))}
    assert expected, f"{expected_dir} is empty: run with UPDATE_GOLDEN=1 to create it"
    assert sorted(rendered) == sorted(expected), "a kind was added or dropped: rerun with UPDATE_GOLDEN=1 and review"
    for name in sorted(expected):
        assert rendered[name].decode() == expected[name].decode(), (
            f"tests/fixtures/{case}/expected/{name} differs from a fresh render (UPDATE_GOLDEN=1 to accept)"
        )


@pytest.mark.parametrize("case", CASES)
def test_fixture_deploys_every_kind_in_order(case: str, tmp_path: Path) -> None:
    """Each fixture is meant to exercise every object kind of its dialect, in the deploy order of KINDS."""
    _, entry = render_fixture(case, tmp_path)
    model = load_model(FIXTURES / case / "model.yaml")
    store = model.store
    assert entry["deploy"] == [f"sql/{store}/{n:03d}_{kind}.sql" for n, kind in KINDS[model.dialect]]
