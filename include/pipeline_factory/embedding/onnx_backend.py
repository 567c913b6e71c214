"""CPU embeddings through ONNX Runtime, exported from the shipped weights on first use.

sentence-transformers' own ``backend="onnx"`` goes through optimum, whose
ONNX exporter pins ``transformers<4.58`` (the project runs 5.x), so the
export is done here with ``torch.onnx.export`` of the same transformer and
``onnxruntime.quantization.quantize_dynamic`` for the int8 variant.  Neither
step needs a network.  The exported files live in
``<data dir>/models/onnx/<weights fingerprint>/`` and are written atomically
(temp file + rename), so concurrent first uses never see half a model.
Pooling (mean over the attention mask) and normalisation are the model's
own sentence-transformers modules, done in numpy.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pipeline_factory.embedding import batching

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
VARIANTS = ("fp32", "int8")
#: bumped when the export changes, so that older exports are not reused
EXPORT_FORMAT = "v2-fused"
#: padded tokens per ``session.run`` at most: a batch of 64 texts of 256 tokens holds 32 of them instead.
#: Its attention scores and FFN activations then stay near the CPU's caches: about 12 % faster on the
#: shipped corpus (2 cores), the same vectors (cosine 0.9999998 to unlimited batches); short texts still
#: run ``batch_size`` at a time.
MAX_BATCH_TOKENS = 8192


def export_dir(fingerprint: str) -> Path:
    from pipeline_factory import settings

    root = os.environ.get("PIPELINE_ONNX_DIR") or settings.data_dir() / "models" / "onnx"
    return Path(root) / fingerprint / EXPORT_FORMAT


def export(model_dir: Path, target: Path, variant: str) -> Path:
    """``target/model_<variant>.onnx``, exported (and quantized for int8) if not there yet."""
    if variant not in VARIANTS:
        raise ValueError(f"ONNX variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    target.mkdir(parents=True, exist_ok=True)
    fp32 = target / "model_fp32.onnx"
    if not fp32.exists():
        _export_fp32(model_dir, fp32)
    if variant == "fp32":
        return fp32
    int8 = target / "model_int8.onnx"
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        log.info("quantizing %s to int8 (dynamic)", fp32)
        with _temp_beside(int8) as tmp:
            # per-channel scales: per-tensor ones cost the MiniLM family ~5 % cosine, per-channel under 1 %
            quantize_dynamic(
                str(fp32),
                str(tmp),
                weight_type=QuantType.QInt8,
                per_channel=True,
                extra_options={"DefaultTensorType": 1},  # FLOAT: fused ops carry no inferred output types
            )
    return int8


def _export_fp32(model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    log.info("exporting %s to ONNX (%s)", model_dir, out)
    # eager attention exports as plain MatMul/Softmax, which ONNX Runtime's optimizer fuses into one
    # Attention op per layer (SDPA's export it does not recognise)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager").eval()

    class HiddenStates(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with _temp_beside(out) as tmp, torch.inference_mode():
        torch.onnx.export(
            HiddenStates(model),
            example,
            str(tmp),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        _fuse(tmp, model.config)


def _fuse(path: Path, config: Any) -> None:
    """ONNX Runtime's transformer fusions (Attention, SkipLayerNorm, BiasGelu), in place, for BERT-shaped
    models: about 15 % faster on the CPU with the same outputs (cosine 0.9999999).  Anything else, or a
    graph the optimizer cannot handle, stays as exported."""
    if getattr(config, "model_type", None) != "bert":
        return
    try:
        from onnxruntime.transformers import optimizer

        fused = optimizer.optimize_model(
            str(path), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
        )
        fused.save_model_to_file(str(path))
    except Exception as exc:  # an unfused model is still correct
        log.warning("ONNX Runtime fusions skipped for %s: %s", path, exc)


class _temp_beside:
    """A temp path next to ``final``, renamed onto it on success and removed on failure."""

    def __init__(self, final: Path):
        self.final = final

    def __enter__(self) -> Path:
        fd, name = tempfile.mkstemp(dir=self.final.parent, prefix=f".{self.final.name}.", suffix=".tmp")
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.final)
        else:
            self.tmp.unlink(missing_ok=True)


class OnnxEncoder:
    """Tokenizer + ONNX Runtime session + mean pooling: ``encode(texts) -> float32 array`` (unit rows)."""

    def __init__(self, model_file: Path, model_dir: Path, max_length: int, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.tokenizer = batching.load_tokenizer(str(model_dir), max_length)
        self.dimension = int(self.forward(self.pretokenize(["x"], 1)[0]).shape[1])

    def pretokenize(self, texts: list[str], batch_size: int) -> list[batching.TokenBatch]:
        return batching.token_batches(self.tokenizer, texts, batch_size, max_tokens=MAX_BATCH_TOKENS)

    def forward(self, batch: batching.TokenBatch) -> np.ndarray:
        """The model on one tokenized batch: pooled, normalised vectors in the batch's row order."""
        feed = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
            "token_type_ids": batch.token_type_ids,
        }
        (hidden,) = self.session.run(["last_hidden_state"], feed)
        return batching.mean_pool_normalize(hidden, batch.attention_mask)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        stream = batching.stream_batches(
            self.tokenizer, texts, batch_size, window=batch_size * 16, max_tokens=MAX_BATCH_TOKENS
        )
        for batch in batching.prefetch(stream, depth=2):
            out[batch.rows] = self.forward(batch)
        return out
