"""Tiny image classifiers and images for tests, built here (random weights, Pillow images; nothing downloaded).

``save_vit_folder`` / ``save_convnext_folder`` write what ``save_pretrained`` writes for a model and its
image processor; ``TinyConvNet`` is a torchvision/timm-style ``nn.Module`` (torchvision itself cannot be
installed beside torch 2.13 here). ``encode`` and ``bomb_png`` make images in memory.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

LABELS = ["cat", "dog", "bird"]


def picture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A uint8 RGB picture: a gradient with a coloured block, so crops and orientation change the answer."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 90)], -1)
    image[: height // 3, : width // 3] = rng.integers(0, 256, 3)
    return image.astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str = "JPEG", **options: Any) -> bytes:
    """``pixels`` encoded by Pillow (JPEG, PNG, WEBP)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A small JPEG."""
    return encode(picture(width, height, seed), "JPEG", quality=92)


def png(width: int = 40, height: int = 56, seed: int = 1) -> bytes:
    """A small PNG."""
    return encode(picture(width, height, seed), "PNG")


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A decompression bomb: a valid PNG header declaring width x height grayscale pixels, a few hundred bytes.

    The IDAT holds the start of an all-zero image; decoding it fully would need width * height bytes.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _id2label() -> dict[int, str]:
    return dict(enumerate(LABELS))


def save_vit_folder(path: Path, size: int = 32) -> Path:
    """A ViTForImageClassification (2 layers, hidden 32) and a ViTImageProcessor resizing to size x size."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=size,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(LABELS),
        id2label=_id2label(),
        label2id={label: index for index, label in enumerate(LABELS)},
    )
    ViTForImageClassification(config).eval().save_pretrained(path)
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(path)
    return path


def save_convnext_folder(path: Path, size: int = 32) -> Path:
    """A ConvNextForImageClassification and a ConvNextImageProcessor (shortest edge / crop_pct, bicubic)."""
    import torch
    from transformers import ConvNextConfig, ConvNextForImageClassification, ConvNextImageProcessor

    torch.manual_seed(0)
    config = ConvNextConfig(
        num_stages=2,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        num_labels=len(LABELS),
        id2label=_id2label(),
        label2id={label: index for index, label in enumerate(LABELS)},
    )
    ConvNextForImageClassification(config).eval().save_pretrained(path)
    ConvNextImageProcessor(size={"shortest_edge": size}, crop_pct=0.875).save_pretrained(path)
    return path


def tiny_convnet() -> Any:
    """A torchvision-style classifier: conv stem, global pooling, linear head -> logits [batch, 3]."""
    import torch
    from torch import nn

    class TinyConvNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU()
            )
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, len(LABELS))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.flatten(self.pool(self.features(x)), 1))

    torch.manual_seed(0)
    return TinyConvNet().eval()
