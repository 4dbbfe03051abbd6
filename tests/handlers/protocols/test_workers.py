"""The worker processes that decode large /invocations bodies import the codecs, never the engine or a family."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from handlers.codecs import JSON, decode_body
from handlers.offload import in_process, shutdown_processes

_MODULES = "sorted(name for name in __import__('sys').modules if name.split('.')[0] in ('handlers', 'bundle'))"
#: What a decode worker must never import: the engine (onnxruntime, the strategies) and the model families.
_NEVER = ("handlers.engine", "handlers.processing", "handlers.text", "handlers.image", "handlers.generation")


def test_a_decode_worker_process_imports_no_engine() -> None:
    shutdown_processes()  # a fresh worker: only what decoding needs is imported
    try:
        inputs = in_process(1, decode_body, JSON, b'{"instances": [[1, 2], [3, 4]]}', "json")
        loaded = in_process(1, eval, _MODULES)  # the same worker process, after decoding
    finally:
        shutdown_processes()
    assert isinstance(inputs.rows, np.ndarray) and inputs.rows.tolist() == [[1, 2], [3, 4]]
    assert "handlers.codecs" in loaded
    assert [name for name in loaded if name.startswith(_NEVER)] == []


def test_importing_the_codecs_imports_no_engine() -> None:
    code = f"import handlers.codecs\nprint({_MODULES})"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "handlers.codecs" in loaded
    assert not any(name in loaded for name in _NEVER), loaded
