"""Ready-to-paste calls for one model: curl, the maaskit client, tritonclient, TF Serving REST, SageMaker, OpenAI.

Each snippet sends the bundle's own sample to the route its client uses, so a person can copy it and see
the same answer the page shows. Generative and speech models get their own calls (:mod:`handlers.page.chat`,
:mod:`handlers.page.transcribe`). Every snippet is run by the tests in ``tests/handlers/page/``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from handlers.page.chat import chat_snippets
from handlers.page.classify_audio import audio_label_snippets
from handlers.page.transcribe import speech_snippets
from handlers.page.views import ModelView, Snippet

__all__ = ["snippets"]

#: OIP v2 datatypes of the manifest's dtypes (the same names tritonclient takes).
_OIP = {
    "float32": "FP32",
    "float64": "FP64",
    "float16": "FP16",
    "int64": "INT64",
    "int32": "INT32",
    "int16": "INT16",
    "int8": "INT8",
    "uint8": "UINT8",
    "bool": "BOOL",
    "string": "BYTES",
}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _curl(base: str, view: ModelView) -> str:
    body = _compact({"inputs": view.sample_inputs})
    return (
        f"curl -sS -X POST '{base}/models/{view.name}/predict' \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'"
    )


def _maaskit(base: str, view: ModelView) -> str:
    texts = view.sample_inputs.get("text") if view.shown.manifest.text is not None else None
    if texts is not None:
        return (
            "from maaskit.client import MaaskitClient\n\n"
            f"with MaaskitClient({base!r}) as client:\n"
            f"    answers = client.predict_text({view.name!r}, {_compact(texts)})\n"
            "    print(len(answers), answers[0] if not isinstance(answers[0], list) else len(answers[0]))"
        )
    arrays = ",\n".join(
        f"        {name!r}: np.asarray({_compact(value)}, dtype={_numpy_dtype(view, name)})"
        for name, value in view.sample_inputs.items()
    )
    return (
        "import numpy as np\n"
        "from maaskit.client import MaaskitClient\n\n"
        f"with MaaskitClient({base!r}) as client:\n"
        f"    prediction = client.predict({view.name!r}, {{\n{arrays},\n    }})\n"
        "    print(prediction.version, dict(prediction))"
    )


def _input_dtype(view: ModelView, name: str) -> str:
    """The wire dtype of a sample input: the signature's, or ``string`` for a text model's raw texts."""
    spec = view.shown.manifest.input_spec(name)
    if spec is not None:
        return spec.dtype
    return "string" if view.shown.manifest.text is not None else "float32"


def _numpy_dtype(view: ModelView, name: str) -> str:
    """The dtype argument in Python source: ``object`` for strings, else ``np.<dtype>``."""
    dtype = _input_dtype(view, name)
    return "object" if dtype == "string" else f"np.{dtype}"


def _triton(base: str, view: ModelView) -> str:
    parts = urlsplit(base)
    lines = [
        "import numpy as np",
        "import tritonclient.http as httpclient",
        "",
        f"client = httpclient.InferenceServerClient({parts.netloc!r}, ssl={parts.scheme == 'https'})",
        "inputs = []",
    ]
    for name, value in view.sample_inputs.items():
        dtype = _input_dtype(view, name)
        numpy_dtype = _numpy_dtype(view, name)
        lines += [
            f"array = np.asarray({_compact(value)}, dtype={numpy_dtype})",
            f"tensor = httpclient.InferInput({name!r}, list(array.shape), {_OIP.get(dtype, 'FP32')!r})",
            "tensor.set_data_from_numpy(array)",
            "inputs.append(tensor)",
        ]
    first = view.shown.manifest.outputs[0].name
    lines += [f"result = client.infer({view.name!r}, inputs)", f"print(result.as_numpy({first!r}))"]
    return "\n".join(lines)


def _tfserving(base: str, view: ModelView) -> str:
    body = _compact({"inputs": view.sample_inputs})
    return (
        f"curl -sS -X POST '{base}/v1/models/{view.name}:predict' \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'"
    )


def _sagemaker(view: ModelView) -> str:
    # Text models take the Hugging Face inference toolkit's shape, {"inputs": [texts]}.
    texts = view.sample_inputs.get("text") if view.shown.manifest.text is not None else None
    body = _compact({"inputs": texts if texts is not None else view.sample_inputs})
    return (
        "import json\n"
        "import boto3\n\n"
        'runtime = boto3.client("sagemaker-runtime")\n'
        "answer = runtime.invoke_endpoint(\n"
        f'    EndpointName="maaskit-<stage>-{view.name}",  # the endpoint `maaskit status` names\n'
        '    ContentType="application/json",\n'
        '    Accept="application/json",\n'
        f"    Body=json.dumps({body}),\n"
        ")\n"
        'print(json.loads(answer["Body"].read()))'
    )


def _openai(base: str, view: ModelView) -> str:
    texts = view.sample_inputs.get("text", ["a sentence to embed"])
    return (
        "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base}/v1", api_key="unused-by-maaskit-serve")\n'
        f"response = client.embeddings.create(model={view.name!r}, input={_compact(texts)})\n"
        "print(len(response.data), len(response.data[0].embedding))"
    )


def _image_snippets(base: str, view: ModelView) -> list[Snippet]:
    """Image models: the calls send an image file (``image.jpg`` here) as clients do, not tensors."""
    parts = urlsplit(base)
    triton = "\n".join(
        [
            "import numpy as np",
            "import tritonclient.http as httpclient",
            "",
            f"client = httpclient.InferenceServerClient({parts.netloc!r}, ssl={parts.scheme == 'https'})",
            'image = np.asarray([open("image.jpg", "rb").read()], dtype=object)',
            'tensor = httpclient.InferInput("image", [1], "BYTES")',
            "tensor.set_data_from_numpy(image, binary_data=True)",
            f"result = client.infer({view.name!r}, [tensor])",
            f"print(result.as_numpy({view.shown.manifest.outputs[-1].name!r}))",
        ]
    )
    sagemaker = (
        "import json\n"
        "import boto3\n\n"
        'runtime = boto3.client("sagemaker-runtime")\n'
        "answer = runtime.invoke_endpoint(\n"
        f'    EndpointName="maaskit-<stage>-{view.name}",  # the endpoint `maaskit status` names\n'
        '    ContentType="image/jpeg",\n'
        '    Accept="application/json",\n'
        '    Body=open("image.jpg", "rb").read(),\n'
        ")\n"
        'print(json.loads(answer["Body"].read()))'
    )
    return [
        Snippet("curl", "curl (TorchServe)", "bash",
                f"curl -sS -X POST '{base}/predictions/{view.name}' \\\n"
                "  -H 'Content-Type: image/jpeg' --data-binary @image.jpg"),
        Snippet("tritonclient", "tritonclient (OIP v2)", "python", triton),
        Snippet("tfserving", "TF Serving REST", "bash",
                f"curl -sS -X POST '{base}/v1/models/{view.name}:predict' \\\n"
                "  -H 'Content-Type: application/json' \\\n"
                '  -d "{\\"instances\\": [{\\"b64\\": \\"$(base64 -w0 image.jpg)\\"}]}"'),
        Snippet("sagemaker", "SageMaker runtime (boto3)", "python", sagemaker),
    ]  # fmt: skip


def _is_embedding_model(view: ModelView) -> bool:
    return getattr(view.shown.manifest, "embedding", None) is not None


def snippets(base: str, view: ModelView) -> list[Snippet]:
    """The calls for ``view`` against the server at ``base`` (scheme, host and any stage path, no slash)."""
    if view.family == "generation":
        return chat_snippets(base, view)
    if view.family == "speech":
        return speech_snippets(base, view)
    if view.family == "audio-label":
        return audio_label_snippets(base, view)
    if view.family == "image":
        return _image_snippets(base, view)
    found = [
        Snippet("curl", "curl", "bash", _curl(base, view)),
        Snippet("maaskit", "maaskit client", "python", _maaskit(base, view)),
        Snippet("tritonclient", "tritonclient (OIP v2)", "python", _triton(base, view)),
        Snippet("tfserving", "TF Serving REST", "bash", _tfserving(base, view)),
        Snippet("sagemaker", "SageMaker runtime (boto3)", "python", _sagemaker(view)),
    ]
    if _is_embedding_model(view):
        found.append(Snippet("openai", "OpenAI client", "python", _openai(base, view)))
    return found
