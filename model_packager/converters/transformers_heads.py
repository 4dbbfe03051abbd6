"""The graphs maaskit exports around a transformers model: pooling, normalisation and scores inside.

Imported only by the text converter, once torch is known to be installed.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ClassificationHead", "EmbeddingHead", "build_head"]


class EmbeddingHead(torch.nn.Module):
    """Sentence embedding: mean (over real tokens) or CLS pooling of the last hidden state, then L2 if asked."""

    output_names = ("sentence_embedding",)

    def __init__(self, model: Any, pooling: str, normalize: bool) -> None:
        super().__init__()
        self.model = model
        self.pooling = pooling
        self.normalize = normalize

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[batch, seq] ids and mask -> [batch, hidden] embedding."""
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)[0]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
        result: torch.Tensor = pooled
        return result


class ClassificationHead(torch.nn.Module):
    """Scores from a classifier's logits: softmax (one label) or sigmoid (multi-label); also the logits."""

    output_names = ("scores", "logits")

    def __init__(self, model: Any, multi_label: bool) -> None:
        super().__init__()
        self.model = model
        self.multi_label = multi_label

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[batch, seq] -> scores and logits, [batch, labels] or [batch, seq, labels] for token classifiers."""
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits
        scores = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        return scores, logits


def build_head(source: Any) -> torch.nn.Module:
    """The export wrapper for a TextSource."""
    if source.task == "feature-extraction":
        return EmbeddingHead(source.model, source.pooling or "mean", source.normalize).eval()
    return ClassificationHead(source.model, source.multi_label).eval()
