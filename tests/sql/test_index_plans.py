"""The model's indexes serve the MCP sales server's hot queries: plan shapes with and without them (never times)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from generators import index_demo as ix

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def filled(pg_admin: str) -> Iterator[str]:
    """A scratch database with the full seeded summaries (1,000 campaigns, ~162K channel-day rows)."""
    with ix.filled_database(pg_admin) as dsn:
        yield dsn


@pytest.fixture(scope="module")
def comparisons(filled: str) -> dict[str, ix.QueryComparison]:
    with psycopg.connect(filled) as conn:
        return {c.query.name: c for c in ix.compare(conn, ix.hot_queries(conn), runs=2)}


def test_the_summaries_are_the_full_world(filled: str) -> None:
    with psycopg.connect(filled) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM analytics.campaign_effectiveness),"
            " (SELECT count(*) FROM analytics.campaign_channel_daily)"
        ).fetchone()
    assert row is not None and row[0] == 1000 and row[1] > 150_000


def test_the_planned_sql_is_the_servers_own(comparisons: dict[str, ix.QueryComparison]) -> None:
    # Captured from SalesService, not copied: the brand filter is the server's case-insensitive comparison.
    brand = comparisons["a brand's campaigns"]
    assert "lower(e.brand_name) = lower(%s)" in brand.sql_text
    week = comparisons["channel performance, one week"]
    assert "analytics.campaign_channel_daily AS d" in week.sql_text and "d.channel = %s" in week.sql_text


INDEXED = [
    ("channel performance, one week", "ix_campaign_channel_daily_channel_day", "analytics.campaign_channel_daily"),
    ("channel breakdown, one week", "ix_campaign_channel_daily_day", "analytics.campaign_channel_daily"),
    ("compare two weeks of one channel", "ix_campaign_channel_daily_channel_day", "analytics.campaign_channel_daily"),
    ("top 10 campaigns by revenue", "ix_campaign_effectiveness_revenue", "analytics.campaign_effectiveness"),
    ("active campaigns", "ix_campaign_effectiveness_revenue", "analytics.campaign_effectiveness"),
    ("a brand's campaigns", "ix_campaign_effectiveness_brand_period", "analytics.campaign_effectiveness"),
]


@pytest.mark.parametrize(("name", "index", "table"), INDEXED, ids=[n for n, _, _ in INDEXED])
def test_with_the_models_indexes_the_planner_uses_them_and_without_them_scans_the_table(
    comparisons: dict[str, ix.QueryComparison], name: str, index: str, table: str
) -> None:
    item = comparisons[name]
    with_plan, without_plan = item.with_indexes, item.without_indexes

    assert item.query.expected_index == index
    assert index in with_plan.indexes, with_plan.scans()
    assert table not in with_plan.seq_scans, with_plan.scans()
    assert set(with_plan.node_types) & set(ix.INDEX_NODES)
    # Without the secondary indexes (primary keys stay) the same statement reads the whole table.
    assert without_plan.indexes == () or all(i.startswith("pk_") for i in without_plan.indexes), without_plan.scans()
    assert table in without_plan.seq_scans, without_plan.scans()
    assert "Seq Scan" in without_plan.node_types


def test_the_bitmap_or_of_two_week_ranges_uses_the_channel_day_index_twice(
    comparisons: dict[str, ix.QueryComparison],
) -> None:
    plan = comparisons["compare two weeks of one channel"].with_indexes
    assert "BitmapOr" in plan.node_types
    assert plan.node_types.count("Bitmap Index Scan") == 2


def test_the_brand_index_is_on_the_expression_the_tool_compares(filled: str) -> None:
    """The tool compares lower(brand_name): an index on brand_name itself could not serve it."""
    with psycopg.connect(filled) as conn:
        row = conn.execute(
            "SELECT pg_get_indexdef('analytics.ix_campaign_effectiveness_brand_period'::regclass)"
        ).fetchone()
    assert row is not None and row[0].endswith("USING btree (lower((brand_name)::text), starts_on)")


def test_dropping_the_indexes_is_rolled_back(filled: str) -> None:
    with psycopg.connect(filled) as conn:
        before = ix.secondary_indexes(conn)
        conn.rollback()
        with ix.without_indexes(conn) as dropped:
            assert ix.secondary_indexes(conn) == []
        after = ix.secondary_indexes(conn)
    assert dropped == before == after
    assert "analytics.ix_campaign_channel_daily_channel_day" in before
    assert "analytics.ix_campaign_effectiveness_status" in before  # the partial index is one of them


def test_summaries_of_explain_json_read_node_types_indexes_and_buffers() -> None:
    doc = [
        {
            "Plan": {
                "Node Type": "Limit",
                "Shared Hit Blocks": 7,
                "Shared Read Blocks": 2,
                "Plans": [
                    {"Node Type": "Index Scan", "Index Name": "ix_a", "Relation Name": "t", "Schema": "s"},
                    {"Node Type": "Seq Scan", "Relation Name": "u", "Schema": "s"},
                ],
            },
            "Planning Time": 0.1,
            "Execution Time": 1.5,
        }
    ]
    summary = ix.summarize(doc)
    assert summary.node_types == ("Limit", "Index Scan", "Seq Scan")
    assert summary.indexes == ("ix_a",) and summary.seq_scans == ("s.u",)
    assert (summary.shared_hit, summary.shared_read, summary.execution_ms) == (7, 2, 1.5)
    assert summary.scans() == "Index Scan on ix_a; Seq Scan on s.u"
