"""A screened output layer for Whisper's decoder: the exact greedy token without the full fp32 logits.

A token step of a whisper-tiny-shaped decoder reads about 132 MB: 34 MB of layer weights, 18 MB of
cross-attention keys and values, and 80 MB for the output layer (51,865 tokens x 384, fp32), which is
the largest single cost of a step. Greedy decoding only needs the best allowed token, so the decoder
graph gets a second way to end (an ``If`` on the ``full_logits`` input):

* ``full_logits`` true: ``logits`` as before (the prompt, the gate's teacher-forced check, verbose answers);
* false (batch 1; the last position is screened): every token's logit is estimated from int8 weights
  (20 MB read instead of 80) with a proven error bound, the ``candidates`` highest upper bounds among
  the text tokens get their exact fp32 logits (``candidate_logits``), every timestamp token gets its
  exact logit (``stamp_logits``), and ``rest_upper`` bounds every other text token's logit from above.

The output layer is stored once, as the token embedding (Whisper ties them; onnxruntime folds the
``Transpose`` at load): a whisper-tiny-shaped ``decoder.onnx`` is 134 MB instead of 213.

The bound, for token ``c`` with fp32 weights ``w_c``, int8 weights ``q_c`` and scale ``s_c``, and the hidden
state ``h`` that onnxruntime quantizes to ``h'`` (uint8, step ``(max(h, 0) - min(h, 0)) / 255``)::

    |w_c.h - s_c q_c.h'| <= ||w_c - s_c q_c||_2 ||h||_2 + ||s_c q_c||_1 ||h - h'||_inf

``||h - h'||_inf`` is at most half a step; the graph uses a whole step, and adds ``SLACK`` for fp32
rounding. Weights use 7 bits (``|q| <= 63``) so no CPU's int8 kernel saturates. The runtime
(:mod:`bundle.processing.whisper_screen`) picks the token only when the exact candidates prove it
(the best allowed candidate beats ``rest_upper``), else it asks for the full logits: the tokens are
those of the full logits either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bundle.processing.whisper_screen import SCREEN_OUTPUTS

__all__ = ["CANDIDATES", "SLACK", "add_output_screen"]

#: Text tokens whose exact logits each screened step computes.
CANDIDATES = 64
#: Added to every token's error bound for fp32 rounding (logits are O(10); rounding is O(1e-5)).
SLACK = 1e-3
_LEVELS = 63


def _quantized(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """7-bit symmetric per-token weights [D, V], their scales, and each token's L2 error and L1 norm."""
    scale = (np.abs(weight).max(axis=0) / _LEVELS).astype(np.float32)
    scale[scale == 0] = 1.0
    quantized = np.clip(np.round(weight / scale), -_LEVELS, _LEVELS).astype(np.int8)
    restored = quantized.astype(np.float64) * scale.astype(np.float64)  # as onnxruntime dequantizes them
    error = np.linalg.norm(weight.astype(np.float64) - restored, axis=0)
    l1 = np.abs(restored).sum(axis=0)
    return quantized, scale, error.astype(np.float32), l1.astype(np.float32)


def _tied_embedding(graph: Any, weight: np.ndarray) -> str | None:
    """The token embedding initializer equal to the output layer transposed (Whisper ties them), if any."""
    from onnx import numpy_helper

    initializers = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Gather" and node.input[0] in initializers:
            table = numpy_helper.to_array(initializers[node.input[0]])
            if table.shape == weight.T.shape and np.array_equal(table, weight.T):
                return str(node.input[0])
    return None


def add_output_screen(path: Path, timestamp_begin: int, candidates: int = CANDIDATES) -> bool:
    """Give the decoder graph at ``path`` its screened ending (see the module docstring).

    Returns False, leaving the graph as it is, when the output layer is not the token embedding
    transposed (the exact candidate rows are read from the embedding).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    head = next(node for node in graph.node if "logits" in node.output)
    initializers = {init.name: init for init in graph.initializer}
    if head.op_type != "MatMul" or head.input[1] not in initializers:
        return False
    hidden, weight_name = head.input
    weight = numpy_helper.to_array(initializers[weight_name])  # [D, V]
    embedding = _tied_embedding(graph, weight)
    if embedding is None:
        return False
    width, vocab = weight.shape
    quantized, scale, error, l1 = _quantized(weight)
    graph.initializer.extend(
        [
            numpy_helper.from_array(quantized, "screen_weight"),
            numpy_helper.from_array(scale, "screen_scale"),
            numpy_helper.from_array(np.zeros(vocab, np.int8), "screen_zero"),
            numpy_helper.from_array(error, "screen_l2_error"),
            numpy_helper.from_array(l1, "screen_l1"),
        ]
    )

    def const(name: str, value: Any, dtype: Any = np.int64) -> Any:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype)))

    full = helper.make_graph(
        [
            helper.make_node("MatMul", [hidden, "output_weight"], ["full_logits_out"]),
            const("full_ids", np.zeros((1, 0)), np.int64),
            const("full_exact", np.zeros((1, 0)), np.float32),
            const("full_rest", np.zeros((1, 1)), np.float32),
            const("full_stamps", np.zeros((1, 0)), np.float32),
        ],
        "full_logits",
        [],
        _branch_outputs("full_logits_out", "full_ids", "full_exact", "full_rest", "full_stamps"),
    )
    screened = helper.make_graph(
        [
            const("s_last", -1),
            helper.make_node("Gather", [hidden, "s_last"], ["s_h_last"], axis=1),  # the last position
            const("s_shape", [1, width]),
            helper.make_node("Reshape", ["s_h_last", "s_shape"], ["s_h"]),
            helper.make_node(
                "DynamicQuantizeMatMul",
                ["s_h", "screen_weight", "screen_scale", "screen_zero"],
                ["s_approx"],
                domain="com.microsoft",
            ),
            helper.make_node("ReduceL2", ["s_h"], ["s_norm"], keepdims=1),
            const("s_zero", 0.0, np.float32),
            helper.make_node("ReduceMax", ["s_h"], ["s_max"], keepdims=1),
            helper.make_node("ReduceMin", ["s_h"], ["s_min"], keepdims=1),
            helper.make_node("Max", ["s_max", "s_zero"], ["s_hi"]),
            helper.make_node("Min", ["s_min", "s_zero"], ["s_lo"]),
            helper.make_node("Sub", ["s_hi", "s_lo"], ["s_range"]),
            const("s_levels", 255.0, np.float32),
            helper.make_node("Div", ["s_range", "s_levels"], ["s_step"]),
            helper.make_node("Mul", ["screen_l2_error", "s_norm"], ["s_weight_error"]),
            helper.make_node("Mul", ["screen_l1", "s_step"], ["s_input_error"]),
            helper.make_node("Add", ["s_weight_error", "s_input_error"], ["s_error"]),
            const("s_slack", SLACK, np.float32),
            helper.make_node("Add", ["s_error", "s_slack"], ["s_bound"]),
            helper.make_node("Add", ["s_approx", "s_bound"], ["s_upper"]),
            const("s_text_start", [0]),
            const("s_text_end", [timestamp_begin]),
            const("s_axis", [1]),
            helper.make_node("Slice", ["s_upper", "s_text_start", "s_text_end", "s_axis"], ["s_text_upper"]),
            const("s_k", [candidates + 1]),
            helper.make_node("TopK", ["s_text_upper", "s_k"], ["s_top", "s_top_ids"], axis=1),
            const("s_first", [0]),
            const("s_kth", [candidates]),
            const("s_after", [candidates + 1]),
            helper.make_node("Slice", ["s_top_ids", "s_first", "s_kth", "s_axis"], ["s_ids"]),
            helper.make_node("Slice", ["s_top", "s_kth", "s_after", "s_axis"], ["s_rest"]),
            const("s_flat", [candidates]),
            helper.make_node("Reshape", ["s_ids", "s_flat"], ["s_ids_flat"]),
            helper.make_node("Gather", [embedding, "s_ids_flat"], ["s_rows"], axis=0),
            helper.make_node("Gemm", ["s_h", "s_rows"], ["s_exact"], transB=1),
            const("s_stamp_start", [timestamp_begin]),
            const("s_stamp_end", [vocab]),
            const("s_row_axis", [0]),
            helper.make_node("Slice", [embedding, "s_stamp_start", "s_stamp_end", "s_row_axis"], ["s_stamp_rows"]),
            helper.make_node("Gemm", ["s_h", "s_stamp_rows"], ["s_stamps"], transB=1),
            const("s_no_logits", np.zeros((1, 1, 0)), np.float32),
        ],
        "screened",
        [],
        _branch_outputs("s_no_logits", "s_ids", "s_exact", "s_rest", "s_stamps"),
    )
    position = list(graph.node).index(head)
    graph.node.remove(head)
    # the output layer is the embedding transposed: stored once (onnxruntime folds the Transpose at load)
    graph.initializer.remove(initializers[weight_name])
    tied = helper.make_node("Transpose", [embedding], ["output_weight"], perm=[1, 0])
    branch = helper.make_node(
        "If", ["full_logits"], ["logits", *SCREEN_OUTPUTS], then_branch=full, else_branch=screened
    )
    graph.node.insert(position, branch)
    graph.node.insert(position, tied)
    graph.input.append(helper.make_tensor_value_info("full_logits", TensorProto.BOOL, []))
    logits = next(output for output in graph.output if output.name == "logits")
    declared = _branch_outputs("logits", *SCREEN_OUTPUTS)
    logits.CopyFrom(declared[0])  # [batch, tokens, vocab]; [1, 1, 0] screened
    graph.output.extend(declared[1:])
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(path))
    return True


def _out(name: str, dtype: int, rank: int) -> Any:
    from onnx import helper

    return helper.make_tensor_value_info(name, dtype, [None] * rank)


def _branch_outputs(logits: str, ids: str, exact: str, rest: str, stamps: str) -> list[Any]:
    """The ``If``'s outputs (and the graph's): logits [batch, tokens, vocab], then the screened step's four."""
    from onnx import TensorProto

    return [
        _out(logits, TensorProto.FLOAT, 3),
        _out(ids, TensorProto.INT64, 2),
        *(_out(name, TensorProto.FLOAT, 2) for name in (exact, rest, stamps)),
    ]
