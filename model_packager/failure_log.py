"""Keep converter internals off the terminal: a log file for what converters print, short error messages.

Converters (skl2onnx, onnxmltools, tf2onnx, torch.onnx, onnxruntime's C++ logger) write warnings,
attribute dumps and tracebacks to the process's stderr, sometimes thousands of lines. While
``maaskit package`` runs, :func:`captured` sends file descriptor 2 to a log file; an error is
then printed as at most :data:`MAX_LINES` short lines that name that file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["MAX_LINES", "MAX_LINE_CHARS", "captured", "log_path", "short_message"]

#: Lines and characters per line an error message may take on the terminal.
MAX_LINES = 4
MAX_LINE_CHARS = 400


def log_path(name: str, version: str) -> Path:
    """Where ``maaskit package`` keeps the converter output of one packaging run."""
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in f"{name}-{version}")[:80]
    return Path(tempfile.gettempdir()) / "maaskit" / f"package-{safe}.log"


def short_message(text: str) -> str:
    """``text`` cut to :data:`MAX_LINES` lines of at most :data:`MAX_LINE_CHARS` characters."""
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()] or ["(no message)"]
    cut = [line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…" for line in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        cut[-1] += " …"
    return "\n".join(cut)


@contextlib.contextmanager
def captured(path: Path) -> Iterator[IO[str]]:
    """Send stderr (Python's and native libraries') to ``path`` for the block; yield the real terminal.

    The yielded stream writes to the original stderr (for a progress spinner).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1)
    with path.open("w", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        previous, sys.stderr = sys.stderr, log
        try:
            yield terminal
        finally:
            log.flush()
            sys.stderr = previous
            os.dup2(saved, 2)
            os.close(saved)
            terminal.close()
