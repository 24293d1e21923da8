"""Index demonstration: the MCP sales server's hot queries planned with the model's indexes and without them.

The queries are not copied: `capture()` calls the real `mcp_servers.sales.SalesService` tool methods with a
stand-in `_result` that keeps the composed query and its parameters instead of running them, so the SQL planned
here is exactly the SQL the server sends. Each query is run as

    EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) <the tool's query>

twice: "with" the indexes of model/sales.yaml, and "without" them, inside a transaction that drops the
table's secondary indexes, runs ANALYZE and is rolled back (the primary keys stay, and nothing changes for
anybody else: the DROP is never committed). From each plan comes the node types (Index Scan, Index Only Scan,
Bitmap Index Scan, Seq Scan, ...), the index names, the execution time and the shared buffers hit/read.

    python -m generators.index_demo [--dsn URL]

creates a scratch database (from PROMPTSALES_PG_ADMIN_URL), deploys the sales schema, fills the summaries from
the full seeded world (1,000 campaigns, ~162K campaign x channel x day rows), prints one block per query and
drops the database. `bench_indexes(admin_dsn)` returns the one line `make bench` prints: the before/after
ratios of the median execution time of a few runs.

The planner is never forced (no enable_seqscan = off): what is printed is what PostgreSQL chooses.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

PG_ADMIN_URL = os.environ.get("PROMPTSALES_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WORLD_SEED = 20260131
INDEX_NODES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
TABLES = ("analytics.campaign_effectiveness", "analytics.campaign_channel_daily")
"""The summaries the hot queries read; "without indexes" drops their secondary indexes."""


# --------------------------------------------------------------------------- the queries, as the server builds them


@dataclass(frozen=True)
class HotQuery:
    """One MCP tool call: its name, the arguments, the model index it is expected to use, and why."""

    name: str
    tool: str
    args: dict[str, Any]
    expected_index: str | None
    """The model index the planner picks with the indexes in place; None: a seq scan is the right plan."""
    note: str = ""


@dataclass(frozen=True)
class Captured:
    query: Any
    """A psycopg sql.Composed: the tool's statement."""
    params: tuple[Any, ...]


class _Capture:
    """Replaces SalesService._result: keeps (query, params) and returns nothing."""

    def __init__(self) -> None:
        self.seen: list[Captured] = []

    def __call__(self, query: Any, params: Sequence[Any], **_: Any) -> None:
        self.seen.append(Captured(query, tuple(params)))


def capture(tool: str, args: dict[str, Any]) -> Captured:
    """The statement and parameters `SalesService.<tool>(**args)` would run (nothing is sent to a database)."""
    import inspect

    from mcp_servers.sales import SalesService

    service = SalesService(None)
    recorder = _Capture()
    service._result = recorder  # type: ignore[method-assign,assignment]
    method = getattr(service, tool)
    signature = inspect.signature(method)
    call = {
        name: args.get(name, p.default if p.default is not inspect.Parameter.empty else None)
        for name, p in signature.parameters.items()
    }
    method(**call)
    if len(recorder.seen) != 1:
        raise RuntimeError(f"{tool} built {len(recorder.seen)} statements, expected one")
    return recorder.seen[0]


def hot_queries(conn: Any) -> list[HotQuery]:
    """The MCP server's hot questions, with values from the filled summaries: a typical channel, the last weeks.

    The channel is the median one by row count (email in the seeded world, ~11% of the rows), not the busiest:
    for instagram (17%) over the last week the planner's choice between the (channel, day) and the (day) index
    is a close call that flips with ANALYZE's random sample, and a demonstration should not flip."""
    rows = conn.execute(
        "SELECT channel, max(day) FROM analytics.campaign_channel_daily GROUP BY 1 ORDER BY count(*) DESC, 1"
    ).fetchall()
    row = rows[len(rows) // 2] if rows else None
    brand_row = conn.execute(
        "SELECT brand_name FROM analytics.campaign_effectiveness GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()
    if row is None or brand_row is None:
        raise RuntimeError("the summaries are empty: fill them first (generators.etl_local.refresh_from_world)")
    channel, last_day = row
    brand = brand_row[0]
    week_a, week_b = (last_day.toordinal() - 13, last_day.toordinal() - 7), (last_day.toordinal() - 6, last_day)
    from datetime import date

    a_from, a_to = date.fromordinal(week_a[0]), date.fromordinal(week_a[1])
    b_from = date.fromordinal(week_b[0])
    return [
        HotQuery(
            "channel performance, one week",
            "campaign_performance",
            {"channel": channel, "date_from": str(b_from), "date_to": str(last_day), "limit": 20},
            "ix_campaign_channel_daily_channel_day",
            f"the {channel} channel's rows of the last 7 days: (channel, day) reads only those of 162K rows",
        ),
        HotQuery(
            "channel breakdown, one week",
            "channel_breakdown",
            {"date_from": str(b_from), "date_to": str(last_day)},
            "ix_campaign_channel_daily_day",
            "every channel over the last 7 days: the (day) index reads that week's rows only",
        ),
        HotQuery(
            "compare two weeks of one channel",
            "compare_periods",
            {
                "period_a_from": str(a_from),
                "period_a_to": str(a_to),
                "period_b_from": str(b_from),
                "period_b_to": str(last_day),
                "channel": channel,
            },
            "ix_campaign_channel_daily_channel_day",
            "two 7-day ranges OR-ed together on one channel: a BitmapOr of two ranges of (channel, day)",
        ),
        HotQuery(
            "top 10 campaigns by revenue",
            "top_campaigns",
            {"metric": "revenue_usd", "n": 10, "ascending": False},
            "ix_campaign_effectiveness_revenue",
            "ORDER BY revenue_usd DESC LIMIT 11: the first index entries, no sort of the 1,000 rows",
        ),
        HotQuery(
            "a brand's campaigns",
            "campaign_performance",
            {"brand": brand, "limit": 50},
            "ix_campaign_effectiveness_brand_period",
            "the tool compares lower(brand_name) = lower(%s); the index's first key is the expression"
            " lower(brand_name), so one brand's campaigns are a bitmap index scan (on 1,000 rows a seq scan would"
            " also be cheap)",
        ),
        HotQuery(
            "active campaigns",
            "campaign_performance",
            {"status": "active", "limit": 50},
            "ix_campaign_effectiveness_revenue",
            "30% of the campaigns are active: the planner walks the revenue index (the ORDER BY) and filters on"
            " status until it has 51 rows; the partial index ix_campaign_effectiveness_status is not selective enough",
        ),
    ]


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class PlanSummary:
    node_types: tuple[str, ...]
    """Every node of the plan, depth first."""
    indexes: tuple[str, ...]
    """Index names the plan reads (Index Scan, Index Only Scan, Bitmap Index Scan), in plan order, no repeats."""
    seq_scans: tuple[str, ...]
    """Tables read by a Seq Scan."""
    execution_ms: float
    planning_ms: float
    shared_hit: int
    shared_read: int
    plan: dict[str, Any] = field(repr=False, compare=False)

    @property
    def uses_index(self) -> bool:
        return bool(self.indexes)

    def scans(self) -> str:
        """The scan nodes in one phrase: `Bitmap Index Scan on ix_... ; Seq Scan on analytics.x`."""
        parts: list[str] = []
        for node in _walk(self.plan["Plan"]):
            kind = node.get("Node Type", "")
            if kind in INDEX_NODES:
                parts.append(f"{kind} on {node.get('Index Name')}")
            elif kind == "Seq Scan":
                parts.append(f"Seq Scan on {node.get('Schema', '')}.{node.get('Relation Name')}".replace(" .", " "))
        return "; ".join(dict.fromkeys(parts)) or "no scan"


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _walk(child)


def summarize(explained: Any) -> PlanSummary:
    """Parse EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) output (the JSON value or its text)."""
    import json

    doc = json.loads(explained) if isinstance(explained, str) else explained
    top = doc[0]
    nodes = list(_walk(top["Plan"]))
    indexes = tuple(dict.fromkeys(n["Index Name"] for n in nodes if n.get("Node Type") in INDEX_NODES))
    seqs = tuple(
        dict.fromkeys(
            f"{n.get('Schema', 'analytics')}.{n['Relation Name']}" for n in nodes if n["Node Type"] == "Seq Scan"
        )
    )
    plan = top["Plan"]
    return PlanSummary(
        node_types=tuple(n["Node Type"] for n in nodes),
        indexes=indexes,
        seq_scans=seqs,
        execution_ms=float(top.get("Execution Time", 0.0)),
        planning_ms=float(top.get("Planning Time", 0.0)),
        shared_hit=int(plan.get("Shared Hit Blocks", 0)),
        shared_read=int(plan.get("Shared Read Blocks", 0)),
        plan=top,
    )


def explain(conn: Any, captured: Captured) -> PlanSummary:
    from psycopg import sql

    statement = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) ") + captured.query
    row = conn.execute(statement, list(captured.params)).fetchone()
    return summarize(row[0])


def secondary_indexes(conn: Any, tables: Sequence[str] = TABLES) -> list[str]:
    """schema.name of every index on `tables` that backs no constraint (primary keys and uniques stay)."""
    rows = conn.execute(
        """
        SELECT n.nspname || '.' || c.relname
          FROM pg_index AS i
          JOIN pg_class AS c ON c.oid = i.indexrelid
          JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE i.indrelid = ANY(%s::regclass[])
           AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conindid = i.indexrelid)
         ORDER BY 1
        """,
        (list(tables),),
    ).fetchall()
    return [r[0] for r in rows]


@contextmanager
def without_indexes(conn: Any, tables: Sequence[str] = TABLES) -> Iterator[list[str]]:
    """Inside: the secondary indexes of `tables` are dropped and the tables analyzed; always rolled back after.

    `conn` must be a non-autocommit connection with no transaction open. Other sessions are not affected by
    the plans, but DROP INDEX takes an ACCESS EXCLUSIVE lock on the table until the rollback: use a database
    nobody else is reading.
    """
    from psycopg import sql

    dropped = secondary_indexes(conn, tables)
    try:
        for name in dropped:
            schema, _, index = name.partition(".")
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, index)))
        for table in tables:
            schema, _, rel = table.partition(".")
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, rel)))
        yield dropped
    finally:
        conn.rollback()


@dataclass(frozen=True)
class QueryComparison:
    query: HotQuery
    sql_text: str
    with_indexes: PlanSummary
    without_indexes: PlanSummary
    with_ms: tuple[float, ...]
    without_ms: tuple[float, ...]

    @property
    def with_median(self) -> float:
        return statistics.median(self.with_ms)

    @property
    def without_median(self) -> float:
        return statistics.median(self.without_ms)

    @property
    def speedup(self) -> float:
        return self.without_median / self.with_median if self.with_median > 0 else float("inf")


def compare(conn: Any, queries: Sequence[HotQuery], runs: int = 5) -> list[QueryComparison]:
    """Plan every query `runs` times with the indexes and `runs` times without them (in one rolled-back drop).

    The first run of each side warms the cache and is kept only as the plan shown; the timings are the other
    runs' execution times (EXPLAIN ANALYZE's, without the client round trip).
    """
    conn.rollback()
    captured = [capture(q.tool, q.args) for q in queries]
    with_plans: list[tuple[PlanSummary, list[float]]] = []
    for c in captured:
        explain(conn, c)  # warm-up
        plans = [explain(conn, c) for _ in range(runs)]
        with_plans.append((plans[0], [p.execution_ms for p in plans]))
    conn.rollback()
    without_plans: list[tuple[PlanSummary, list[float]]] = []
    with without_indexes(conn):
        for c in captured:
            explain(conn, c)
            plans = [explain(conn, c) for _ in range(runs)]
            without_plans.append((plans[0], [p.execution_ms for p in plans]))
    return [
        QueryComparison(q, c.query.as_string(conn), w[0], wo[0], tuple(w[1]), tuple(wo[1]))
        for q, c, w, wo in zip(queries, captured, with_plans, without_plans, strict=True)
    ]


def format_comparison(item: QueryComparison) -> str:
    w, wo = item.with_indexes, item.without_indexes
    lines = [
        f"{item.query.name} ({item.query.tool} {item.query.args})",
        f"  with indexes:    {w.scans()}; {item.with_median:.2f} ms median; shared hit {w.shared_hit}"
        f" read {w.shared_read}",
        f"  without indexes: {wo.scans()}; {item.without_median:.2f} ms median; shared hit {wo.shared_hit}"
        f" read {wo.shared_read}",
        f"  without / with = {item.speedup:.1f}x" + (f"  ({item.query.note})" if item.query.note else ""),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- scratch database


@contextmanager
def filled_database(admin_dsn: str, scale: str = "full", seed: int = WORLD_SEED) -> Iterator[str]:
    """A scratch database with the sales schema and the summaries of the seeded world; dropped afterwards."""
    import psycopg
    from psycopg import sql

    from generators.data.world import build_world
    from generators.deploy import deploy_postgres
    from generators.etl_local import WorldSource, refresh_from_world

    base = admin_dsn.rpartition("/")[0]
    name = f"ps_index_demo_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        dsn = f"{base}/{name}"
        deploy_postgres(dsn, "sales")
        with psycopg.connect(dsn, autocommit=True) as conn:
            refresh_from_world(conn, WorldSource(build_world(seed, scale)), "index-demo")
            conn.execute("VACUUM ANALYZE analytics.campaign_effectiveness")
            conn.execute("VACUUM ANALYZE analytics.campaign_channel_daily")
        yield dsn
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_demo(dsn: str, runs: int = 5) -> list[QueryComparison]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return compare(conn, hot_queries(conn), runs)


def bench_indexes(admin_dsn: str, runs: int = 7) -> str:
    """One line for `make bench`: per hot query, median execution time without / with the indexes."""
    with filled_database(admin_dsn) as dsn:
        results = run_demo(dsn, runs)
    parts = [
        f"{r.query.name} {r.without_median:.2f}/{r.with_median:.2f} ms = {r.speedup:.1f}x"
        + ("" if r.query.expected_index is None or r.query.expected_index in r.with_indexes.indexes else " (!plan)")
        for r in results
    ]
    return f"indexes (EXPLAIN ANALYZE median of {runs}, without/with the model's indexes): " + "; ".join(parts)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.index_demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="an already filled database to use (default: a scratch one)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.dsn:
        results = run_demo(args.dsn, args.runs)
    else:
        with filled_database(PG_ADMIN_URL) as dsn:
            results = run_demo(dsn, args.runs)
    failed = 0
    for r in results:
        out(format_comparison(r))
        expected = r.query.expected_index
        ok = (expected in r.with_indexes.indexes) if expected else True
        failed += not ok
        out(f"  expected: {expected or 'no model index'} -> {'as expected' if ok else 'NOT the expected plan'}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
