"""Benchmarks printed by `make bench`: throughput and ratios, never pass/fail timings."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("PROMPTSALES_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def bench_render() -> str:
    from generators.render import render_all

    rendered = render_all(ROOT)
    samples = timed(lambda: render_all(ROOT), 5)
    median = statistics.median(samples)
    size = sum(len(v) for v in rendered.files.values())
    return (
        f"render: {len(rendered.files)} files, {size / 1024:.0f} KiB in {median * 1000:.0f} ms median of 5"
        f" ({size / 1024 / median:,.0f} KiB/s)"
    )


def bench_deploy() -> str:
    import psycopg

    from generators.deploy import deploy_postgres

    base = PG_ADMIN_URL.rpartition("/")[0]
    name = f"ps_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        dsn = f"{base}/{name}"
        first = timed(lambda: deploy_postgres(dsn), 1)[0]
        again = statistics.median(timed(lambda: deploy_postgres(dsn), 3))
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return (
        f"deploy sales: fresh database {first * 1000:.0f} ms, idempotent re-run {again * 1000:.0f} ms"
        f" (re-run / fresh = {again / first:.2f})"
    )


def bench_generate() -> str:
    """The full world (500K clients) in a fresh process, so its peak RSS is the generator's alone."""
    done = subprocess.run(
        [sys.executable, "-m", "generators.data.bench"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"generate world: failed ({detail})"
    return done.stdout.strip().splitlines()[-1]


def bench_copy() -> str:
    from generators.data.bench_postgres import bench_copy as copy_rows

    return copy_rows(PG_ADMIN_URL)


def bench_etl() -> str:
    from generators.bench_etl import bench_etl as delta_vs_full

    return delta_vs_full(PG_ADMIN_URL)


def bench_mcp() -> str:
    from mcp_servers.bench_mcp import bench_mcp as sales_tools

    return sales_tools(PG_ADMIN_URL)


def bench_indexes() -> str:
    from generators.index_demo import bench_indexes as index_speedups

    return index_speedups(PG_ADMIN_URL)


BENCHES: dict[str, Callable[[], str]] = {
    "render": bench_render,
    "deploy": bench_deploy,
    "generate": bench_generate,
    "copy": bench_copy,
    "etl": bench_etl,
    "mcp": bench_mcp,
    "indexes": bench_indexes,
}


def main(argv: list[str] | None = None) -> int:
    names = argv if argv else list(BENCHES)
    started = time.perf_counter()
    for name in names:
        if name not in BENCHES:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHES)}", file=sys.stderr)
            return 2
        print(BENCHES[name](), flush=True)
    print(f"bench: {len(names)} benchmarks in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
