"""SmoothQuant before dynamic int8: move activation outliers into the weights, per MatMul input.

onnxruntime's dynamic int8 (``DynamicQuantizeMatMul``) quantizes a MatMul's activation with one
scale per call. Transformer activations have a few outlier channels (BERT's LayerNorm outputs carry
channels many times larger than the rest), so those channels spend the 8 bits and every other
channel, and every short text, loses precision: on all-MiniLM-L6-v2 plain per-channel int8 kept a
mean cosine of 0.990 but only 0.960 on the worst text ("ok").

SmoothQuant (Xiao et al., 2023, arXiv:2211.10438) divides activation channel ``j`` by ``s_j`` and
multiplies row ``j`` of every weight that reads it by ``s_j``: the product is unchanged in exact
arithmetic and both factors become easier to quantize. ``s_j = max|X_j|^a / max|W_j|^(1-a)``, with
``a`` from :data:`ALPHAS`, kept per MatMul input when it lowers the simulated int8 product's error (uint8 activation
per text as at batch 1, and under the batch's one range; 7-bit per-channel weights) on the calibration texts and
keeping the ``a`` with the smallest error. The division is one ``Mul`` on the activation: elementwise,
far cheaper than the MatMul it feeds. The simulated error of each input is kept, so the packager can
leave the worst ones in fp32 when the parity gate asks for it (:func:`exclusion_order`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from onnx import GraphProto, ModelProto, NodeProto, TensorProto

__all__ = ["ALPHAS", "SmoothedModel", "SmoothedGroup", "smooth_for_int8"]

#: Migration strengths tried per MatMul input: SmoothQuant's default, 0.5. Leaving an input as it is
#: competes, so smoothing never makes an input's simulated product worse. A wider search (0.2-0.9)
#: was measured on all-MiniLM-L6-v2: the simulation then picks 0.8-0.9, which lowers each MatMul's
#: own error but drops the worst text's cosine from 0.983 to 0.920 end to end.
ALPHAS: tuple[float, ...] = (0.5,)
#: Rows of each activation kept for choosing ``a`` (texts beyond it are still used for the maxima).
_MAX_ROWS = 4096
#: Activations fetched per calibration run (each run holds them whole, padded batch included).
_PER_RUN = 8
_SCALE_RANGE = (1e-2, 1e3)


@dataclass(frozen=True)
class SmoothedGroup:
    """The MatMuls that read one activation, the strength chosen for it and its simulated int8 error."""

    activation: str
    matmuls: tuple[str, ...]
    alpha: float
    """Migration strength chosen; -1 when the input is left as it is."""
    error: float
    """Mean relative squared error per token of the simulated int8 product (worst MatMul of the group)."""


@dataclass(frozen=True)
class SmoothedModel:
    """The smoothed model (fp32, same outputs) and its groups, worst simulated error first."""

    model: bytes
    groups: tuple[SmoothedGroup, ...]

    def exclusion_order(self) -> list[tuple[str, ...]]:
        """The MatMul names of each group, in the order to keep them in fp32 when int8 is not faithful."""
        return [group.matmuls for group in self.groups]


#: Operators that multiply their input 0 by a constant 2-D weight in input 1: MatMul, and the fused
#: Attention of onnxruntime's transformer optimizer (input x packed Q/K/V weights), which int8 makes QAttention.
_PROJECTIONS = {("", "MatMul"), ("com.microsoft", "Attention")}


def _matmul_groups(graph: GraphProto, initializers: dict[str, TensorProto]) -> dict[str, list[NodeProto]]:
    """Constant-weight 2-D projections grouped by the activation they read; weights shared elsewhere are skipped."""
    uses: dict[str, int] = defaultdict(int)
    for node in graph.node:
        for name in node.input:
            uses[name] += 1
    groups: dict[str, list[NodeProto]] = defaultdict(list)
    for node in graph.node:
        if (node.domain, node.op_type) not in _PROJECTIONS or len(node.input) < 2:
            continue
        if node.input[1] not in initializers or node.input[0] in initializers:
            continue
        if uses[node.input[1]] != 1 or len(initializers[node.input[1]].dims) != 2:
            continue
        groups[node.input[0]].append(node)
    return {
        activation: nodes
        for activation, nodes in groups.items()
        if len({initializers[node.input[1]].dims[0] for node in nodes}) == 1
    }


@dataclass
class _Activation:
    """What calibration saw of one MatMul input: real-token rows per text and the batch's channel range."""

    texts: list[np.ndarray]
    low: np.ndarray
    high: np.ndarray
    """Per-channel minimum and maximum over the whole padded batch (what one dynamic range covers)."""


def _calibrate(model: ModelProto, activations: list[str], feed: dict[str, np.ndarray]) -> dict[str, _Activation]:
    """Each activation on the calibration batch, from onnxruntime, a few activations per run."""
    import onnx
    import onnxruntime as ort

    counts = feed["attention_mask"].sum(axis=1).astype(int).tolist() if "attention_mask" in feed else None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every probed value
    seen: dict[str, _Activation] = {}
    for start in range(0, len(activations), _PER_RUN):
        chunk = activations[start : start + _PER_RUN]
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        del probe.graph.output[:]
        probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in chunk)
        session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
        inputs = {value.name for value in session.get_inputs()}
        given = {name: value for name, value in feed.items() if name in inputs}  # a fused graph may drop some
        for name, output in zip(chunk, session.run(chunk, given), strict=True):
            value = np.asarray(output, dtype=np.float32)
            flat = value.reshape(-1, value.shape[-1])
            if value.ndim == 3 and counts is not None and value.shape[0] == len(counts):
                texts = [value[index, :count] for index, count in enumerate(counts) if count]
            else:
                texts = [flat]
            seen[name] = _Activation(texts, flat.min(axis=0), flat.max(axis=0))
    return seen


def _quantized_activation(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``x`` through uint8 asymmetric quantization over [low, high] (DynamicQuantizeLinear's range)."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0 or 1.0
    zero = np.round(-low / scale)
    return np.asarray((np.clip(np.round(x / scale) + zero, 0, 255) - zero) * scale, dtype=np.float32)


def _quantized_weight(w: np.ndarray) -> np.ndarray:
    """``w`` [K, N] through symmetric 7-bit per-output-channel quantization (as ``quantize_int8``)."""
    scale = np.abs(w).max(axis=0, keepdims=True) / 63.0
    scale[scale == 0] = 1.0
    return np.asarray(np.clip(np.round(w / scale), -64, 63) * scale, dtype=np.float32)


def _relative_error(exact: np.ndarray, quantized: np.ndarray, weights: list[np.ndarray], scales: np.ndarray) -> float:
    worst = 0.0
    for weight in weights:
        want = exact @ weight
        got = quantized @ _quantized_weight(weight * scales[:, None])
        power = np.maximum((want**2).sum(axis=1), 1e-12)
        worst = max(worst, float((((want - got) ** 2).sum(axis=1) / power).mean()))
    return worst


def _simulated_error(
    seen: _Activation, sample: list[np.ndarray], weights: list[np.ndarray], scales: np.ndarray
) -> float:
    """Worst-MatMul mean relative squared error per token of the int8 product.

    Two ways a request quantizes: each text alone (batch 1) and all texts under the batch's one range;
    the worse of the two counts.
    """
    exact = np.concatenate(sample)
    alone = np.concatenate([_quantized_activation(rows / scales, *_range(rows / scales)) for rows in sample])
    low, high = float((seen.low / scales).min()), float((seen.high / scales).max())
    together = _quantized_activation(exact / scales, low, high)
    return max(_relative_error(exact, alone, weights, scales), _relative_error(exact, together, weights, scales))


def _range(values: np.ndarray) -> tuple[float, float]:
    return float(values.min()), float(values.max())


def _sample_rows(texts: list[np.ndarray]) -> list[np.ndarray]:
    kept, total = [], 0
    for rows in texts:
        if total >= _MAX_ROWS:
            break
        kept.append(rows[: _MAX_ROWS - total])
        total += len(kept[-1])
    return kept


def _choose(seen: _Activation, weights: list[np.ndarray]) -> tuple[float, float, np.ndarray]:
    """The strength with the smallest simulated error (-1: left as it is), that error, and its scales."""
    activation_max = np.maximum(np.maximum(np.abs(seen.low), np.abs(seen.high)), 1e-5)
    weight_max = np.maximum(np.max([np.abs(w).max(axis=1) for w in weights], axis=0), 1e-5)
    sample = _sample_rows(seen.texts)
    unchanged = np.ones_like(activation_max, dtype=np.float32)
    best = (-1.0, _simulated_error(seen, sample, weights, unchanged), unchanged)
    for alpha in ALPHAS:
        scales = np.clip(activation_max**alpha / weight_max ** (1.0 - alpha), *_SCALE_RANGE).astype(np.float32)
        error = _simulated_error(seen, sample, weights, scales)
        if error < best[1]:
            best = (alpha, error, scales)
    return best


def _topological(graph: GraphProto) -> None:
    """Reorder ``graph.node`` so every node follows the producers of its inputs."""
    ready = {value.name for value in graph.input} | {init.name for init in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        waiting = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                waiting.append(node)
        if len(waiting) == len(pending):  # inputs from an outer scope: keep the rest in their order
            ordered.extend(waiting)
            break
        pending = waiting
    del graph.node[:]
    graph.node.extend(ordered)


def smooth_for_int8(model_bytes: bytes, feed: dict[str, np.ndarray]) -> SmoothedModel:
    """Smooth every constant-weight MatMul input of ``model_bytes``, calibrated on the batch ``feed``."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    groups = _matmul_groups(graph, initializers)
    if not groups:
        return SmoothedModel(model_bytes, ())
    seen = _calibrate(model, list(groups), feed)
    smoothed: list[SmoothedGroup] = []
    for activation, nodes in groups.items():
        weights = [numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32) for node in nodes]
        alpha, error, scales = _choose(seen[activation], weights)
        smoothed.append(SmoothedGroup(activation, tuple(node.name for node in nodes), alpha, error))
        if alpha < 0:
            continue
        inverse, divided = f"{activation}_smoothquant_inverse", f"{activation}_smoothquant"
        graph.initializer.append(numpy_helper.from_array((1.0 / scales).astype(np.float32), inverse))
        divide = onnx.helper.make_node("Mul", [activation, inverse], [divided], name=f"{activation}_SmoothQuant")
        graph.node.append(divide)
        for node, weight in zip(nodes, weights, strict=True):
            name = node.input[1]
            initializers[name].CopyFrom(numpy_helper.from_array(weight * scales[:, None], name))
            node.input[0] = divided
    _topological(graph)
    ordered = tuple(sorted(smoothed, key=lambda group: -group.error))
    return SmoothedModel(model.SerializeToString(), ordered)
