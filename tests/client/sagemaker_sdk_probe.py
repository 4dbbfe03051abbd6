"""Run by the SageMaker SDK's own interpreter (an isolated venv): serialize with the SDK's
serializers, POST to a maaskit ``/invocations`` the way ``Predictor`` does, deserialize with
the SDK's deserializers, print what came back as JSON.

Usage: python sagemaker_sdk_probe.py URL MODEL ROWS_JSON
"""

import io
import json
import sys

import numpy as np
import requests
from sagemaker.core.deserializers import CSVDeserializer, JSONDeserializer, NumpyDeserializer
from sagemaker.core.serializers import CSVSerializer, JSONSerializer, NumpySerializer


def jsonable(value: object) -> object:
    if isinstance(value, np.ndarray):
        return {"ndarray": value.tolist(), "dtype": str(value.dtype)}
    return value


def main() -> None:
    url, model, rows = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    array = np.asarray(rows, dtype=np.float32)
    cases = {
        "json-list": (JSONSerializer(), JSONDeserializer(), rows),
        "json-ndarray": (JSONSerializer(), JSONDeserializer(), array),
        "csv": (CSVSerializer(), CSVDeserializer(), array),
        "npy": (NumpySerializer(), NumpyDeserializer(), array),
        "npy-in-json-out": (NumpySerializer(), JSONDeserializer(), array),
    }
    results = {}
    for name, (serializer, deserializer, data) in cases.items():
        # Predictor.predict: Content-Type from the serializer, Accept from the deserializer.
        response = requests.post(
            f"{url}/invocations",
            data=serializer.serialize(data),
            headers={
                "Content-Type": serializer.CONTENT_TYPE,
                "Accept": ", ".join(deserializer.ACCEPT),
                "X-Amzn-SageMaker-Custom-Attributes": f"model={model}",
            },
            timeout=30,
        )
        entry: dict[str, object] = {
            "status": response.status_code,
            "content_type": response.headers.get("Content-Type"),
        }
        if response.ok:
            entry["result"] = jsonable(deserializer.deserialize(io.BytesIO(response.content), entry["content_type"]))
        else:
            entry["error"] = response.text
        results[name] = entry
    print(json.dumps(results))


if __name__ == "__main__":
    main()
