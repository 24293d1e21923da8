"""Building blocks of the world generator: named random streams, exact integer splits and re-batching of chunks.

Every table is generated chunk by chunk (one campaign, or one block of clients, at a time) and each chunk draws
from its own stream, named after the table or plan and keyed by the chunk's id. Chunks are therefore the same
whatever the batch size and whatever else was generated before; `rebatch` then cuts the chunk sequence into the
batch size the loader asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

Chunk = dict[str, Any]
"""column -> numpy array or list, all of one length (a piece of a table, before re-batching)."""

SECONDS_PER_DAY = 86_400


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    """The random stream `name` (a table or a plan) of one chunk (`keys`, e.g. a campaign id) of one world seed.

    SHA-256 of the name, not Python's salted `hash()`, so the stream is the same in every process.
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *words, *(int(k) for k in keys)])))


def derived_seed(seed: int, name: str) -> int:
    """A 31-bit seed for code that takes an int seed (the content generator), derived from the world seed."""
    return int(stream(seed, name).integers(0, 2**31 - 1))


def split_integer(total: int, weights: np.ndarray | Sequence[float]) -> np.ndarray:
    """`total` split into non-negative integers proportional to `weights` that add up to exactly `total`.

    Floors first, then the units left over go to the largest remainders (ties in index order), so a zero weight
    never receives a unit unless every weight is zero (then the split is even).
    """
    w = np.asarray(weights, dtype=np.float64)
    if total < 0:
        raise ValueError(f"split_integer needs a non-negative total, got {total}")
    if w.size == 0:
        if total:
            raise ValueError("split_integer cannot split a positive total over no weights")
        return np.zeros(0, dtype=np.int64)
    w = np.where(w > 0, w, 0.0)
    s = w.sum()
    if s <= 0:
        w = np.ones_like(w)
        s = float(w.size)
    exact = w * (total / s)
    base = np.floor(exact).astype(np.int64)
    left = int(total - base.sum())
    if left > 0:
        order = np.argsort(-(exact - base), kind="stable")[:left]
        base[order] += 1
    elif left < 0:  # float rounding pushed a floor over; take the units back from the largest cells
        order = np.argsort(-base, kind="stable")[:-left]
        base[order] -= 1
    return base


def gumbel_top(rng: np.random.Generator, weights: np.ndarray, count: int) -> np.ndarray:
    """Indices of `count` items drawn without replacement with probabilities proportional to `weights`."""
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.log(np.maximum(weights, 1e-12)) + rng.gumbel(size=weights.size)
    return np.argsort(-keys, kind="stable")[:count]


def labels(codes: np.ndarray, names: Sequence[T]) -> list[T]:
    """Integer codes as their names (a list, as the loaders expect strings)."""
    return list(map(list(names).__getitem__, codes.tolist()))


def chunk_length(chunk: Chunk) -> int:
    lengths = {len(values) for values in chunk.values()}
    if len(lengths) != 1:
        raise ValueError(f"a chunk's columns differ in length: {sorted(lengths)}")
    return lengths.pop()


def _concat(chunks: list[Chunk]) -> Chunk:
    if len(chunks) == 1:
        return chunks[0]
    out: Chunk = {}
    for name, first in chunks[0].items():
        if isinstance(first, np.ndarray):
            out[name] = np.concatenate([c[name] for c in chunks])
        else:
            merged: list[Any] = []
            for c in chunks:
                merged.extend(c[name])
            out[name] = merged
    return out


def _slice(chunk: Chunk, start: int, stop: int) -> Chunk:
    return {name: values[start:stop] for name, values in chunk.items()}


def rebatch(chunks: Iterable[Chunk], batch_rows: int) -> Iterator[Chunk]:
    """The rows of `chunks`, in order, in batches of exactly `batch_rows` (the last one shorter)."""
    pending: list[Chunk] = []
    count = 0
    for chunk in chunks:
        n = chunk_length(chunk)
        if n == 0:
            continue
        pending.append(chunk)
        count += n
        if count >= batch_rows:
            merged = _concat(pending)
            start = 0
            while count - start >= batch_rows:
                yield _slice(merged, start, start + batch_rows)
                start += batch_rows
            pending = [_slice(merged, start, count)] if start < count else []
            count -= start
    if count:
        yield _concat(pending)


def batches_of(
    chunks: Callable[[], Iterable[Chunk]], finish: Callable[[Chunk], Chunk] | None = None
) -> Callable[[int], Iterator[Chunk]]:
    """A `TableData.make_batches`: re-batch a fresh chunk sequence and finish each batch (codes to strings...)."""

    def make_batches(batch_rows: int) -> Iterator[Chunk]:
        for batch in rebatch(chunks(), batch_rows):
            yield finish(batch) if finish is not None else batch

    return make_batches


def days(start: np.datetime64, count: int) -> np.ndarray:
    return start.astype("datetime64[D]") + np.arange(count)


def at_seconds(day: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """datetime64[s] of a day (datetime64[D]) plus seconds."""
    return day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def cents_to_amount(cents: np.ndarray) -> np.ndarray:
    """Integer cents as the decimal(…,2) value a loader writes: float64 holding exactly cents / 100.

    round(value * 100) gives the cents back exactly for any amount below 10^13 USD.
    """
    return np.asarray(cents, dtype=np.int64) / 100.0
