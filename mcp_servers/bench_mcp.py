"""`make bench` piece: the PromptSales MCP server's answer times, uncached (computed in PostgreSQL) and cached (Redis).

`bench_mcp(admin_dsn)` creates a scratch database on the server the admin URL points at, deploys the PromptSales
schema and fills the summaries from the full generated world (1,000 campaigns, ~160K campaign x channel x day rows)
through the ETL's staging and apply procedures (generators.etl_local, the stand-in for the source queries). It
then calls every curated tool through the SDK's in-memory client (the whole MCP path: JSON-RPC dispatch, argument
validation, rate limit, Redis cache, PostgreSQL, output validation), under a Redis namespace of its own:

- uncached: the sales data version is bumped before each call (what the ETL does), so each one is a miss;
- cached: the same call repeated, answered from Redis.

It drops the database and the namespace's keys and returns one line with p50/p95 of both against the targets.
"""

from __future__ import annotations

import copy
import statistics
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = 30
UNCACHED_TARGET_MS = 500.0
CACHED_TARGET_MS = 50.0


def scratch_design(namespace: str) -> Any:
    """The committed key design moved under `namespace`, with a client bucket large enough for the bench's burst."""
    import yaml

    from generators.model_cache import load_cache_model

    raw = copy.deepcopy(yaml.safe_load((ROOT / "model" / "cache.yaml").read_text(encoding="utf-8")))
    old = f"{raw['namespace']}:"

    def move(value: str) -> str:
        return f"{namespace}:{value[len(old) :]}"

    raw["namespace"] = namespace
    raw["counters"]["key"] = move(raw["counters"]["key"])
    for kind in raw["key_kinds"]:
        kind["prefix"], kind["key"] = move(kind["prefix"]), move(kind["key"])
    for version_key in raw["version_keys"]:
        version_key["key"] = move(version_key["key"])
    for limit in raw["rate_limits"]:
        if limit["name"] == "mcp_client":
            limit.update(capacity=1000, refill_per_second=100)
    return load_cache_model(raw, "bench design")


def _percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _calls(dsn: str) -> list[tuple[str, dict[str, Any]]]:
    """Realistic questions over the filled database: a brand, a busy channel and quarter, the latest full year."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        brand_row = conn.execute(
            "SELECT brand_name FROM analytics.campaign_effectiveness GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ).fetchone()
        channel_row = conn.execute(
            "SELECT channel, max(day) FROM analytics.campaign_channel_daily GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    assert brand_row is not None and channel_row is not None, "the summaries are empty"
    brand, channel, last_day = brand_row[0], channel_row[0], channel_row[1]
    year = last_day.year - 1
    return [
        ("campaign_performance", {"brand": brand}),
        ("campaign_performance", {"channel": channel, "date_from": f"{year}-10-01", "date_to": f"{year}-12-31"}),
        ("top_campaigns", {"metric": "roi", "n": 10}),
        ("channel_breakdown", {"date_from": f"{year}-01-01", "date_to": f"{year}-12-31"}),
        (
            "compare_periods",
            {
                "period_a_from": f"{year}-07-01",
                "period_a_to": f"{year}-09-30",
                "period_b_from": f"{year}-10-01",
                "period_b_to": f"{year}-12-31",
            },
        ),
        (
            "query_sql",
            {
                "sql": "WITH m AS (SELECT brand_name, date_trunc('month', starts_on) AS month, sum(revenue_usd) AS rev"
                " FROM analytics.campaign_effectiveness GROUP BY 1, 2)"
                " SELECT brand_name, month, rev, rev - lag(rev) OVER (PARTITION BY brand_name ORDER BY month)"
                " AS change FROM m ORDER BY brand_name, month"
            },
        ),
    ]


async def _measure(server: Any, cache: Any, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    from mcp import Client

    uncached: dict[str, list[float]] = {}
    cached: dict[str, list[float]] = {}
    async with Client(server) as client:
        for name, args in calls:  # warm the connection pool, the guard's parser and the plans
            await client.call_tool(name, args)
        for name, args in calls:
            label = f"{name}({', '.join(sorted(args))})"
            u, c = uncached.setdefault(label, []), cached.setdefault(label, [])
            for _ in range(SAMPLES):
                cache.bump_version("sales")
                started = time.perf_counter()
                result = await client.call_tool(name, args)
                u.append((time.perf_counter() - started) * 1000)
                if result.is_error or result.structured_content["cached"]:
                    raise RuntimeError(
                        f"{label}: expected an uncached answer, got {getattr(result.content[0], 'text', '')[:200]}"
                    )
            for _ in range(SAMPLES):
                started = time.perf_counter()
                result = await client.call_tool(name, args)
                c.append((time.perf_counter() - started) * 1000)
                if result.is_error or not result.structured_content["cached"]:
                    raise RuntimeError(f"{label}: expected a cached answer")
    return {"uncached": uncached, "cached": cached}


def bench_mcp(admin_dsn: str, scale: str = "full", seed: int = 20260131) -> str:
    """Uncached vs cached answer times of the sales server's tools on a scratch database; one line."""
    import anyio
    import psycopg
    from psycopg import sql

    from generators.data.world import build_world
    from generators.deploy import deploy_postgres
    from generators.etl_local import WorldSource, refresh_from_world
    from mcp_servers.cache import Cache, RateLimiter, connect
    from mcp_servers.sales import build_server
    from mcp_servers.toolkit import ToolRuntime

    source = WorldSource(build_world(seed, scale))
    base = admin_dsn.rpartition("/")[0]
    name = f"ps_bench_mcp_{uuid.uuid4().hex[:10]}"
    namespace = f"bench{uuid.uuid4().hex[:10]}"
    client = connect()
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        dsn = f"{base}/{name}"
        deploy_postgres(dsn, "sales")
        with psycopg.connect(dsn, autocommit=True) as conn:
            refresh_from_world(conn, source, "bench")
            conn.execute("ANALYZE")
            campaigns, days = conn.execute(
                "SELECT (SELECT count(*) FROM analytics.campaign_effectiveness),"
                " (SELECT count(*) FROM analytics.campaign_channel_daily)"
            ).fetchone() or (0, 0)
        design = scratch_design(namespace)
        cache = Cache(client, design)
        server = build_server(dsn, ToolRuntime("sales", cache, RateLimiter(client, design)))
        try:
            timings = anyio.run(_measure, server, cache, _calls(dsn))
        finally:
            server.sales_service.close()  # type: ignore[attr-defined]
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    every_u = [x for s in timings["uncached"].values() for x in s]
    every_c = [x for s in timings["cached"].values() for x in s]
    u50, u95 = statistics.median(every_u), _percentile(every_u, 0.95)
    c50, c95 = statistics.median(every_c), _percentile(every_c, 0.95)
    slowest, samples = max(timings["uncached"].items(), key=lambda kv: _percentile(kv[1], 0.95))
    verdict = "within" if u95 < UNCACHED_TARGET_MS and c95 < CACHED_TARGET_MS else "OVER"
    return (
        f"mcp sales ({campaigns:,} campaigns, {days:,} channel-day rows; {len(timings['uncached'])} calls of 5 tools"
        f" x {SAMPLES} samples through the in-memory MCP client): uncached p50 {u50:.1f} ms p95 {u95:.1f} ms"
        f" (target < {UNCACHED_TARGET_MS:.0f} ms); cached p50 {c50:.1f} ms p95 {c95:.1f} ms"
        f" (target < {CACHED_TARGET_MS:.0f} ms); cached / uncached p50 = {c50 / u50:.2f}; slowest uncached"
        f" {slowest} p95 {_percentile(samples, 0.95):.1f} ms ({verdict} the targets)"
    )


if __name__ == "__main__":
    import os
    import sys

    default = os.environ.get("PROMPTSALES_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    print(bench_mcp(sys.argv[1] if len(sys.argv) > 1 else default))
