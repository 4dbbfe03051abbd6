"""int8 speech bundles: dynamic quantization of the graphs' MatMul weights, gated on transcripts.

Weights of MatMul/Gemm layers are stored as int8 (per channel, ``onnxruntime.quantization.quantize_dynamic``);
convolutions (wav2vec2's feature encoder, Whisper's two input convolutions) stay fp32. An int8 bundle is
gated on the word error rate of its transcripts against transformers' (``INT8_MAX_WORD_ERROR_RATE``
unless given): the bound is recorded in the manifest and every later judgement uses it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from model_packager.converters.base import ConversionError

__all__ = ["INT8_MAX_WORD_ERROR_RATE", "quantize_graph"]

#: Word error rate (against transformers' transcripts) an int8 speech bundle may reach.
INT8_MAX_WORD_ERROR_RATE = 0.1


def quantize_graph(path: Path) -> None:
    """Replace the graph at ``path`` by its dynamically quantized int8 version (MatMul/Gemm weights)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = path.with_name(path.stem + ".int8.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs pre-processing advice as a warning
    try:
        quantize_dynamic(
            path,
            target,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            op_types_to_quantize=["MatMul", "Gemm"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    except Exception as exc:
        raise ConversionError(
            f"onnxruntime could not quantize {path.name} to int8: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        root.setLevel(level)
    target.replace(path)
