"""Speech models to ONNX with torch.onnx (the TorchScript exporter, ``dynamo=False``, as the text converter).

* CTC (``*ForCTC``): one graph, ``input_values`` [batch, samples] -> ``logits`` [batch, frames, vocab],
  batch and time dynamic.
* Whisper: the encoder graph gives ``encoder_hidden_states`` and every decoder layer's cross-attention
  keys and values (computed once per 30 s window); its self-attention is onnxruntime's
  ``MultiHeadAttention``, a flash-attention kernel on CPU (see ``_fused_attention``). The decoder graph
  takes ``input_ids`` [batch, tokens], the self-attention cache ``past_key_i`` / ``past_value_i``
  [batch, heads, past, head_dim] (``past`` may be 0) and the cross keys and values, and gives ``logits``
  and ``present_key_i`` / ``present_value_i``.
  The decoder is written out explicitly over transformers' own modules (the same weights, the same
  arithmetic) so the cache is plain tensors: one graph serves the prompt and every next token, and the
  gate checks it against transformers' logits.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

__all__ = ["OPSET", "decoder_io", "export_ctc", "export_whisper", "fuse_decoder"]

OPSET = 17


def _quiet_export(torch: Any, module: Any, args: tuple[Any, ...], path: Path, **options: Any) -> None:
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buffer, dynamo=False, verbose=False, opset_version=OPSET, **options)
    path.write_bytes(buffer.getvalue())


def export_ctc(model: Any, path: Path) -> None:
    """The CTC graph: ``input_values`` -> ``logits``, batch and time dynamic."""
    import torch

    class CTC(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_values: Any) -> Any:
            return self.model(input_values=input_values).logits

    example = torch.randn(2, 16000 * 2)
    _quiet_export(
        torch,
        CTC().eval(),
        (example,),
        path,
        input_names=["input_values"],
        output_names=["logits"],
        dynamic_axes={"input_values": {0: "batch", 1: "samples"}, "logits": {0: "batch", 1: "frames"}},
    )


def decoder_io(layers: int) -> tuple[list[str], list[str]]:
    """The decoder graph's input and output names."""
    past = [f"past_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    cross = [f"cross_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    present = [f"present_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    return ["input_ids", *past, *cross], ["logits", *present]


def _fused_attention(torch: Any, heads: int) -> Any:
    """Bidirectional attention over [batch, time, d_model] queries, keys and values, exported as one node.

    Eager torch computes softmax(q k^T / sqrt(head_dim)) v per head (transformers' eager attention);
    the ONNX graph gets onnxruntime's ``MultiHeadAttention`` (com.microsoft), which on CPU runs a
    flash-attention kernel: the 1500 x 1500 scores of a 30 s window never exist in memory.
    """

    class Attention(torch.autograd.Function):  # type: ignore[misc]
        @staticmethod
        def forward(ctx: Any, query: Any, key: Any, value: Any) -> Any:
            batch, time, width = query.shape
            head_dim = width // heads

            def split(x: Any) -> Any:
                return x.reshape(batch, -1, heads, head_dim).transpose(1, 2)

            scores = torch.matmul(split(query) * head_dim**-0.5, split(key).transpose(2, 3))
            out = torch.matmul(torch.softmax(scores, dim=-1), split(value))
            return out.transpose(1, 2).reshape(batch, time, width)

        @staticmethod
        def symbolic(g: Any, query: Any, key: Any, value: Any) -> Any:
            out = g.op("com.microsoft::MultiHeadAttention", query, key, value, num_heads_i=heads)
            out.setType(query.type())  # the output has the query's type and shape
            return out

    return Attention


def _modules(torch: Any, model: Any) -> tuple[Any, Any]:
    decoder = model.model.decoder
    heads = decoder.layers[0].self_attn.num_heads
    head_dim = decoder.layers[0].self_attn.head_dim
    act = decoder.layers[0].activation_fn

    def split(x: Any) -> Any:  # [B, T, D] -> [B, H, T, hd]
        return x.view(x.shape[0], x.shape[1], heads, head_dim).transpose(1, 2)

    def attend(q: Any, k: Any, v: Any, mask: Any | None) -> Any:
        weights = torch.matmul(q, k.transpose(2, 3))
        if mask is not None:
            weights = weights + mask
        out = torch.matmul(torch.softmax(weights, dim=-1), v).transpose(1, 2)
        return out.reshape(out.shape[0], out.shape[1], heads * head_dim)

    encoder = model.model.encoder
    self_attention = _fused_attention(torch, encoder.layers[0].self_attn.num_heads)

    class Encoder(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder

        def forward(self, input_features: Any) -> tuple[Any, ...]:
            gelu = torch.nn.functional.gelu
            embedded = gelu(encoder.conv2(gelu(encoder.conv1(input_features)))).permute(0, 2, 1)
            hidden = embedded + encoder.embed_positions.weight[: embedded.shape[1]]
            for layer in encoder.layers:
                attn, x = layer.self_attn, layer.self_attn_layer_norm(hidden)
                hidden = hidden + attn.out_proj(self_attention.apply(attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)))
                hidden = hidden + layer.fc2(layer.activation_fn(layer.fc1(layer.final_layer_norm(hidden))))
            hidden = encoder.layer_norm(hidden)
            cross = []
            for layer in self.decoder.layers:
                cross += [split(layer.encoder_attn.k_proj(hidden)), split(layer.encoder_attn.v_proj(hidden))]
            return (hidden, *cross)

    class Decoder(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.decoder = decoder
            self.proj = model.proj_out

        def forward(self, input_ids: Any, *caches: Any) -> tuple[Any, ...]:
            count = len(self.decoder.layers)
            past, cross = caches[: 2 * count], caches[2 * count :]
            start = past[0].shape[2]
            length = input_ids.shape[1]
            positions = self.decoder.embed_positions.weight[start : start + length]
            hidden = self.decoder.embed_tokens(input_ids) * self.decoder.embed_scale + positions
            keys = torch.arange(start + length).unsqueeze(0)
            queries = (torch.arange(length) + start).unsqueeze(1)
            mask = torch.where(keys > queries, torch.tensor(float("-inf")), torch.tensor(0.0))
            present = []
            for i, layer in enumerate(self.decoder.layers):
                attn = layer.self_attn
                x = layer.self_attn_layer_norm(hidden)
                q = split(attn.q_proj(x) * attn.scaling)
                k = torch.cat([past[2 * i], split(attn.k_proj(x))], dim=2)
                v = torch.cat([past[2 * i + 1], split(attn.v_proj(x))], dim=2)
                present += [k, v]
                hidden = hidden + attn.out_proj(attend(q, k, v, mask))
                cross_attn = layer.encoder_attn
                x = layer.encoder_attn_layer_norm(hidden)
                q = split(cross_attn.q_proj(x) * cross_attn.scaling)
                hidden = hidden + cross_attn.out_proj(attend(q, cross[2 * i], cross[2 * i + 1], None))
                x = layer.final_layer_norm(hidden)
                hidden = hidden + layer.fc2(act(layer.fc1(x)))
            logits = self.proj(self.decoder.layer_norm(hidden))
            return (logits, *present)

    return Encoder().eval(), Decoder().eval()


def export_whisper(model: Any, encoder_path: Path, decoder_path: Path) -> None:
    """Whisper's encoder and cached decoder graphs (see the module docstring)."""
    import torch

    config = model.config
    encoder, decoder = _modules(torch, model)
    layers = len(model.model.decoder.layers)
    cross_names = [f"cross_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    features = torch.randn(2, config.num_mel_bins, 2 * config.max_source_positions)
    _quiet_export(
        torch,
        encoder,
        (features,),
        encoder_path,
        input_names=["input_features"],
        output_names=["encoder_hidden_states", *cross_names],
        dynamic_axes={name: {0: "batch"} for name in ["input_features", "encoder_hidden_states", *cross_names]},
        custom_opsets={"com.microsoft": 1},
    )
    with torch.no_grad():
        cross = encoder(features)[1:]
    heads = model.model.decoder.layers[0].self_attn.num_heads
    head_dim = config.d_model // heads
    past = [torch.randn(2, heads, 3, head_dim) for _ in range(2 * layers)]
    ids = torch.randint(0, config.vocab_size, (2, 4))
    inputs, outputs = decoder_io(layers)
    axes: dict[str, dict[int, str]] = {"input_ids": {0: "batch", 1: "tokens"}, "logits": {0: "batch", 1: "tokens"}}
    axes |= {name: {0: "batch", 2: "past"} for name in inputs if name.startswith("past_")}
    axes |= {name: {0: "batch", 2: "total"} for name in outputs if name.startswith("present_")}
    axes |= {name: {0: "batch"} for name in inputs if name.startswith("cross_")}
    _quiet_export(
        torch, decoder, (ids, *past, *cross), decoder_path, input_names=inputs, output_names=outputs, dynamic_axes=axes
    )
    fuse_decoder(decoder_path, config)


def fuse_decoder(path: Path, config: Any) -> None:
    """onnxruntime's fusions on the cached decoder: each attention one ``MultiHeadAttention`` (com.microsoft).

    onnxruntime's transformer optimizer (``model_type="bart"``, pattern fusions only, so the graph stays
    portable). The self-attention takes the cache as its ``past_key``/``past_value`` and gives
    ``present_*`` (the graph's inputs and outputs keep their names), the cross-attention takes the
    encoder's keys and values as they are; layer norms with their residual adds and the biased GELU are
    fused too. The graph drops from about 600 nodes to about 75 (whisper-tiny's shape), which is what a
    token step pays for beyond its matrix products; the gate checks the fused graph's logits and transcripts.
    """
    import logging

    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bart")
    options.use_multi_head_attention = True  # separate Q, K, V; the cache as its past
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            heads, width = int(config.decoder_attention_heads), int(config.d_model)
            fused = optimize_model(str(path), model_type="bart", num_heads=heads, hidden_size=width, opt_level=0,
                                   optimization_options=options)  # fmt: skip
        fused.save_model_to_file(str(path))
    finally:
        root.setLevel(level)
