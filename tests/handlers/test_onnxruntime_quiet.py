"""onnxruntime writes nothing of its own on stderr (no ANSI colour, no telemetry): its errors become JSON lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A model onnxruntime warns about (an initializer no node uses), then one it fails to load.
SCRIPT = """
import sys
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
if sys.argv[1] == "quiet":
    from handlers.observability import configure_logging
    from handlers.session import quiet_onnxruntime
    configure_logging()
    quiet_onnxruntime()
unused = numpy_helper.from_array(np.ones(3, dtype=np.float32), "unused")
x, y = (helper.make_tensor_value_info(name, TensorProto.FLOAT, [1]) for name in "XY")
io = ([x], [y])
graph = helper.make_graph([helper.make_node("Identity", ["X"], ["Y"])], "g", *io, [unused])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
ort.InferenceSession(model.SerializeToString())
"""


def _stderr(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stderr


@pytest.mark.parametrize("mode", ["loud", "quiet"])
def test_onnxruntime_warnings_are_not_printed_in_colour(mode):
    stderr = _stderr(mode)
    if mode == "loud":  # the control: onnxruntime's own logger, coloured
        assert "\x1b[" in stderr and "Removing initializer" in stderr
    else:
        assert "\x1b[" not in stderr and "Removing initializer" not in stderr, stderr
