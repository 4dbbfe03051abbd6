"""The tolerance defaults, defined once: what every phase checks a bundle's samples against.

Plain dataclasses without numpy or pydantic, so the CLI can take its option defaults from here
without slowing ``maaskit --help``. :mod:`bundle.parity` and :mod:`bundle.parity_text` re-export them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = [
    "ACCELERATOR_ATOL",
    "DEFAULT_TEXT_TOLERANCES",
    "DEFAULT_TOLERANCES",
    "FP16_TOLERANCES",
    "INT8_TEXT_TOLERANCES",
    "INT8_TIE_MARGIN",
    "INT8_TOLERANCES",
    "TextTolerances",
    "Tolerances",
]

#: Smallest absolute tolerance for float outputs when the session runs on an accelerator.
ACCELERATOR_ATOL = 1e-3
#: After int8, neighbours whose original similarities differ by at most this are a tie: int8 within
#: cosine 0.99 moves similarities by about 0.01 (measured on all-MiniLM-L6-v2), so closer neighbours
#: may swap while every clearly ranked one keeps its place.
INT8_TIE_MARGIN = 0.02


@dataclass(frozen=True)
class Tolerances:
    """How close outputs must be to the samples (see :mod:`bundle.parity` for the rule)."""

    atol: float = 1e-4
    rtol: float = 1e-3
    min_label_agreement: float = 0.99

    def __post_init__(self) -> None:
        if not (self.atol >= 0 and self.rtol >= 0):  # also refuses NaN
            raise ValueError("atol and rtol must be >= 0")
        if not 0.0 <= self.min_label_agreement <= 1.0:
            raise ValueError("min_label_agreement must be between 0 and 1")

    def with_accelerator_slack(self) -> Tolerances:
        """The same tolerances with ``atol`` raised to at least :data:`ACCELERATOR_ATOL`."""
        return replace(self, atol=max(self.atol, ACCELERATOR_ATOL))


@dataclass(frozen=True)
class TextTolerances:
    """How close a text bundle's embeddings must be to the original's."""

    min_cosine: float = 0.9999
    min_ranking_agreement: float = 1.0
    top_k: int = 3
    tie_margin: float = 0.005
    """Original cosine similarities this close are a tie: their order is not judged."""

    def __post_init__(self) -> None:
        if not -1.0 <= self.min_cosine <= 1.0:
            raise ValueError("min_cosine must be between -1 and 1")
        if not 0.0 <= self.min_ranking_agreement <= 1.0:
            raise ValueError("min_ranking_agreement must be between 0 and 1")
        if self.top_k < 1:
            raise ValueError("top_k must be >= 1")
        if not self.tie_margin >= 0:
            raise ValueError("tie_margin must be >= 0")


DEFAULT_TOLERANCES = Tolerances()
#: Dynamic INT8 quantization trades accuracy for size: looser, explicit, recorded in the manifest.
INT8_TOLERANCES = Tolerances(atol=0.05, rtol=0.05, min_label_agreement=0.95)
#: fp16 (GPU targets) keeps ~3 significant digits (10-bit mantissa); checked on CPU where no GPU is present.
FP16_TOLERANCES = Tolerances(atol=1e-2, rtol=1e-2, min_label_agreement=0.98)
DEFAULT_TEXT_TOLERANCES = TextTolerances()
#: Embeddings after int8: cosine 0.99 per text, every clearly ranked neighbour kept.
INT8_TEXT_TOLERANCES = TextTolerances(min_cosine=0.99, min_ranking_agreement=1.0, tie_margin=INT8_TIE_MARGIN)
