"""The generation benchmark of `make bench`: build the world and iterate every batch of every generated table."""

from __future__ import annotations

import resource
import sys
import time

from generators.data.world import DEFAULT_SEED, GENERATED_STORES, WorldScale, build_world

BENCH_BATCH_ROWS = 50_000


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def iterate_world(seed: int = DEFAULT_SEED, scale: WorldScale | None = None) -> tuple[int, float]:
    """Rows generated and seconds taken: the world built, then every batch of ads, crm and content."""
    started = time.perf_counter()
    world = build_world(seed, scale)
    rows = 0
    for store in GENERATED_STORES:
        for table in world.tables(store):
            for batch in table.batches(BENCH_BATCH_ROWS):
                rows += len(next(iter(batch.values())))
    return rows, time.perf_counter() - started


def bench_generation(seed: int = DEFAULT_SEED, scale: WorldScale | None = None) -> str:
    """One line: rows, seconds, rows per second and peak RSS of generating the whole world once."""
    rows, seconds = iterate_world(seed, scale)
    clients = (scale or WorldScale()).clients
    return (
        f"generate world: {rows:,} rows ({clients:,} clients) in {seconds:.1f} s"
        f" ({rows / seconds:,.0f} rows/s), peak RSS {peak_rss_mib():,.0f} MiB, batches of {BENCH_BATCH_ROWS:,}"
    )


if __name__ == "__main__":
    print(bench_generation())
