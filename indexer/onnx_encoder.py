"""all-MiniLM-L6-v2 run by ONNX Runtime: the numpy Encoder's model as an ONNX graph, int8 by default.

The graph is built here from the same checked safetensors weights (no torch, nothing downloaded), in
standard ONNX ops, written once to a cache file with its SHA-256 beside it, and checked against that
hash each time it is loaded: a cache file is as trusted as the weights only while it is the file this
module wrote. On a 2-core machine the int8 model encodes corpus text about 6x as fast as the numpy
Encoder, every vector within cosine 0.99 of its vector (scripts/measure_encoders.py measures both).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from indexer.embeddings import DIMENSIONS, MAX_TOKENS, MODEL_NAME, model_zip, read_checked
from indexer.store import write_atomically

GRAPH_VERSION = "2"
"""Part of the cache file's name: a change to the graph or its quantisation writes a new file."""
OPSET = 17  # LayerNormalization is a standard op from opset 17
ONNX_BATCH = 1
"""Texts a run. int8 quantises a run's activations with one scale, so a text batched with others gets a
vector that depends on them (cosine 0.988-0.993 to its vector alone, measured at batches of 8 to 64), and
a resumed embedding run would not reproduce an unbroken one. One at a time, a text's vector is the same
to the bit whatever else is encoded, for at most ~10% of the speed: a text of 200 word pieces already
makes large enough matrices, and batches of 32 or 64 are slower still (padding, larger score tensors)."""
EARLY_FFN_OUT = r"layer\.[0-2]\.output\.dense"
"""The feed-forward output MatMuls of layers 0-2, whose int8 loses the most: kept float32, the worst
cosine to the numpy vectors goes from 0.985 to 0.993 for about 10% of the int8 speed."""


@dataclass(frozen=True)
class Variant:
    """How the model is quantised (quantize_dynamic's options); the defaults are the measured choice."""

    int8: bool = True
    per_channel: bool = True
    """A scale per output column: per tensor, a few outlier columns cost the rest their precision."""
    reduce_range: bool = False
    """7-bit weights: for CPUs without VNNI; here it only loses precision."""
    unsigned_weights: bool = False
    ops: tuple[str, ...] = ("MatMul",)
    """Op types quantised: without Gather the word embeddings stay float32."""
    exclude: tuple[str, ...] = (EARLY_FFN_OUT,)
    """Patterns (re.search) of names of nodes kept float32."""

    @property
    def name(self) -> str:
        if not self.int8:
            return "fp32"
        flags = ("pc" if self.per_channel else "") + ("rr" if self.reduce_range else "")
        kept = f"-keep-{'+'.join(self.exclude)}" if self.exclude else ""
        return f"{'u8' if self.unsigned_weights else 's8'}{flags}-{'+'.join(self.ops)}{kept}"


DEFAULT_VARIANT = Variant()
FP32 = Variant(int8=False)


class _Graph:
    """Collects nodes and weights; each `op` returns the name of its output."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray | np.generic) -> str:
        # asarray, not ascontiguousarray, which makes a 0-d index 1-d; from_array copies in C order anyway.
        self.weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, *inputs: str, name: str = "", **attrs: Any) -> str:
        name = name or f"{op_type}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], name=name, **attrs))
        return name


def build_graph(w: dict[str, np.ndarray], heads: int, layers: int) -> onnx.ModelProto:
    """Returns the model as ONNX: input_ids and attention_mask (int64, [batch, seq]) in, normalised
    mean-pooled vectors [batch, 384] out, the arithmetic of Encoder.forward and encode_batch."""
    g = _Graph()
    # Every text is segment 0, so the token-type row is folded into the position table.
    positions = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    words = g.op("Gather", g.const("word_table", w["embeddings.word_embeddings.weight"]), "input_ids")
    length = g.op("Shape", "input_ids", start=1, end=2)
    x = g.op("Add", words, g.op("Slice", g.const("position_table", positions), g.const("zero", np.array([0])), length))
    gamma, beta = (
        g.const("emb_gamma", w["embeddings.LayerNorm.weight"]),
        g.const("emb_beta", w["embeddings.LayerNorm.bias"]),
    )
    x = g.op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=1e-12)
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    blocked = g.op("Mul", g.op("Sub", g.const("one", np.float32(1)), mask), g.const("big", np.float32(-1e9)))
    blocked = g.op("Unsqueeze", blocked, g.const("axes_1_2", np.array([1, 2])))  # [batch, 1, 1, seq]: every head
    for n in range(layers):
        x = _layer(g, w, f"encoder.layer.{n}.", x, blocked, heads)
    # Mean pooling then L2: dividing by the token count is skipped, the normalisation undoes any scale.
    weighted = g.op("Mul", x, g.op("Unsqueeze", mask, g.const("axis_2", np.array([2]))))
    summed = g.op("ReduceSum", weighted, g.const("axis_1", np.array([1])), keepdims=0)
    norm = g.op("Max", g.op("ReduceL2", summed, axes=[1], keepdims=1), g.const("tiny", np.float32(1e-12)))
    g.op("Div", summed, norm, name="vectors")
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in ("input_ids", "attention_mask")
    ]
    output = helper.make_tensor_value_info("vectors", TensorProto.FLOAT, ["batch", DIMENSIONS])
    graph = helper.make_graph(g.nodes, MODEL_NAME, inputs, [output], g.weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def _layer(g: _Graph, w: dict[str, np.ndarray], p: str, x: str, blocked: str, heads: int) -> str:
    """Appends one BERT layer: attention, then the feed-forward block, each with residual and LayerNorm."""
    x = _dense_norm(g, w, p + "attention.output.", _attention(g, w, p, x, blocked, heads), x)
    inner = g.op("MatMul", x, g.const(f"{p}inner.w", w[f"{p}intermediate.dense.weight"].T), name=f"{p}inner")
    inner = g.op("Add", inner, g.const(f"{p}inner.b", w[f"{p}intermediate.dense.bias"]))
    # Exact GELU, x/2 (1 + erf(x/sqrt 2)) as Encoder has it; ORT fuses the pattern into one Gelu kernel.
    erf = g.op("Erf", g.op("Div", inner, g.const(f"{p}sqrt2", np.float32(np.sqrt(2.0)))))
    inner = g.op("Mul", g.op("Mul", inner, g.op("Add", erf, "one")), g.const(f"{p}half", np.float32(0.5)))
    return _dense_norm(g, w, p + "output.", inner, x)


def _attention(g: _Graph, w: dict[str, np.ndarray], p: str, x: str, blocked: str, heads: int) -> str:
    """Appends self-attention, q, k and v from one MatMul (one larger GEMM is faster than three)."""
    width = w[f"{p}attention.self.query.weight"].shape[0]
    size = width // heads
    # 1/sqrt(size) is folded into the query projection, sparing a Mul on every score.
    scale = np.repeat(np.array([1 / np.sqrt(size), 1, 1], dtype=np.float32), width)
    parts = ("query", "key", "value")
    qkv_w = np.concatenate([w[f"{p}attention.self.{k}.weight"].T for k in parts], axis=1) * scale
    qkv_b = np.concatenate([w[f"{p}attention.self.{k}.bias"] for k in parts]) * scale
    qkv = g.op("Add", g.op("MatMul", x, g.const(f"{p}qkv.w", qkv_w), name=f"{p}qkv"), g.const(f"{p}qkv.b", qkv_b))
    split = g.op("Reshape", qkv, g.const(f"{p}split", np.array([0, 0, 3, heads, size])))
    split = g.op("Transpose", split, perm=[2, 0, 3, 1, 4])  # [3, batch, heads, seq, size]
    q, k, v = (g.op("Gather", split, g.const(f"{p}i{i}", np.array(i)), axis=0) for i in range(3))
    scores = g.op("Add", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), blocked)
    context = g.op("Transpose", g.op("MatMul", g.op("Softmax", scores, axis=-1), v), perm=[0, 2, 1, 3])
    return g.op("Reshape", context, g.const(f"{p}merge", np.array([0, 0, width])))


def _dense_norm(g: _Graph, w: dict[str, np.ndarray], p: str, x: str, residual: str) -> str:
    """Appends LayerNorm(residual + x @ W + b)."""
    y = g.op("MatMul", x, g.const(f"{p}w", w[f"{p}dense.weight"].T), name=f"{p}dense")
    y = g.op("Add", g.op("Add", y, g.const(f"{p}b", w[f"{p}dense.bias"])), residual)
    gamma, beta = g.const(f"{p}gamma", w[f"{p}LayerNorm.weight"]), g.const(f"{p}beta", w[f"{p}LayerNorm.bias"])
    return g.op("LayerNormalization", y, gamma, beta, axis=-1, epsilon=1e-12)


def export(variant: Variant, archive_path: Path | None = None) -> bytes:
    """Returns the serialised model of a variant, built from the checked weights."""
    from safetensors.numpy import load as load_tensors

    with zipfile.ZipFile(archive_path or model_zip()) as archive:
        weights = load_tensors(read_checked(archive, "model.safetensors"))
        config = json.loads(read_checked(archive, "config.json"))
    model = build_graph(weights, int(config["num_attention_heads"]), int(config["num_hidden_layers"]))
    if not variant.int8:
        return model.SerializeToString()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kept = [n.name for n in model.graph.node if any(re.search(part, n.name) for part in variant.exclude)]
    with tempfile.TemporaryDirectory() as work:
        quantize_dynamic(
            model,
            Path(work) / "int8.onnx",
            op_types_to_quantize=list(variant.ops),
            per_channel=variant.per_channel,
            reduce_range=variant.reduce_range,
            weight_type=QuantType.QUInt8 if variant.unsigned_weights else QuantType.QInt8,
            nodes_to_exclude=kept,
        )
        return (Path(work) / "int8.onnx").read_bytes()


def cached_model(cache_dir: Path, variant: Variant = DEFAULT_VARIANT, archive_path: Path | None = None) -> bytes:
    """Returns the variant's model from cache_dir, exporting it when the file is missing or is not
    the one whose SHA-256 was written beside it. The bytes returned are the bytes checked, so a file
    replaced after the check is never the one loaded."""
    # The name is readable and, through a digest of every setting, distinct for every variant.
    settings = hashlib.sha256(f"{variant!r} {GRAPH_VERSION}".encode()).hexdigest()[:12]
    path = cache_dir / f"{MODEL_NAME}-{re.sub(r'[^A-Za-z0-9.+-]', '', variant.name)}-{settings}.onnx"
    digest_path = path.with_name(path.name + ".sha256")
    try:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == digest_path.read_text().strip():
            return data
    except OSError:
        pass
    data = export(variant, archive_path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data)  # the model first: a reader between the two writes sees a mismatch, not a pass
    write_atomically(digest_path, hashlib.sha256(data).hexdigest() + "\n")
    return data


def usable_cores() -> int:
    """Returns the cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


PROVIDERS_ENV = "CPSEARCH_ONNX_PROVIDERS"


def providers() -> list[str]:
    """Returns ONNX Runtime's execution providers: the CPU, unless $CPSEARCH_ONNX_PROVIDERS names others
    (CUDAExecutionProvider,CPUExecutionProvider with onnxruntime-gpu installed, for a bulk re-embed)."""
    named = [name.strip() for name in os.environ.get(PROVIDERS_ENV, "").split(",") if name.strip()]
    return named or ["CPUExecutionProvider"]


class OnnxEncoder:
    """Encoder's interface, from an ONNX Runtime session: text -> 384 numbers, normalised to length 1."""

    def __init__(self, cache_dir: Path, variant: Variant = DEFAULT_VARIANT, archive_path: Path | None = None,
                 batch: int = ONNX_BATCH, threads: int | None = None) -> None:  # fmt: skip
        import onnxruntime as ort
        from tokenizers import Tokenizer

        with zipfile.ZipFile(archive_path or model_zip()) as archive:
            self.tokenizer = Tokenizer.from_str(read_checked(archive, "tokenizer.json").decode("utf-8"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # each batch is padded to its own longest text, in encode_pieces
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or usable_cores()
        options.inter_op_num_threads = 1  # the graph is one chain of ops: a second pool would only contend
        model = cached_model(cache_dir, variant, archive_path)
        self.session = ort.InferenceSession(model, options, providers=providers())
        self.batch = batch

    def encode(self, texts: list[str]) -> np.ndarray:
        """Returns one normalised float32 vector per text, shape (len(texts), 384)."""
        pieces = [e.ids for e in self.tokenizer.encode_batch([t or " " for t in texts])]
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Texts of like token count share a batch (when batch > 1), so little time goes on padding.
        order = sorted(range(len(texts)), key=lambda i: len(pieces[i]))
        for start in range(0, len(order), self.batch):
            chosen = order[start : start + self.batch]
            out[chosen] = self.encode_pieces([pieces[i] for i in chosen])
        return out

    def encode_pieces(self, pieces: list[list[int]]) -> np.ndarray:
        """Returns the vectors of a batch of word-piece id lists, padded with 0 ([PAD]) to the longest."""
        lengths = np.array([len(p) for p in pieces])
        ids = np.zeros((len(pieces), int(lengths.max())), dtype=np.int64)
        for row, piece_ids in enumerate(pieces):
            ids[row, : len(piece_ids)] = piece_ids
        mask = (np.arange(ids.shape[1]) < lengths[:, None]).astype(np.int64)
        (vectors,) = self.session.run(["vectors"], {"input_ids": ids, "attention_mask": mask})
        return np.asarray(vectors, dtype=np.float32)
