"""The delta ETL's source queries, without a server: T-SQL through the grammar gate and sqlfluff's parse tree, the
MongoDB pipeline as JSON; and the manifest entry and functions the Pentaho renderer reads them through."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlfluff.core.parser import BaseSegment

from generators.deploy import load_manifest, split_batches
from generators.gates import check_tsql
from generators.model import load_models
from generators.model_etl import EtlModel
from generators.render_etl import (
    apply_sql,
    batch_header_sql,
    failure_sql,
    high_bound_query,
    low_bound_query,
    query_path,
    source_query,
    stage_columns,
)
from tests.sql.tsql_tree import code, crawl, tree_of_text

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = load_manifest(ROOT / "sql" / "manifest.json")
MODELS = {m.store: m for m in load_models(ROOT / "model", root=ROOT)}
ETL: EtlModel = MODELS["etl"]
TEMPLATES = ROOT / "templates"

OUTPUTS = [(s.name, o.name) for s in ETL.sources for o in s.outputs]


def output_keys(source_name: str, output_name: str) -> list[str]:
    return next(o for o in ETL.source(source_name).outputs if o.name == output_name).keys


TSQL_OUTPUTS = [(s, o) for s, o in OUTPUTS if ETL.source(s).marker == "rowversion"]
CAMPAIGN_GRAIN = [(s, o) for s, o in TSQL_OUTPUTS if output_keys(s, o) == ["campaign_id"]]
MONGO_OUTPUTS = [(s, o) for s, o in OUTPUTS if ETL.source(s).marker == "updated_at"]


def output_of(source_name: str, output_name: str) -> Any:
    return next(o for o in ETL.source(source_name).outputs if o.name == output_name)


def text_of(source_name: str, output_name: str) -> str:
    return (ROOT / query_path(ETL, source_name, output_name)).read_text(encoding="utf-8")


def compact(segment: BaseSegment) -> str:
    """The segment's code without any spaces (sqlfluff's tokens are space-separated in `code`)."""
    return code(segment).replace(" ", "")


def main_query(tree: BaseSegment) -> BaseSegment:
    """The batch's WITH ... SELECT statement (after SET NOCOUNT ON and the two DECLAREs)."""
    (statement,) = list(tree.recursive_crawl("with_compound_statement"))
    return statement


def final_select(statement: BaseSegment) -> BaseSegment:
    selects = [s for s in statement.segments if s.is_type("select_statement")]
    assert len(selects) == 1, "the WITH statement must end in exactly one SELECT"
    return selects[0]


def select_names(select: BaseSegment) -> list[str]:
    """The output column names of a SELECT, as written (each element must have an explicit alias)."""
    clause = select.get_child("select_clause")
    assert clause is not None
    names = []
    for element in clause.get_children("select_clause_element"):
        alias = element.get_child("alias_expression")
        assert alias is not None, f"no explicit alias: {code(element)}"
        identifier = alias.get_child("identifier")
        assert identifier is not None
        names.append(identifier.raw)
    return names


def ctes(statement: BaseSegment) -> dict[str, BaseSegment]:
    found = {}
    for cte in statement.get_children("common_table_expression"):
        identifier = cte.get_child("identifier")
        assert identifier is not None
        found[identifier.raw] = cte
    return found


# --------------------------------------------------------------------------- T-SQL


@pytest.mark.parametrize(("source_name", "output_name"), TSQL_OUTPUTS)
def test_every_tsql_source_query_is_one_batch_that_passes_the_gate(source_name: str, output_name: str) -> None:
    rel = query_path(ETL, source_name, output_name)
    text = text_of(source_name, output_name)
    assert len(list(split_batches(text))) == 1, f"{rel}: a TableInput step runs exactly one batch (no GO)"
    failures = check_tsql(text, rel)
    assert failures == [], "\n".join(map(str, failures))


@pytest.mark.parametrize(("source_name", "output_name"), TSQL_OUTPUTS)
def test_the_final_select_returns_exactly_the_model_fields_in_order(source_name: str, output_name: str) -> None:
    tree = tree_of_text(text_of(source_name, output_name), query_path(ETL, source_name, output_name))
    names = select_names(final_select(main_query(tree)))
    assert names == [f.name for f in output_of(source_name, output_name).fields]
    assert [n for n, _ in stage_columns(ETL, source_name, output_name)] == names


@pytest.mark.parametrize(("source_name", "output_name"), TSQL_OUTPUTS)
def test_the_window_is_declared_from_the_pentaho_variables_as_binary_8(source_name: str, output_name: str) -> None:
    tree = tree_of_text(text_of(source_name, output_name), query_path(ETL, source_name, output_name))
    declares = [compact(s) for s in crawl(tree, "declare_segment")]
    assert declares == [
        "DECLARE@WATERMARKLOWBINARY(8)=CONVERT(BINARY(8),'${WM_LOW}',1)",
        "DECLARE@WATERMARKHIGHBINARY(8)=CONVERT(BINARY(8),'${WM_HIGH}',1)",
    ]


@pytest.mark.parametrize("source_name", sorted({s for s, _ in TSQL_OUTPUTS}))
def test_every_change_table_is_filtered_on_the_half_open_rowversion_window(source_name: str) -> None:
    source = ETL.source(source_name)
    store = MODELS[source.store]
    for output in source.outputs:
        rel = query_path(ETL, source_name, output.name)
        touched = ctes(main_query(tree_of_text(text_of(source_name, output.name), rel)))["touched"]
        seen: dict[str, str] = {}
        for select in crawl(touched, "select_statement"):
            from_clause = select.get_child("from_clause")
            where = select.get_child("where_clause")
            assert from_clause is not None and where is not None, code(select)
            element = next(from_clause.recursive_crawl("from_expression_element"))
            table = code(next(element.recursive_crawl("table_reference"))).lower()
            alias = code(element.get_child("alias_expression")).removeprefix("AS ")
            seen[table] = code(where)
            column = next(c.name for c in store.table_map[table].columns if c.type == "rowversion").upper()
            assert f"{alias}.{column}>=@WATERMARKLOWAND{alias}.{column}<@WATERMARKHIGH" in compact(where), rel
        assert sorted(seen) == sorted(source.change_tables), f"{rel}: one branch of `touched` per change table"


@pytest.mark.parametrize(("source_name", "output_name"), CAMPAIGN_GRAIN)
def test_campaign_grain_queries_return_every_touched_campaign(source_name: str, output_name: str) -> None:
    """Driving the final SELECT from `touched` (aggregates LEFT JOINed) is what returns a campaign whose facts
    were all deleted, zeroed, so the delete reaches PostgreSQL."""
    select = final_select(main_query(tree_of_text(text_of(source_name, output_name), "q")))
    from_clause = select.get_child("from_clause")
    assert from_clause is not None
    first = next(from_clause.recursive_crawl("from_expression_element"))
    assert compact(first) == "TOUCHEDAST"
    joins = [code(j).split(" ")[0] for j in crawl(from_clause, "join_clause")]
    aggregates = {"RESULTS", "NEGATIVES", "LINKS", "SOLD"}
    for join in crawl(from_clause, "join_clause"):
        name = code(next(join.recursive_crawl("table_reference")))
        if name in aggregates:
            assert code(join).startswith("LEFT JOIN"), code(join)
    assert joins, "the aggregates are joined to the touched campaigns"
    for element in select.get_child("select_clause").get_children("select_clause_element"):  # type: ignore[union-attr]
        text = compact(element)
        if re.search(r"\b(R|N|L|SO)\.", code(element)):
            assert text.startswith("CAST(COALESCE("), f"a missing aggregate must read as zero: {text}"


def test_array_fields_come_back_as_postgresql_array_literals_sorted_by_bytes() -> None:
    statement = main_query(tree_of_text(text_of("ads_daily_results", "campaign"), "q"))
    for name in ("channel_codes", "market_codes"):
        aggregate = compact(ctes(statement)[name])
        assert "'{'+STRING_AGG(" in aggregate and "+'}'ASCODES" in aggregate
        assert re.search(r"WITHINGROUP\(ORDERBY\w+\.\w+COLLATELATIN1_GENERAL_BIN2\)", aggregate), aggregate
    arrays = {f.name for f in output_of("ads_daily_results", "campaign").fields if f.type.endswith("[]")}
    assert arrays == {"channels", "markets"}
    clause = final_select(statement).get_child("select_clause")
    assert clause is not None
    elements = {select_names_of(e): compact(e) for e in clause.get_children("select_clause_element")}
    for name in arrays:
        assert re.fullmatch(
            rf"CAST\(COALESCE\(\w+\.CODES,'\{{\}}'\)ASNVARCHAR\(MAX\)\)AS{name.upper()}", elements[name]
        )


def select_names_of(element: BaseSegment) -> str:
    alias = element.get_child("alias_expression")
    identifier = alias.get_child("identifier") if alias else None
    return identifier.raw if identifier else ""


# --------------------------------------------------------------------------- MongoDB


@pytest.mark.parametrize(("source_name", "output_name"), MONGO_OUTPUTS)
def test_the_mongodb_pipeline_is_json_with_the_expected_stages(source_name: str, output_name: str) -> None:
    document = json.loads(text_of(source_name, output_name))
    assert next(iter(document)) == "_generated"
    assert document["_generated"] == "Code generated by generators.render from model/etl.yaml; DO NOT EDIT."
    assert all((ROOT / t).is_file() for t in document["_templates"])
    source = ETL.source(source_name)
    assert document["collection"] == source.change_tables[0] == "images"
    assert document["database"] == MODELS[source.store].database
    pipeline = document["pipeline"]
    assert [next(iter(stage)) for stage in pipeline] == [
        "$match",
        "$project",
        "$unwind",
        "$group",
        "$lookup",
        "$project",
        "$sort",
    ]
    assert pipeline[0]["$match"] == {"updated_at": {"$gte": {"$date": "${WM_LOW}"}, "$lt": {"$date": "${WM_HIGH}"}}}, (
        "half-open window on the change marker, dates in Extended JSON"
    )
    assert pipeline[2]["$unwind"] == "$campaign_ids" and pipeline[3]["$group"] == {"_id": "$campaign_ids"}
    lookup = pipeline[4]["$lookup"]
    assert (lookup["from"], lookup["localField"], lookup["foreignField"]) == ("images", "_id", "campaign_ids")
    final = pipeline[5]["$project"]
    assert [k for k in final if k != "_id"] == [f.name for f in output_of(source_name, output_name).fields]
    assert final["_id"] == 0
    approved = final["approved_assets"]["$size"]["$filter"]["cond"]
    assert approved == {"$eq": ["$$asset.state", "approved"]}
    assert lookup["pipeline"] == [{"$project": {"_id": 0, "state": "$approval.state"}}]


# --------------------------------------------------------------------------- what the Pentaho renderer reads


@pytest.mark.parametrize(("source_name", "output_name"), OUTPUTS)
def test_source_query_is_the_text_of_the_rendered_file(source_name: str, output_name: str) -> None:
    query = source_query(ETL, MODELS, source_name, output_name, TEMPLATES)
    text = text_of(source_name, output_name)
    if ETL.source(source_name).marker == "rowversion":
        assert text.endswith(query) and text.startswith("-- Code generated by generators.render from model/etl.yaml")
        assert "DO NOT EDIT" not in query, "the embedded text is the query, not the file header"
    else:
        assert json.loads(query) == json.loads(text)["pipeline"]
    assert source_query(ETL, MODELS, source_name, output_name, TEMPLATES) == query, "deterministic"


def test_the_manifest_lists_every_source_query_and_deploys_the_postgresql_half_after_the_reference_data() -> None:
    entry = MANIFEST["etl"]
    assert entry["deployed"] is False and entry["model"] == "model/etl.yaml"
    assert {(s, o) for s, src in entry["sources"].items() for o in src["outputs"]} == set(OUTPUTS)
    for source_name, source in entry["sources"].items():
        assert source["apply_procedure"] == f"etl.apply_{source_name}"
        for output_name, output in source["outputs"].items():
            assert output["query"] == query_path(ETL, source_name, output_name)
            assert (ROOT / output["query"]).is_file()
            assert output["stage_table"] == f"etl.stage_{source_name}_{output_name}"
            assert output["contribution_table"] == f"etl.{source_name}_{output_name}"
    deploy = MANIFEST["stores"]["sales"]["deploy"]
    assert deploy[-3:] == ["sql/sales/090_reference_data.sql", *entry["deploy"]]
    assert entry["deploy"] == ["sql/sales/100_etl_staging.sql", "sql/sales/110_etl_apply.sql"]
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sql" / "etl").iterdir()}
    assert on_disk == {o["query"] for s in entry["sources"].values() for o in s["outputs"].values()}


def test_the_bound_queries_and_job_statements() -> None:
    assert low_bound_query(ETL, "crm_sales") == "SELECT etl.watermark_low('crm_sales') AS watermark_low"
    store, query = high_bound_query(ETL, "crm_sales")
    assert store == "crm" and "MIN_ACTIVE_ROWVERSION()" in query
    assert check_tsql(query + ";", "high bound") == []
    assert high_bound_query(ETL, "content_assets") == ("sales", "SELECT etl.updated_at_high_bound() AS watermark_high")
    header = batch_header_sql(ETL, "ads_daily_results")
    assert "'campaign', (SELECT count(*) FROM etl.stage_ads_daily_results_campaign" in header
    assert "'channel_day', (SELECT count(*) FROM etl.stage_ads_daily_results_channel_day" in header
    assert apply_sql(ETL, "crm_sales") == "CALL etl.apply_crm_sales('${BATCH_ID}', '${AIRFLOW_RUN_ID}');"
    assert failure_sql(ETL, "crm_sales") == "CALL etl.log_failed_run('crm_sales', '${BATCH_ID}', '${AIRFLOW_RUN_ID}');"
    with pytest.raises(KeyError, match="no output 'daily'"):
        stage_columns(ETL, "ads_daily_results", "daily")
