"""Text bundles for the serving tests, made from the tiny folders of :mod:`tests.handlers.text.folders`.

INTERIM: until ``model_packager.package()`` packages text folders (branch ``text``), this exports the
folders with ``torch.onnx`` (TorchScript exporter, dynamic batch and sequence axes) and writes them
with the bundle writer, samples from raw texts and the original model's outputs, as the contract says.
Replace :func:`build_text_bundles`' body with ``package(folder, task=...)`` calls when it lands.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundle import (
    EmbeddingSpec,
    FileEntry,
    Manifest,
    ParityCheck,
    ParityReport,
    Provenance,
    TensorSpec,
    TextSpec,
    ToolInfo,
)
from bundle.writer import write_bundle
from tests.handlers.text.folders import CORPUS, classifier_folder, embedding_folder, token_classifier_folder

SENTIMENT = ["negative", "positive", "neutral"]
NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


@dataclass(frozen=True)
class TextBundles:
    """Bundle directories and the folders they were made from."""

    embedder: Path
    sentiment: Path
    ner: Path
    folders: dict[str, Path]

    @property
    def all(self) -> list[Path]:
        return [self.embedder, self.sentiment, self.ner]


def _export(module: Any, output_axes: dict[str, dict[int, str]], path: Path) -> bytes:
    import torch

    example = tuple(torch.ones((2, 7), dtype=torch.int64) for _ in _INPUTS)
    axes = {name: {0: "batch", 1: "sequence"} for name in _INPUTS} | output_axes
    torch.onnx.export(
        module,
        example,
        str(path),
        input_names=_INPUTS,
        output_names=list(output_axes),
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    return path.read_bytes()


def _manifest(
    name: str, task: str, tokenizer: bytes, outputs: list[TensorSpec], checks: list[ParityCheck], **extra: Any
) -> Manifest:
    sha = hashlib.sha256(tokenizer).hexdigest()
    return Manifest(
        name=name,
        version="1.0.0",
        created="2026-12-01T00:00:00Z",
        framework=ToolInfo(name="transformers", version="5"),
        converter=ToolInfo(name="torch.onnx", version="2"),
        opsets={"": 17},
        inputs=[TensorSpec(name=item, dtype="int64", shape=[None, None]) for item in _INPUTS],
        outputs=outputs,
        task=task,  # type: ignore[arg-type]
        parity=ParityReport(sample_count=len(CORPUS), passed=True, checks=checks),
        files={
            "model.onnx": FileEntry(sha256="0" * 64, size=0),
            "tokenizer.json": FileEntry(sha256=sha, size=len(tokenizer)),
        },
        provenance=Provenance(maaskit_version="0.1.0", python_version="3.11", source="tests"),
        text=TextSpec(tokenizer_sha256=sha, max_length=128, vocab_size=400, pad_token_id=0, input_names=_INPUTS),  # type: ignore[arg-type]
        **extra,
    )


def build_text_bundles(out: Path) -> TextBundles:
    """An embedder (mean pooling, normalised, truncatable), a 3-label text classifier and a BIO token classifier."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

    folders = {
        "embedder": embedding_folder(out / "folders" / "embedder"),
        "sentiment": classifier_folder(out / "folders" / "sentiment", SENTIMENT),
        "ner": token_classifier_folder(out / "folders" / "ner", NER),
    }
    texts = np.asarray(CORPUS, dtype=str)
    scratch = out / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)

    class Embed(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.model(feed)["sentence_embedding"]

    class Scores(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            logits = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits
            return torch.softmax(logits, dim=-1)

    st = SentenceTransformer(str(folders["embedder"]), device="cpu")
    tokenizer_bytes = (folders["embedder"] / "tokenizer.json").read_bytes()
    with torch.no_grad():
        embedding = st.encode(list(CORPUS), convert_to_numpy=True)
        onnx_bytes = _export(Embed(st.eval()), {"sentence_embedding": {0: "batch"}}, scratch / "embedder.onnx")
    manifest = _manifest(
        "embedder",
        "feature-extraction",
        tokenizer_bytes,
        [TensorSpec(name="sentence_embedding", dtype="float32", shape=[None, 32])],
        [ParityCheck(output="sentence_embedding", metric="max_abs_diff", tolerance=1e-4, measured=1e-7, passed=True)],
        embedding=EmbeddingSpec(dimensions=32, pooling="mean", normalized=True),
        metadata={"embedding_truncatable": "true"},
    )
    embedder = write_bundle(
        out,
        manifest,
        onnx_bytes,
        {"text": texts},
        {"sentence_embedding": embedding},
        extra_files={"tokenizer.json": tokenizer_bytes},
    ).directory

    made = {}
    for key, loader, labels, shape in (
        ("sentiment", AutoModelForSequenceClassification, SENTIMENT, [None, len(SENTIMENT)]),
        ("ner", AutoModelForTokenClassification, NER, [None, None, len(NER)]),
    ):
        folder = folders[key]
        model = loader.from_pretrained(folder).eval()
        hf_tokenizer = AutoTokenizer.from_pretrained(folder)
        tokenizer_bytes = (folder / "tokenizer.json").read_bytes()
        with torch.no_grad():
            batch = hf_tokenizer(list(CORPUS), padding=True, return_tensors="pt")
            expected = torch.softmax(model(**batch).logits, dim=-1).numpy()
            axes = {0: "batch"} if key == "sentiment" else {0: "batch", 1: "sequence"}
            onnx_bytes = _export(Scores(model), {"scores": axes}, scratch / f"{key}.onnx")
        task = "text-classification" if key == "sentiment" else "token-classification"
        manifest = _manifest(
            key,
            task,
            tokenizer_bytes,
            [TensorSpec(name="scores", dtype="float32", shape=shape)],
            [ParityCheck(output="scores", metric="max_abs_diff", tolerance=1e-4, measured=1e-7, passed=True)],
            labels=labels,
            probability_output="scores",
        )
        made[key] = write_bundle(
            out,
            manifest,
            onnx_bytes,
            {"text": texts},
            {"scores": expected},
            extra_files={"tokenizer.json": tokenizer_bytes},
        ).directory
    return TextBundles(embedder, made["sentiment"], made["ner"], folders)
