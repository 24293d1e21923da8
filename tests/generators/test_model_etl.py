"""Broken ETL mappings (model/etl.yaml, or a store model it reads) fail `make render` with one path-precise line."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators.model import load_models
from generators.render import main as render_main
from generators.render import render_all
from generators.render_etl import etl_plan, etl_routines, etl_tables

from .test_model import tree_digest


@pytest.fixture
def workspace(tmp_path: Path, root: Path) -> Path:
    """A copy of model/, templates/ and the committed sql/ to break things in."""
    for name in ("model", "templates", "sql"):
        shutil.copytree(root / name, tmp_path / name)
    return tmp_path


def edit(workspace: Path, store: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = workspace / "model" / f"{store}.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def source(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in raw["sources"] if s["name"] == name)


def output(raw: dict[str, Any], source_name: str, output_name: str) -> dict[str, Any]:
    return next(o for o in source(raw, source_name)["outputs"] if o["name"] == output_name)


def unknown_target_column(raw: dict[str, Any]) -> None:
    output(raw, "crm_sales", "campaign")["fields"].append({"name": "refunds_usd", "type": "numeric(16,2)"})


def type_mismatch(raw: dict[str, Any]) -> None:
    output(raw, "ads_daily_results", "campaign")["fields"][10]["type"] = "integer"  # reach is bigint


def two_owners(raw: dict[str, Any]) -> None:
    output(raw, "crm_sales", "campaign")["fields"].append({"name": "negative_reactions", "type": "bigint"})


def unregistered_source(raw: dict[str, Any]) -> None:
    source(raw, "crm_sales")["name"] = "crm_refunds"


def change_table_without_rowversion(raw: dict[str, Any]) -> None:
    source(raw, "ads_daily_results")["change_tables"].append("ads.campaign_channels")


def field_the_query_does_not_compute(raw: dict[str, Any]) -> None:
    output(raw, "crm_sales", "campaign")["fields"].append({"name": "roi", "type": "numeric(12,4)"})


def change_table_the_query_does_not_read(raw: dict[str, Any]) -> None:
    source(raw, "crm_sales")["change_tables"].append("crm.clients")


def no_campaign_grain(raw: dict[str, Any]) -> None:
    src = source(raw, "ads_daily_results")
    src["outputs"] = [o for o in src["outputs"] if o["name"] != "campaign"]


def field_the_query_computes_but_the_model_dropped(raw: dict[str, Any]) -> None:
    out = output(raw, "content_assets", "campaign")
    out["fields"] = [f for f in out["fields"] if f["name"] != "approved_assets"]


def missing_query_template(raw: dict[str, Any]) -> None:
    source(raw, "crm_sales")["query_template"] = "tsql/etl/crm_refunds.sql.j2"


def unknown_target(raw: dict[str, Any]) -> None:
    output(raw, "content_assets", "campaign")["target"] = "analytics.content_effectiveness"


ETL_CASES = {
    "unknown target column": (
        unknown_target_column,
        "model/etl.yaml: sources.crm_sales.outputs.campaign.fields[5].name: unknown column 'refunds_usd' in "
        "analytics.campaign_effectiveness",
    ),
    "type mismatch": (
        type_mismatch,
        "model/etl.yaml: sources.ads_daily_results.outputs.campaign.fields[10].type: integer does not match "
        "analytics.campaign_effectiveness.reach (bigint)",
    ),
    "two sources owning one column": (
        two_owners,
        "model/etl.yaml: sources.crm_sales.outputs.campaign.fields[5].name: "
        "analytics.campaign_effectiveness.negative_reactions is already fed by source 'ads_social_reactions'",
    ),
    "unregistered source name": (
        unregistered_source,
        "model/etl.yaml: sources.crm_refunds.name: no row 'crm_refunds' in etl.source_watermarks",
    ),
    "change table without rowversion": (
        change_table_without_rowversion,
        "model/etl.yaml: sources.ads_daily_results.change_tables[3]: ads.campaign_channels has no rowversion column",
    ),
    "a field the query template does not compute": (
        field_the_query_does_not_compute,
        "model/etl.yaml: sources.crm_sales.outputs.campaign.fields[5].name: templates/tsql/etl/crm_sales.sql.j2 "
        "does not compute field roi",
    ),
    "a change table the query template does not read": (
        change_table_the_query_does_not_read,
        "model/etl.yaml: sources.crm_sales.change_tables[2]: templates/tsql/etl/crm_sales.sql.j2 does not say how a "
        "change in crm.clients touches a campaign",
    ),
    "a field the pipeline computes but the model dropped": (
        field_the_query_computes_but_the_model_dropped,
        "model/etl.yaml: sources.content_assets.outputs.campaign.fields: templates/mongo/etl/content_assets.json.j2 "
        "computes approved_assets, which is not a field of the output",
    ),
    "no campaign-grain output": (
        no_campaign_grain,
        "model/etl.yaml: sources.ads_daily_results.outputs: no output keyed by campaign_id alone",
    ),
    "missing query template": (
        missing_query_template,
        "model/etl.yaml: sources.crm_sales.query_template: no template templates/tsql/etl/crm_refunds.sql.j2",
    ),
    "unknown target table": (
        unknown_target,
        "model/etl.yaml: sources.content_assets.outputs.campaign.target: unknown table "
        "'analytics.content_effectiveness' in store sales",
    ),
}


def drop_rowversion_index(raw: dict[str, Any]) -> None:
    table = next(t for t in raw["tables"] if t["name"] == "social_reactions")
    table["indexes"] = [i for i in table["indexes"] if i["columns"][0] != "row_ver"]


def drop_watermark_row(raw: dict[str, Any]) -> None:
    table = next(t for t in raw["tables"] if t["name"] == "source_watermarks")
    table["rows"] = [r for r in table["rows"] if r["source_name"] != "content_assets"]


def no_etl_writer(raw: dict[str, Any]) -> None:
    role = next(r for r in raw["roles"] if r["name"] == "promptsales_etl")
    role["grants"] = [g for g in role["grants"] if "etl" not in g.get("schemas", [])]


STORE_CASES = {
    "change table without a rowversion index": (
        "ads",
        drop_rowversion_index,
        "model/etl.yaml: sources.ads_social_reactions.change_tables[0]: perf.social_reactions has no index leading "
        "on row_ver: every delta run would scan it",
    ),
    "source not registered in the watermark table": (
        "sales",
        drop_watermark_row,
        "model/etl.yaml: sources.content_assets.name: no row 'content_assets' in etl.source_watermarks",
    ),
    "no role writes the ETL schema": (
        "sales",
        no_etl_writer,
        "model/etl.yaml: target_store: no role of store sales writes schema etl: nobody could stage or apply",
    ),
}


def _fails_with(workspace: Path, capsys: pytest.CaptureFixture[str], expected: str) -> None:
    before = tree_digest(workspace / "sql")
    assert render_main(["--root", str(workspace)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {expected}"), lines[0]
    assert tree_digest(workspace / "sql") == before, "a failed render writes nothing"
    assert not list(workspace.glob(".sql*")), "no temporary render directory may be left behind"


@pytest.mark.parametrize("case", sorted(ETL_CASES))
def test_a_broken_etl_model_fails_the_render_with_one_precise_line(
    case: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, expected = ETL_CASES[case]
    edit(workspace, "etl", change)
    _fails_with(workspace, capsys, expected)


@pytest.mark.parametrize("case", sorted(STORE_CASES))
def test_a_store_model_the_etl_cannot_use_fails_the_render_with_one_precise_line(
    case: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, change, expected = STORE_CASES[case]
    edit(workspace, store, change)
    _fails_with(workspace, capsys, expected)


def test_the_field_order_of_the_model_is_the_order_of_every_rendered_list(workspace: Path) -> None:
    """Nothing is a hand-written column list: swapping two fields of an output swaps them in the query's SELECT,
    the staging and contribution tables, stage_columns and the apply's INSERT."""

    def swap(raw: dict[str, Any]) -> None:
        fields = output(raw, "crm_sales", "campaign")["fields"]
        fields[1], fields[2] = fields[2], fields[1]  # clients_reached <-> conversions

    before = render_all(workspace).files
    edit(workspace, "etl", swap)
    after = render_all(workspace).files
    changed = sorted(rel for rel in after if after[rel] != before.get(rel) and not rel.startswith("pentaho/"))
    assert changed == [
        "sql/etl/crm_sales__campaign.sql",
        "sql/sales/100_etl_staging.sql",
        "sql/sales/110_etl_apply.sql",
    ]
    final = after["sql/etl/crm_sales__campaign.sql"].decode().rpartition("\nSELECT\n")[2]
    assert final.index("AS conversions,") < final.index("AS clients_reached,")
    staging = after["sql/sales/100_etl_staging.sql"].decode()
    for table in ("etl.stage_crm_sales_campaign", "etl.crm_sales_campaign"):
        ddl = staging[staging.index(f"CREATE TABLE IF NOT EXISTS {table} (") :]
        assert ddl.index("    conversions integer,") < ddl.index("    clients_reached integer,")
    apply = after["sql/sales/110_etl_apply.sql"].decode()
    assert "INSERT INTO etl.crm_sales_campaign AS t (campaign_id, conversions, clients_reached, sales_count" in apply


def test_the_plan_merges_sources_by_ownership(root: Path) -> None:
    models = {m.store: m for m in load_models(root / "model", root=root)}
    plan = etl_plan(models["etl"], models)
    summaries = {s.table: s for s in plan.summaries}
    effectiveness = summaries["analytics.campaign_effectiveness"]
    assert [f.source.name for f in effectiveness.required] == ["ads_daily_results"], "it owns the NOT NULL attributes"
    assert {f.source.name for f in effectiveness.optional} == {"ads_social_reactions", "crm_sales", "content_assets"}
    assert dict(effectiveness.columns)["clients_reached"] == "COALESCE(crm_sales.clients_reached, 0)"
    assert dict(effectiveness.columns)["campaign_name"] == "ads_daily_results.campaign_name"
    assert effectiveness.reset == ("refreshed_at",)
    assert "roi" not in dict(effectiveness.columns), "derived by the trigger, never written by the ETL"
    daily = summaries["analytics.campaign_channel_daily"]
    assert daily.parents == (("analytics.campaign_effectiveness", (("campaign_id", "campaign_id"),)),)
    by_source = {p.source.name: [s.table for s in p.summaries] for p in plan.sources}
    assert by_source["ads_daily_results"] == ["analytics.campaign_effectiveness", "analytics.campaign_channel_daily"]
    assert by_source["crm_sales"] == ["analytics.campaign_effectiveness"], "it never creates a campaign row"
    assert plan.writers == ("promptsales_etl",)
    assert len(etl_tables(models["etl"])) == 1 + 2 * 5
    assert sum(r.startswith("PROCEDURE etl.apply_") for r in etl_routines(models["etl"])) == 4
