"""Hugging Face text models (local folders, transformers and sentence-transformers objects) to ONNX.

The model is wrapped with its task's head (pooling and L2 for embeddings, softmax or sigmoid scores for
classifiers: ``transformers_heads``) and exported by the TorchScript exporter (``dynamo=False``) from
eager attention, with dynamic batch and sequence axes: that graph is the one onnxruntime's transformer
optimizer can fuse (DESIGN §6). Sample inputs are never invented: they are texts, encoded by the
bundle's own tokenizer path (``bundle.processing.text``) after checking it agrees with the model's.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from bundle import EmbeddingSpec, TextSpec, ToolInfo
from bundle.processing.text import EncodedBatch, TextEncoder, load_tokenizer
from model_packager.converters.base import (
    Conversion,
    ConversionError,
    Converter,
    ConvertOptions,
    SampleData,
    UnsupportedModelError,
    require,
)
from model_packager.converters.common import tool_info
from model_packager.converters.pytorch_io import first_line, quiet
from model_packager.converters.transformers_folder import TextFolder, is_text_folder, read_folder

__all__ = ["TextConversion", "TransformersTextConverter", "text_encoder"]

#: Default-domain opset of the export (LayerNormalization is a native op from 17).
TEXT_OPSET = 17


@dataclass
class TextConversion(Conversion):
    """A text model's conversion: the graph, its texts, their encodings and the bundle's text files."""

    texts: list[str] = field(default_factory=list)
    encoded: EncodedBatch | None = None
    text_spec: TextSpec | None = None
    embedding: EmbeddingSpec | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    hidden_size: int = 0
    num_heads: int = 0


def text_encoder(spec: TextSpec, tokenizer_json: bytes) -> TextEncoder:
    """The runtime's encoder for ``spec``, loaded from a bundle-like folder holding ``tokenizer_json``."""
    with tempfile.TemporaryDirectory(prefix="maaskit-tok-") as tmp:
        (Path(tmp) / spec.tokenizer_file).write_bytes(tokenizer_json)
        return load_tokenizer(Path(tmp), spec)


class TransformersTextConverter(Converter):
    """transformers / sentence-transformers folders and objects, for the text tasks."""

    name = "transformers"
    extra = "text"
    handles = (
        "a local transformers or sentence-transformers folder (config.json + tokenizer), or a transformers model "
        "with its tokenizer / a SentenceTransformer (tasks feature-extraction, text-classification, "
        "token-classification)"
    )

    def can_load(self, path: Path) -> bool:
        """A directory with a transformers config.json."""
        return is_text_folder(path)

    def load(self, path: Path) -> object:
        """Read the folder's JSON files (the model itself is loaded at conversion, for the chosen task)."""
        if not path.is_dir():
            raise UnsupportedModelError(f"{path.name} is not a folder; give the folder save_pretrained wrote")
        return read_folder(path)

    def accepts(self, model: object) -> bool:
        """A TextFolder, a transformers PreTrainedModel or a SentenceTransformer (no import needed)."""
        if isinstance(model, TextFolder):
            return True
        transformers: Any = sys.modules.get("transformers")
        if transformers is not None and isinstance(model, transformers.PreTrainedModel):
            return True
        return any(
            cls.__name__ == "SentenceTransformer" and cls.__module__.startswith("sentence_transformers")
            for cls in type(model).__mro__
        )

    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Load, check the tokenizer, export with the task head, and run the original on the texts."""
        from model_packager.converters.transformers_source import load_text_source
        from model_packager.text_parity import check_tokenizer_agreement
        from model_packager.text_samples import texts_from

        texts, note = texts_from(sample)
        source = load_text_source(model, options.tokenizer, options.task)
        from model_packager.converters.transformers_heads import build_head

        head = build_head(source)
        tokenizer_json = source.tokenizer_files["tokenizer.json"]
        spec = TextSpec(
            tokenizer_sha256=hashlib.sha256(tokenizer_json).hexdigest(),
            max_length=source.max_length,
            vocab_size=source.vocab_size,
            pad_token_id=source.pad_token_id,
            input_names=source.input_names,  # type: ignore[arg-type]
        )
        encoder = text_encoder(spec, tokenizer_json)
        encoded = encoder.encode(texts)
        vocab = {index: token for token, index in source.tokenizer.get_vocab().items()}
        check_tokenizer_agreement(texts, encoded, source.reference_ids(texts), vocab)
        onnx_model = self._export(head, encoder, source.input_names, options)
        expected = source.reference_outputs(texts, head)
        notes = [*source.notes, *([note] if note else [])]
        truncated = sum(encoded.truncated)
        if truncated:
            notes.append(f"{truncated} sample text(s) longer than max_length {source.max_length} tokens were truncated")
        embedding = None
        if source.task == "feature-extraction":
            dims = int(expected["sentence_embedding"].shape[-1])
            embedding = EmbeddingSpec(
                dimensions=dims,
                pooling=source.pooling or "mean",
                normalized=source.normalize,
                truncatable=options.truncatable_embeddings,
            )
        config = source.model.config
        torch: Any = sys.modules["torch"]
        framework = (
            tool_info("sentence-transformers", name="sentence-transformers")
            if source.sentence_transformer is not None
            else tool_info("transformers")
        )
        return TextConversion(
            model=onnx_model,
            framework=framework,
            converter=ToolInfo(name="torch.onnx.torchscript", version=str(torch.__version__)),
            inputs=encoded.feed,
            expected=expected,
            task=source.task,
            labels=source.labels,
            probability_output="scores" if "scores" in expected else None,  # softmax or sigmoid per label
            notes=notes,
            texts=texts,
            encoded=encoded,
            text_spec=spec,
            embedding=embedding,
            files=source.tokenizer_files,
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
        )

    def _export(self, head: Any, encoder: TextEncoder, names: list[str], options: ConvertOptions) -> onnx.ModelProto:
        torch: Any = require("torch", self.extra)
        # Trace with two texts of several tokens: sizes 0 and 1 would be specialised into the graph.
        trace = encoder.encode(["the quick brown fox jumps over the lazy dog", "hello world"]).feed
        args = tuple(torch.from_numpy(trace[name]) for name in names)
        axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in names}
        for output in head.output_names:
            axes[output] = {0: "batch", 1: "sequence"} if output != "sentence_embedding" else {0: "batch"}
        if type(head).__name__ == "ClassificationHead" and not self._per_token(head, args, torch):
            axes.update({output: {0: "batch"} for output in head.output_names})
        buffer = io.BytesIO()
        try:
            with quiet(), torch.no_grad():
                torch.onnx.export(
                    head,
                    args,
                    buffer,
                    dynamo=False,
                    verbose=False,
                    input_names=names,
                    output_names=list(head.output_names),
                    dynamic_axes=axes,
                    opset_version=options.opset or TEXT_OPSET,
                )
        except Exception as exc:
            raise ConversionError(
                f"torch.onnx (TorchScript exporter) failed on the text model: {first_line(exc)}"
            ) from None
        return onnx.load_from_string(buffer.getvalue())

    @staticmethod
    def _per_token(head: Any, args: tuple[Any, ...], torch: Any) -> bool:
        with torch.no_grad(), quiet():
            scores = head(*args)[0]
        return int(scores.dim()) == 3
