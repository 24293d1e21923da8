"""`make bench` piece: the delta ETL's PostgreSQL half, a full refresh of the full world against a 1% delta.

`bench_etl(admin_dsn)` creates a scratch database on the server the admin URL points at, deploys the PromptSales
schema, and stages every campaign of every source from the generated world (generators.etl_local.WorldSource,
the stand-in for what the source queries return: no SQL Server or MongoDB runs here) and applies each batch: the
full refresh. Then it changes the facts of 1% of the campaigns in every source, stages what the queries would
return for those campaigns and applies again: one delta run. It drops the database and returns one line with
both times (staging by COPY plus the apply procedures) and the ratio delta / full, printed whatever it is.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from generators.etl_local import WorldSource

DELTA_SHARE = 0.01
TARGET_RATIO = 0.10
"""What a delta run may cost at most, relative to a full refresh, for the 11-minute schedule to be cheap."""


@dataclass
class Run:
    """One pass over every source: rows staged, summary rows changed, seconds staging and applying."""

    rows: int = 0
    changed: int = 0
    stage_seconds: float = 0.0
    apply_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.stage_seconds + self.apply_seconds


def _one(conn: Any, sql_text: str, *params: object) -> Any:
    row = conn.execute(sql_text, params).fetchone()
    assert row is not None, sql_text
    return row[0]


def _run(conn: Any, source: WorldSource, campaign_ids: list[int] | None, batch: str, high: dict[str, str]) -> Run:
    """Stage and apply every source for these touched campaigns (None: all of them); time the PostgreSQL side."""
    from generators.etl_local import stage_rows

    run = Run()
    for s in source.etl.sources:
        held = set(source.campaigns(s.name))
        ids = None if campaign_ids is None else [c for c in campaign_ids if c in held]
        rows = source.rows(s.name, ids)  # what the source query returns: computed before the clock starts
        low = _one(conn, "SELECT etl.watermark_low(%s)", s.name)
        started = time.perf_counter()
        counts = stage_rows(conn, source.etl, s.name, rows, batch, low, high[s.marker])
        staged = time.perf_counter()
        conn.execute(f"CALL {s.apply_procedure}(%s, %s)", (batch, "bench"))
        applied = time.perf_counter()
        run.rows += sum(counts.values())
        run.changed += _one(
            conn, "SELECT rows_changed FROM etl.run_log WHERE source_name = %s ORDER BY run_id DESC LIMIT 1", s.name
        )
        run.stage_seconds += staged - started
        run.apply_seconds += applied - staged
    return run


def bench_etl(admin_dsn: str, scale: str = "full", seed: int = 20260131) -> str:
    """Full refresh vs a 1% delta on a scratch database; one line with both times and their ratio."""
    import psycopg
    from psycopg import sql

    from generators.data.world import build_world
    from generators.deploy import deploy_postgres
    from generators.etl_local import WorldSource

    source = WorldSource(build_world(seed, scale))
    campaigns = source.campaigns("ads_daily_results")
    for s in source.etl.sources:  # build every source's facts before any clock starts
        source.rows(s.name, campaigns[:1])
    base = admin_dsn.rpartition("/")[0]
    name = f"ps_bench_etl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        dsn = f"{base}/{name}"
        deploy_postgres(dsn, "sales")
        with psycopg.connect(dsn, autocommit=True) as conn:
            full_high = {"rowversion": "0x0000000000100000", "updated_at": "2026-02-01T00:00:00.000Z"}
            full = _run(conn, source, None, "bench-full", full_high)
            rng = np.random.default_rng(seed)
            count = max(1, round(len(campaigns) * DELTA_SHARE))
            touched = sorted(int(c) for c in rng.choice(campaigns, size=count, replace=False))
            source.change(touched, seed)
            delta = _run(
                conn,
                source,
                touched,
                "bench-delta",
                {"rowversion": "0x0000000000100100", "updated_at": "2026-02-01T00:11:00.000Z"},
            )
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    ratio = delta.seconds / full.seconds
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    return (
        f"etl: full refresh of {len(campaigns):,} campaigns ({full.rows:,} staged rows, {full.changed:,} summary rows)"
        f" {full.seconds:.2f} s (COPY {full.stage_seconds:.2f} s + apply {full.apply_seconds:.2f} s);"
        f" {DELTA_SHARE:.0%} delta ({len(touched)} campaigns, {delta.rows:,} staged rows, {delta.changed:,} summary"
        f" rows) {delta.seconds:.3f} s (COPY {delta.stage_seconds:.3f} s + apply {delta.apply_seconds:.3f} s);"
        f" delta / full = {ratio:.3f} ({verdict} the {TARGET_RATIO:.2f} target)"
    )


if __name__ == "__main__":
    import os

    print(bench_etl(os.environ.get("PROMPTSALES_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")))
