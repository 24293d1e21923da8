"""The Redis key design: the committed model/cache.yaml is valid, broken designs fail with one precise line,
and docs/model/cache.md lists what the model declares."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators.model import ModelError, load_any_model
from generators.model_cache import CacheModel, load_cache_model, pattern_placeholders
from generators.render import Rendered
from generators.render import main as render_main
from generators.render_cache import render_cache_design

KNOWN = "ai_model, api, args_sha256, bucket, client_id, endpoint, server, session_id, store, task, tool, version"


@pytest.fixture(scope="module")
def raw_design(root: Path) -> dict[str, Any]:
    return yaml.safe_load((root / "model" / "cache.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def design(root: Path) -> CacheModel:
    model = load_any_model(root / "model" / "cache.yaml", root=root)
    assert isinstance(model, CacheModel)
    return model


def kind(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(k for k in raw["key_kinds"] if k["name"] == name)


def limit(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in raw["rate_limits"] if r["name"] == name)


def test_the_committed_design_is_valid_and_sized_to_the_requirements(design: CacheModel) -> None:
    uses = {k.use for k in design.key_kinds}
    assert uses == {"mcp_result", "rest_response", "ai_generation", "rate_limit", "session"}
    for k in design.key_kinds:
        assert k.key.startswith(f"{design.namespace}:") and k.key.startswith(f"{k.prefix}:")
    mcp = design.kind_map["mcp_result"]
    assert mcp.invalidation == "version" and "version" in mcp.placeholders and "args_sha256" in mcp.placeholders
    assert 60 <= mcp.ttl_seconds <= 900  # a few minutes
    assert design.kind_map["ai_generation"].ttl_seconds == 3600
    session = design.kind_map["session"]
    assert session.sliding and session.ttl_seconds == 1800
    client = design.rate_limit_map["mcp_client"]
    # 300 concurrent agents at the sustained rate stay within 100,000 operations per minute.
    assert 300 * client.refill_per_second * 60 <= 100_000 and client.capacity >= 1
    # Idle buckets live at least as long as the slowest bucket takes to refill completely.
    for r in design.rate_limits:
        assert design.kind_map[r.kind].ttl_seconds >= r.seconds_to_full


def unknown_placeholder(raw: dict[str, Any]) -> None:
    kind(raw, "mcp_result")["key"] = "ps:mcp:{sever}:{tool}:v{version}:{args_sha256}"


def duplicate_prefix(raw: dict[str, Any]) -> None:
    kind(raw, "rest_response")["prefix"] = "ps:mcp"


def overlapping_prefix(raw: dict[str, Any]) -> None:
    kind(raw, "rest_response")["prefix"] = "ps:mcp:rest"


def versioned_without_version_key(raw: dict[str, Any]) -> None:
    del kind(raw, "mcp_result")["version_key"]


def unknown_version_key(raw: dict[str, Any]) -> None:
    kind(raw, "mcp_result")["version_key"] = "store_dta"


def versioned_key_without_version(raw: dict[str, Any]) -> None:
    kind(raw, "mcp_result")["key"] = "ps:mcp:{server}:{tool}:{args_sha256}"


def ttl_zero(raw: dict[str, Any]) -> None:
    kind(raw, "session")["ttl_seconds"] = 0


def cap_negative(raw: dict[str, Any]) -> None:
    kind(raw, "ai_generation")["max_bytes"] = -1


def key_outside_namespace(raw: dict[str, Any]) -> None:
    kind(raw, "session")["key"] = "app:sess:{session_id}"


def version_key_outside_namespace(raw: dict[str, Any]) -> None:
    raw["version_keys"][0]["key"] = "ver:{store}"


def duplicate_kind_name(raw: dict[str, Any]) -> None:
    extra = copy.deepcopy(kind(raw, "session"))
    extra["prefix"], extra["key"] = "ps:sess2", "ps:sess2:{session_id}"
    raw["key_kinds"].append(extra)


def capacity_zero(raw: dict[str, Any]) -> None:
    limit(raw, "mcp_client")["capacity"] = 0


def refill_zero(raw: dict[str, Any]) -> None:
    limit(raw, "mcp_client")["refill_per_second"] = 0


def bucket_outlives_ttl(raw: dict[str, Any]) -> None:
    limit(raw, "ai_tools")["refill_per_second"] = 0.01


def misspelt_field(raw: dict[str, Any]) -> None:
    kind(raw, "session")["sliidng"] = kind(raw, "session").pop("sliding")


def sliding_cache_entry(raw: dict[str, Any]) -> None:
    kind(raw, "mcp_result")["sliding"] = True


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown placeholder": (
        unknown_placeholder,
        f"key_kinds.mcp_result.key: unknown placeholder {{sever}} (known: {KNOWN})",
    ),
    "duplicate prefix": (
        duplicate_prefix,
        "key_kinds.rest_response.prefix: duplicate prefix 'ps:mcp' (also kind 'mcp_result')",
    ),
    "overlapping prefix": (
        overlapping_prefix,
        "key_kinds.rest_response.prefix: prefix 'ps:mcp:rest' overlaps 'ps:mcp' of kind 'mcp_result'",
    ),
    "versioned kind without version key": (
        versioned_without_version_key,
        "key_kinds.mcp_result.version_key: a versioned kind must name a version key (declared: store_data)",
    ),
    "unknown version key": (
        unknown_version_key,
        "key_kinds.mcp_result.version_key: unknown version key 'store_dta' (declared: store_data)",
    ),
    "versioned key without {version}": (
        versioned_key_without_version,
        "key_kinds.mcp_result.key: a versioned kind must embed {version} in its key",
    ),
    "TTL zero": (ttl_zero, "key_kinds.session.ttl_seconds: must be positive, not 0"),
    "negative size cap": (cap_negative, "key_kinds.ai_generation.max_bytes: must be positive, not -1"),
    "key outside the namespace": (
        key_outside_namespace,
        "key_kinds.session.key: 'app:sess:{session_id}' does not start with the namespace 'ps:'",
    ),
    "version key outside the namespace": (
        version_key_outside_namespace,
        "version_keys.store_data.key: 'ver:{store}' does not start with the namespace 'ps:'",
    ),
    "duplicate kind name": (duplicate_kind_name, "key_kinds.session: duplicate key kind 'session'"),
    "capacity zero": (capacity_zero, "rate_limits.mcp_client.capacity: must be at least 1, not 0"),
    "refill zero": (refill_zero, "rate_limits.mcp_client.refill_per_second: must be positive, not 0"),
    "idle bucket expires before it refills": (
        bucket_outlives_ttl,
        "rate_limits.ai_tools.capacity: refills in 600 s but kind 'rate_limit_bucket' keeps idle buckets "
        "only 120 s (ttl_seconds)",
    ),
    "misspelt field": (misspelt_field, "key_kinds.session.sliidng: unknown field"),
    "sliding TTL on a cache entry": (
        sliding_cache_entry,
        "key_kinds.mcp_result.sliding: a sliding TTL is for session kinds, not mcp_result",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_design_fails_with_one_precise_line(case: str, raw_design: dict[str, Any], tmp_path: Path) -> None:
    change, expected = CASES[case]
    raw = copy.deepcopy(raw_design)
    change(raw)
    (tmp_path / "model").mkdir()
    path = tmp_path / "model" / "cache.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ModelError) as info:
        load_any_model(path, root=tmp_path)
    assert str(info.value) == f"model/cache.yaml: {expected}"
    assert "\n" not in str(info.value)


def test_make_render_stops_on_a_broken_design_and_writes_nothing(
    raw_design: dict[str, Any], root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A workspace with only the cache design, so the other stores' models cannot mask the result.
    shutil.copytree(root / "templates", tmp_path / "templates")
    raw = copy.deepcopy(raw_design)
    unknown_placeholder(raw)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "cache.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    assert render_main(["--root", str(tmp_path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"error: model/cache.yaml: key_kinds.mcp_result.key: unknown placeholder {{sever}} (known: {KNOWN})"
    ]
    assert not (tmp_path / "docs").exists()


def test_make_render_writes_the_cache_page(root: Path, tmp_path: Path) -> None:
    shutil.copytree(root / "templates", tmp_path / "templates")
    (tmp_path / "model").mkdir()
    shutil.copy(root / "model" / "cache.yaml", tmp_path / "model" / "cache.yaml")
    assert render_main(["--root", str(tmp_path)]) == 0
    page = (tmp_path / "docs" / "model" / "cache.md").read_bytes()
    assert page == (root / "docs" / "model" / "cache.md").read_bytes(), "docs/model/cache.md is stale: make render"


def render_page(design: CacheModel, root: Path) -> str:
    out = Rendered()
    render_cache_design(design, "model/cache.yaml", out, root / "templates")
    assert list(out.files) == ["docs/model/cache.md"]
    return out.files["docs/model/cache.md"].decode("utf-8")


def test_the_page_lists_every_kind_version_key_and_rate_limit(design: CacheModel, root: Path) -> None:
    page = render_page(design, root)
    assert page.splitlines()[0] == (
        "<!-- Code generated by generators.render from model/cache.yaml; DO NOT EDIT. "
        "Templates: templates/docs/cache.md.j2 -->"
    )
    rows = {line.split(" | ")[0].strip("| `"): line for line in page.splitlines() if line.startswith("| `")}
    for k in design.key_kinds:
        row = rows[k.name]
        assert f"`{k.prefix}`" in row and f"`{k.key}`" in row and f"{k.ttl_seconds} s" in row
        assert ("sliding" in row) == k.sliding
    for v in design.version_keys:
        assert f"`{v.key}`" in rows[v.name]
    for r in design.rate_limits:
        assert f"| {r.capacity} | {r.refill_per_second:g}/s |" in rows[r.name]
    for p in design.placeholders:
        assert f"`{{{p.name}}}`" in page
    assert "2026" not in page and "2025" not in page  # no timestamps


def test_the_page_is_deterministic_and_follows_the_model(
    design: CacheModel, raw_design: dict[str, Any], root: Path
) -> None:
    assert render_page(design, root) == render_page(design, root)
    raw = copy.deepcopy(raw_design)
    kind(raw, "mcp_result")["ttl_seconds"] = 240
    changed = render_page(load_cache_model(raw, "model/cache.yaml"), root)
    assert "| 240 s (4 min) |" in changed and "| 300 s (5 min) |" not in changed


def test_pattern_placeholders_reads_names_in_order() -> None:
    assert pattern_placeholders("ps:mcp:{server}:{tool}:v{version}:{args_sha256}") == [
        "server",
        "tool",
        "version",
        "args_sha256",
    ]
    with pytest.raises(ValueError, match="unbalanced braces"):
        pattern_placeholders("ps:mcp:{server")
