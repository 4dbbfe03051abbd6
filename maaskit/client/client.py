"""``MaaskitClient``: call a deployed maaskit API (or ``maaskit serve``) with numpy in and out.

It needs only the routes that every maaskit deployment answers, whatever the target: ``GET /models``,
``GET /models/{name}`` and ``POST /models/{name}/predict`` (``maaskit serve``, a container, and the
deployed API for Lambda and SageMaker models alike), plus the OIP binary route ``POST
/v2/models/{name}/infer`` for large inputs where it exists (it falls back to JSON where the API has
no such route, as for SageMaker-hosted models). Outputs come back as numpy arrays with the dtypes
the model declares.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import numpy as np
import orjson

from maaskit.client.chat import ChatMixin
from maaskit.client.errors import (
    NO_ROUTE_MESSAGE,
    ClientError,
    ConnectionFailedError,
    InvalidInputError,
    error_for_status,
)
from maaskit.client.files import has_nonfinite
from maaskit.client.labels import label_values, predicted_labels, string_labels
from maaskit.client.retry import RETRY_EXCEPTIONS, RETRY_STATUSES, Backoff

__all__ = ["BINARY_THRESHOLD", "VERSION_HEADER", "MaaskitClient", "Prediction"]

VERSION_HEADER = "X-Maaskit-Model-Version"
#: Inputs larger than this (bytes) go as binary tensors when ``binary`` is left to choose.
BINARY_THRESHOLD = 64 * 1024
_NUMPY = {"string": np.dtype(object), "bool": np.dtype(bool)}


class Prediction(dict[str, np.ndarray]):
    """Outputs by name, plus ``model``, ``version`` and ``labels`` (a classifier's predicted labels, else None).

    A classifier's labels are the labels themselves on every route: when its label output holds class
    indices and its labels are strings (PyTorch, Keras and transformers heads packaged with ``labels``),
    that output comes back as an object array of the label strings and ``labels`` lists them; integer
    labels stay integers (see :mod:`maaskit.client.labels`).
    """

    def __init__(self, outputs: dict[str, np.ndarray], model: str, version: str, labels: list[Any] | None) -> None:
        super().__init__(outputs)
        self.model = model
        self.version = version
        self.labels = labels


def _dumps(payload: Any) -> bytes:
    """JSON with numpy arrays written natively (contiguous numeric arrays) or via ``tolist()`` (the rest)."""
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY, default=lambda value: np.asarray(value).tolist())


class MaaskitClient(ChatMixin):
    """A synchronous client with retries and typed errors; ``chat()`` / ``complete()`` for generative models
    (streamed with ``stream=True``, see :mod:`maaskit.client.chat`).

    ``auth`` is an httpx auth (``SigV4Auth``, ``ApiKeyAuth``, ``BearerAuth``) or None;
    ``retries`` is how many times a 429/502/503/504 or connection failure is retried
    (exponential backoff with full jitter, see :mod:`maaskit.client.retry`).
    """

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: Backoff | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.retries = retries
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._signatures: dict[tuple[str, str | None], dict[str, Any]] = {}
        self._json_only: set[str] = set()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=auth,
            timeout=timeout,
            headers={"Accept": "application/json", **(headers or {})},
            transport=transport,
        )

    def __enter__(self) -> MaaskitClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except RETRY_EXCEPTIONS as exc:
                if attempt >= self.retries:
                    raise ConnectionFailedError(
                        f"cannot reach {self._http.base_url}{path} after {attempt + 1} tries: {exc!r}"
                    ) from None
                self._sleep(self.backoff.delay(attempt))
            except httpx.TimeoutException as exc:
                raise ClientError(f"{method} {path} timed out ({exc!r}); raise the client timeout") from None
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                    return response
                self._sleep(self.backoff.delay(attempt, response.headers.get("retry-after")))
            attempt += 1

    def send(self, method: str, path: str, *, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """Send a prepared request (auth, retries and backoff applied) and return the final response as is.

        Raises ConnectionFailedError when no HTTP answer came back after the retries.
        """
        return self._request(method, path, content=content, headers=dict(headers))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code >= 400:
            raise error_for_status(response.status_code, response.content)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ClientError(f"{path} answered non-JSON content", response.status_code, response.content) from None

    def health(self, model: str | None = None) -> bool:
        """True when ``model`` (default: every model listed by ``GET /models``) answers its metadata
        route, False when one answers 503 (still starting). Other failures raise their ClientError.

        Works against the deployed API (Lambda and SageMaker models) as well as ``maaskit serve``.
        """
        names = [model] if model else [entry["name"] for entry in self.models()]
        for name in names:
            response = self._request("GET", f"/models/{name}")
            if response.status_code == 503:
                return False
            if response.status_code != 200:
                raise error_for_status(response.status_code, response.content)
        return True

    def models(self) -> list[dict[str, Any]]:
        """The models served: ``[{"name", "versions", "latest"}]``."""
        return list(self._json("GET", "/models")["models"])

    def model(self, name: str, version: str | None = None) -> dict[str, Any]:
        """A model's signature, labels and versions (latest, or ``version``)."""
        headers = {VERSION_HEADER: version} if version else None
        detail: dict[str, Any] = self._json("GET", f"/models/{name}", headers=headers)
        return detail

    def _signature(self, name: str, version: str | None) -> dict[str, Any]:
        key = (name, version)
        if key not in self._signatures:
            self._signatures[key] = self.model(name, version)
        return self._signatures[key]

    def predict(
        self,
        model: str,
        inputs: np.ndarray | Mapping[str, np.ndarray],
        version: str | None = None,
        *,
        binary: bool | None = None,
    ) -> Prediction:
        """Run the model on ``inputs`` (one array for a single-input model, or arrays by input name).

        ``version`` pins a version (e.g. to smoke-test one that takes no live traffic yet).
        ``binary``: send raw tensors (Open Inference Protocol binary extension) instead of JSON;
        None picks binary when the inputs exceed ``BINARY_THRESHOLD`` bytes or hold NaN or infinity
        (which JSON cannot carry) and the API has the binary route for the model (else JSON:
        SageMaker-hosted models behind the API).
        """
        signature = self._signature(model, version)
        if isinstance(inputs, Mapping):
            named = {name: np.asarray(value) for name, value in inputs.items()}
        else:
            specs = signature["inputs"]
            if len(specs) != 1:
                names = ", ".join(spec["name"] for spec in specs)
                raise InvalidInputError(f"model {model} has {len(specs)} inputs ({names}); pass a dict by input name")
            named = {specs[0]["name"]: np.asarray(inputs)}
        nonfinite = binary is None and has_nonfinite(named)  # NaN/inf: JSON cannot carry them
        chosen = binary
        if chosen is None:
            large = sum(a.nbytes for a in named.values()) > BINARY_THRESHOLD
            chosen = nonfinite or (model not in self._json_only and large)
        if chosen:
            prediction = self._predict_binary(model, named, version, signature, required=binary is True)
            if prediction is not None:
                return _pinned(prediction, version)
            self._json_only.add(model)
            if nonfinite:
                raise InvalidInputError(
                    f"the inputs hold NaN or infinity, which JSON cannot carry, and this API has no binary route "
                    f"for {model} (a SageMaker model): send the rows as CSV or .npy to /models/{model}/invocations"
                )
        body = _dumps({"inputs": named})
        headers = {"Content-Type": "application/json", **({VERSION_HEADER: version} if version else {})}
        answer = self._json("POST", f"/models/{model}/predict", content=body, headers=headers)
        outputs = {name: _json_output(signature, name, value) for name, value in answer["outputs"].items()}
        return _pinned(Prediction(outputs, answer["model"], answer["version"], answer.get("labels")), version)

    def predict_text(
        self, model: str, texts: str | Sequence[str], version: str | None = None, *, top_k: int | None = None
    ) -> list[Any]:
        """Raw texts to a text model; one answer per text, as the task gives it.

        An embedding (a list of floats), ``[{"label", "score"}]`` best first (``top_k``), or the entities
        ``[{"entity_group", "score", "word", "start", "end"}]`` of a token classifier.
        """
        body: dict[str, Any] = {"inputs": {"text": [texts] if isinstance(texts, str) else list(texts)}}
        if top_k is not None:
            body["parameters"] = {"top_k": top_k}
        headers = {"Content-Type": "application/json", **({VERSION_HEADER: version} if version else {})}
        answer = self._json("POST", f"/models/{model}/predict", content=_dumps(body), headers=headers)
        if "predictions" not in answer:
            raise ClientError(f"model {model} is not a text model: predict it with arrays (predict())")
        _pinned(Prediction({}, answer["model"], answer["version"], None), version)
        return list(answer["predictions"])

    def _predict_binary(
        self,
        model: str,
        named: dict[str, np.ndarray],
        version: str | None,
        signature: dict[str, Any],
        *,
        required: bool,
    ) -> Prediction | None:
        """The prediction over the OIP binary route; None when the API has no such route for the model
        (API Gateway's "no route" answer) and the caller did not insist on binary."""
        from maaskit.client.binary import HEADER_LENGTH, decode_response, encode_request

        try:
            body, header_length = encode_request(named, [spec["name"] for spec in signature["outputs"]])
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        path = f"/v2/models/{model}/versions/{version}/infer" if version else f"/v2/models/{model}/infer"
        headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(header_length)}
        response = self._request("POST", path, content=body, headers=headers)
        if not required and _no_route(response):
            return None
        if response.status_code >= 400:
            raise error_for_status(response.status_code, response.content)
        try:
            header, outputs = decode_response(response.content, response.headers.get(HEADER_LENGTH))
        except (ValueError, KeyError) as exc:
            raise ClientError(f"{path} answered a malformed binary response: {exc}", response.status_code) from None
        outputs = {name: label_values(signature, name, array) for name, array in outputs.items()}
        labels = predicted_labels(signature, outputs)
        return Prediction(outputs, header["model_name"], header["model_version"], labels)


def _json_output(signature: dict[str, Any], name: str, value: Any) -> np.ndarray:
    """A JSON output as an array of its declared dtype; a label output with string labels as the labels."""
    if name == signature.get("label_output") and string_labels(signature) is not None:
        return label_values(signature, name, np.asarray(value))
    dtype = {spec["name"]: spec["dtype"] for spec in signature["outputs"]}.get(name)
    return np.asarray(value, dtype=_NUMPY.get(dtype or "", dtype))


def _no_route(response: httpx.Response) -> bool:
    """API Gateway's answer for a method and path the API does not define (REST APIs say 403)."""
    if response.status_code not in (403, 404):
        return False
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return False
    return isinstance(payload, dict) and payload.get("message") == NO_ROUTE_MESSAGE


def _pinned(prediction: Prediction, version: str | None) -> Prediction:
    """The prediction, after checking that the pinned ``version`` (if any) is the one that answered."""
    if version is not None and prediction.version != version:
        raise ClientError(
            f"asked for {prediction.model} {version} but version {prediction.version} answered: this deployment "
            "does not serve the pinned version (each Lambda version and SageMaker variant serves one bundle)"
        )
    return prediction
