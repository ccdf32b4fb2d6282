"""Embedding functions for the content library, as Chroma 1.5 embedding functions.

- `LocalHashingEmbeddings`: offline and deterministic, nothing to download (the default when no
  model endpoint is configured; Chroma's own default fetches an ONNX model on first use).
- `OpenAIEndpointEmbeddings`: any OpenAI-compatible `/embeddings` endpoint, through an injected
  `httpx.Client` so tests can intercept it.

Both are registered with Chroma under their `name()`: a persisted collection stores that name and
`get_config()`, and a later process (or `get_collection`) rebuilds the function from them with
`build_from_config()`. An unregistered or "legacy" function makes Chroma warn and drop it.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from config.http import api_client

if TYPE_CHECKING:
    from config.settings import Settings

EMBEDDINGS_MODEL = "text-embedding-3-small"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
LOCAL_DIM = 512

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
# Function words carry no topic; hashing them only adds collisions.
_STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "for", "from", "has",
        "have", "how", "i", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "so",
        "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to",
        "us", "was", "we", "were", "what", "when", "which", "who", "will", "with", "you", "your",
    }
)
# Character n-grams make the space robust to plurals and inflections ("integration" /
# "integrations"); they weigh less than whole words so topical words still dominate.
_CHAR_NGRAM_WEIGHT = 0.35
_BIGRAM_WEIGHT = 0.75


class EmbeddingError(RuntimeError):
    """The embeddings endpoint could not embed the documents (message is safe to show)."""


@lru_cache(maxsize=65536)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    """A stable (index, sign) for a feature: blake2b, so it is the same in every process."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if (value >> 63) & 1 else -1.0)


def _features(text: str) -> Counter[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
    counts: Counter[str] = Counter()
    for word in words:
        counts["w:" + word] += 1
    for left, right in zip(words, words[1:], strict=False):
        counts[f"b:{left} {right}"] += 1
    for word in words:
        padded = f"<{word}>"
        for n in (3, 4, 5):
            for i in range(len(padded) - n + 1):
                counts["c:" + padded[i : i + n]] += 1
    return counts


def _weight(feature: str) -> float:
    if feature.startswith("c:"):
        return _CHAR_NGRAM_WEIGHT
    if feature.startswith("b:"):
        return _BIGRAM_WEIGHT
    return 1.0


@register_embedding_function
class LocalHashingEmbeddings(EmbeddingFunction[Documents]):
    """Feature-hashed bag of words, word bigrams and character 3-5-grams; L2-normalised.

    Sublinear term frequency (1 + ln tf), signed hashing into `dim` buckets. Deterministic across
    processes and machines; good enough to rank a few dozen sales assets by topic.
    """

    def __init__(self, dim: int = LOCAL_DIM) -> None:
        if dim < 16:
            raise ValueError(f"dim must be at least 16, got {dim}")
        self.dim = dim

    def __call__(self, input: Documents) -> Embeddings:
        return [self.embed_one(text) for text in input]

    def embed_one(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for feature, tf in _features(text or "").items():
            index, sign = _bucket(feature, self.dim)
            vector[index] += sign * _weight(feature) * (1.0 + math.log(tf))
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            # Chroma rejects nothing here, but a zero vector has no cosine distance: give empty
            # text one fixed direction instead.
            index, sign = _bucket("<empty>", self.dim)
            vector[index] = sign
            return vector
        return vector / norm

    @staticmethod
    def name() -> str:
        return "hitl-local-hashing"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim, "version": 1}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> LocalHashingEmbeddings:
        return LocalHashingEmbeddings(dim=int(config.get("dim", LOCAL_DIM)))

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        if int(config.get("dim", LOCAL_DIM)) < 16:
            raise ValueError("dim must be at least 16")

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        if old_config.get("dim") != new_config.get("dim"):
            raise ValueError("the embedding dimension of a collection cannot change; re-index")


@register_embedding_function
class OpenAIEndpointEmbeddings(EmbeddingFunction[Documents]):
    """Embeddings from an OpenAI-compatible `POST {base_url}/embeddings`.

    Inputs are sent in batches of `batch_size`; results come back in input order. The API key
    is never part of `get_config()` (Chroma persists that): a rebuilt instance reads it from the
    environment variable named by `api_key_env_var`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str = EMBEDDINGS_MODEL,
        http_client: httpx.Client | None = None,
        *,
        batch_size: int = 96,
        timeout_s: float = 30.0,
        api_key_env_var: str = "OPENAI_API_KEY",
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.api_key_env_var = api_key_env_var
        self._client = http_client
        self._client_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.base_url}/embeddings"

    def _http(self) -> httpx.Client:
        # Created on first use: Chroma rebuilds embedding functions from config on every
        # get_collection, which must stay free of side effects.
        with self._client_lock:
            if self._client is None:
                self._client = api_client(timeout=self.timeout_s)  # keeps no cookies
            return self._client

    def __call__(self, input: Documents) -> Embeddings:
        texts = list(input)
        vectors: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._embed_batch(texts[start : start + self.batch_size]))
        return vectors

    def _embed_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        payload = {"model": self.model, "input": [t if t else " " for t in texts]}
        try:
            response = self._http().post(self.url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise EmbeddingError(
                f"embeddings request to {self.url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 400:
            raise EmbeddingError(
                f"embeddings endpoint {self.url} answered {response.status_code}: "
                f"{_error_message(response)}"
            )
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
            vectors = [np.asarray(item["embedding"], dtype=np.float32) for item in ordered]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(
                f"embeddings endpoint {self.url} sent an unexpected response "
                f"(expected {{'data': [{{'embedding': [...]}}]}})"
            ) from exc
        if len(vectors) != len(texts):
            raise EmbeddingError(
                f"embeddings endpoint {self.url} returned {len(vectors)} vectors "
                f"for {len(texts)} inputs"
            )
        return vectors

    @staticmethod
    def name() -> str:
        return "hitl-openai-endpoint"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]

    def get_config(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "model": self.model,
            "batch_size": self.batch_size,
            "api_key_env_var": self.api_key_env_var,
        }

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OpenAIEndpointEmbeddings:
        env_var = str(config.get("api_key_env_var") or "OPENAI_API_KEY")
        return OpenAIEndpointEmbeddings(
            base_url=str(config.get("base_url") or DEFAULT_OPENAI_BASE_URL),
            api_key=os.environ.get(env_var),
            model=str(config.get("model") or EMBEDDINGS_MODEL),
            batch_size=int(config.get("batch_size") or 96),
            api_key_env_var=env_var,
        )

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        if old_config.get("model") != new_config.get("model"):
            raise ValueError("the embeddings model of a collection cannot change; re-index")


def _error_message(response: httpx.Response) -> str:
    """The server's own error message, short and on one line (never the request headers)."""
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else error or body
        text = str(message)
    except ValueError:
        text = response.text
    text = " ".join(text.split())
    return text[:300] or response.reason_phrase


def embedding_signature(ef: EmbeddingFunction[Documents]) -> str:
    """Identifies the vector space an embedding function produces (name + config, no secrets)."""
    config = ef.get_config()
    config.pop("batch_size", None)
    config.pop("api_key_env_var", None)
    parts = ",".join(f"{key}={config[key]}" for key in sorted(config))
    return f"{ef.name()}({parts})"


def build_embedding_function(
    settings: Settings, *, http_client: httpx.Client | None = None
) -> EmbeddingFunction[Documents]:
    """The embedding function `HITL_EMBEDDINGS` asks for (`local` when no endpoint is set)."""
    if settings.embeddings_mode == "local":
        return LocalHashingEmbeddings()
    return OpenAIEndpointEmbeddings(
        base_url=settings.openai_base_url or DEFAULT_OPENAI_BASE_URL,
        api_key=settings.openai_api_key,
        model=EMBEDDINGS_MODEL,
        http_client=http_client,
        timeout_s=settings.model_timeout_s,
    )
