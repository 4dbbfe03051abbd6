"""Captured records in one shape, whichever path captured them.

Two writers put JSON lines under ``capture/<model>/`` in the stage's capture bucket:

- maaskit's capture writer (Lambda models, :mod:`handlers.capture`): ``{"request", "answer", "model",
  "version", ...}`` with the (redacted) bodies as JSON, already the drift check's shape;
- SageMaker's ``DataCaptureConfig`` (SageMaker models): ``{"captureData": {"endpointInput": {...},
  "endpointOutput": {...}}, "eventMetadata": {"eventId", "inferenceTime", ...}, "eventVersion": "0"}``,
  where each body is ``data`` with its ``observedContentType`` and an ``encoding``: ``JSON`` and ``CSV``
  (the content types the endpoint config lists in ``CaptureContentTypeHeader``) are the text itself,
  ``BASE64`` anything else.

:func:`normalize` turns either into the capture writer's shape; a body the drift check cannot read
(an image, audio, a tensor of more than two axes) becomes ``None`` and the record counts without features.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["SAGEMAKER_SOURCE", "decode_sagemaker_body", "normalize"]

#: The ``source`` of a record read from SageMaker's capture (the capture writer's records carry none).
SAGEMAKER_SOURCE = "sagemaker"


def _number(text: str) -> float | str | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _csv_rows(text: str) -> dict[str, Any]:
    rows = [[_number(cell) for cell in row] for row in csv.reader(io.StringIO(text)) if row]
    return {"rows": rows}


def decode_sagemaker_body(body: Mapping[str, Any]) -> Any:
    """One ``endpointInput`` / ``endpointOutput`` as the JSON value it carried (CSV: ``{"rows": [...]}``,
    ``.npy``: ``{"rows": [...]}`` for one or two axes); None when it cannot be read as data."""
    data = body.get("data")
    if not isinstance(data, str):
        return None
    encoding = str(body.get("encoding", "")).upper()
    content_type = str(body.get("observedContentType", "")).split(";")[0].strip().lower()
    raw: bytes | None = None
    if encoding == "BASE64":
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
    text = data if raw is None else None
    try:
        if content_type == "application/x-npy" and raw is not None:
            array = np.load(io.BytesIO(raw), allow_pickle=False)
            return {"rows": array.tolist()} if array.ndim in (1, 2) else None
        if text is None:
            if not (content_type.endswith("json") or content_type == "text/csv" or encoding == "JSON"):
                return None
            text = raw.decode("utf-8") if raw is not None else ""
        if encoding == "CSV" or content_type == "text/csv":
            return _csv_rows(text)
        if content_type == "application/jsonlines":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None


def normalize(line: Mapping[str, Any]) -> dict[str, Any]:
    """A captured line in the capture writer's shape (``request``, ``answer``, ...)."""
    capture = line.get("captureData")
    if not isinstance(capture, Mapping):
        return dict(line)
    metadata = line.get("eventMetadata") if isinstance(line.get("eventMetadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    request = capture.get("endpointInput")
    answer = capture.get("endpointOutput")
    return {
        "source": SAGEMAKER_SOURCE,
        "request_id": metadata.get("eventId"),
        "time": metadata.get("inferenceTime"),
        "request": decode_sagemaker_body(request) if isinstance(request, Mapping) else None,
        "answer": decode_sagemaker_body(answer) if isinstance(answer, Mapping) else None,
    }
