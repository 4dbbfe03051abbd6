"""SageMaker Python SDK users call a maaskit endpoint with the SDK's standard serializers.

The SDK (``sagemaker-core``, which holds the serializers and deserializers every SageMaker v3
package uses, ``Predictor`` included) pins protobuf<7 and rich<15, which would break this venv
(tensorflow/onnx need protobuf 7). So it lives in its own venv under ``.maaskit/sagemaker-sdk``,
created on first use (about a minute), and ``sagemaker_sdk_probe.py`` runs there: it serializes,
POSTs to ``/invocations`` of the real maaskit app served on loopback with the headers ``Predictor``
sends, and deserializes the answers with the SDK's deserializers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bundle import open_bundle
from tests.handlers.bundles import BuiltBundles
from tests.isolated_venv import isolated_venv

SDK = "sagemaker-core==2.27.0"
PROBE = Path(__file__).with_name("sagemaker_sdk_probe.py")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    probe = ["-c", "import sagemaker.core.serializers, sagemaker.core.deserializers"]
    return isolated_venv("sagemaker-sdk", SDK, probe) / "python"


def probe(python: Path, url: str, model: str, rows: np.ndarray) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(PROBE), url, model, json.dumps(rows.tolist())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, Any] = json.loads(done.stdout)
    failed = {name: entry for name, entry in results.items() if entry["status"] != 200}
    assert not failed, failed
    return results


def test_classifier_through_sdk_serializers(sdk_python: Path, served: str, client_bundles: BuiltBundles) -> None:
    samples = open_bundle(client_bundles.iris).samples()
    labels = samples.outputs["label"].tolist()
    results = probe(sdk_python, served, "iris", samples.inputs["X"])
    for case in ("json-list", "json-ndarray", "npy-in-json-out"):
        answer = results[case]["result"]
        assert (answer["model"], answer["labels"]) == ("iris", labels), case
        probabilities = np.asarray([row["probabilities"] for row in answer["predictions"]])
        np.testing.assert_allclose(probabilities, samples.outputs["probabilities"], atol=1e-4)
    assert results["csv"]["content_type"].startswith("text/csv")
    assert results["csv"]["result"] == [[label] for label in labels]
    assert results["npy"]["content_type"] == "application/x-npy"
    assert results["npy"]["result"]["ndarray"] == labels
    assert results["npy"]["result"]["dtype"].startswith("<U")  # no pickle needed to read it


def test_regressor_numpy_round_trip(sdk_python: Path, served: str, client_bundles: BuiltBundles) -> None:
    samples = open_bundle(client_bundles.regressor).samples()
    [expected] = samples.outputs.values()
    results = probe(sdk_python, served, "diabetes", samples.inputs["X"])
    npy = results["npy"]["result"]
    assert npy["dtype"] == "float32"
    np.testing.assert_allclose(np.asarray(npy["ndarray"]), expected, rtol=1e-4)
    csv_values = np.asarray(results["csv"]["result"], dtype=np.float32)
    np.testing.assert_allclose(csv_values, expected.reshape(len(expected), -1), rtol=1e-4)
