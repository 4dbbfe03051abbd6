"""Export a causal LM with onnxruntime-genai's model builder, quietly, in a child process.

The builder prints progress bars and logs on stdout and stderr; all of it goes to a log file (named in
the error when the export fails), never to the user's terminal. Running it in its own process also
returns the memory its torch load took once it exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from model_packager.converters.base import MissingFrameworkError, PackagingError

__all__ = ["BUILDER_PRECISIONS", "EXPORTED_FILES", "builder_version", "export_decoder"]

#: maaskit precision -> (builder ``-p``, builder ``-e``).
BUILDER_PRECISIONS: dict[str, tuple[str, str]] = {
    "fp32": ("fp32", "cpu"),
    "int8": ("int8", "cpu"),
    "int4": ("int4", "cpu"),
    "fp16": ("fp16", "cuda"),
    "int4-cuda": ("int4", "cuda"),
}
#: What the builder writes that the bundle keeps.
EXPORTED_FILES = ("model.onnx", "model.onnx.data", "genai_config.json")
_TIMEOUT_S = 3600


def builder_version() -> str:
    """onnxruntime-genai's version; MissingFrameworkError with the install hint when it is absent."""
    try:
        import onnxruntime_genai
    except ImportError as exc:
        raise MissingFrameworkError(
            "text-generation needs onnxruntime-genai: pip install 'maaskit[genai]' (onnxruntime-genai==0.18.0)"
        ) from exc
    return str(onnxruntime_genai.__version__)


def _extra_options(precision: str) -> list[str]:
    options = ["hf_token=false"]  # never reach a model hub
    if precision in {"int4", "int4-cuda"}:  # k-quant, with the lm_head and the most sensitive layers kept 8-bit
        options += ["algo_config=k_quant", "matmul_mixed_precision=last_matmul:int8,mixed_layers:int8",
                    "block_size=32", "accuracy_level=4"]  # fmt: skip
    return options


def export_decoder(source: Path, out: Path, precision: str, log: Path) -> Path:
    """Run the builder on ``source`` into ``out`` (created); the builder's output goes to ``log``.

    Raises PackagingError naming the log when the builder fails or writes no model.
    """
    builder_version()
    if precision not in BUILDER_PRECISIONS:
        raise PackagingError(f"precision {precision!r} is not one of {', '.join(BUILDER_PRECISIONS)}")
    flag, provider = BUILDER_PRECISIONS[precision]
    out.mkdir(parents=True, exist_ok=True)
    cache = out.parent / f"{out.name}.cache"
    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source), "-o", str(out),
               "-p", flag, "-e", provider, "-c", str(cache), "--extra_options", *_extra_options(precision)]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        sink.write(f"$ {' '.join(command)}\n".encode())
        sink.flush()
        try:
            result = subprocess.run(command, stdout=sink, stderr=sink, env=env, timeout=_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise PackagingError(f"the onnxruntime-genai model builder ran over {_TIMEOUT_S} s; see {log}") from None
    if result.returncode != 0 or not (out / "model.onnx").is_file():
        raise PackagingError(
            f"the onnxruntime-genai model builder failed (exit {result.returncode}) on {source.name}; see {log}"
        )
    return out
