"""The wire protocols: one module each, behind one interface.

A protocol module exposes ``router(repository, settings) -> RouteTable`` and is listed in
:data:`PROTOCOL_MODULES`. It declares, and only declares:

* **its routes, prefixes and error shape**: ``RouteTable(PROTOCOL, error_shape, prefixes=...)``
  (:mod:`handlers.routing`). ``error_shape(ServingError) -> body`` is the protocol's one error
  renderer: the table wraps every endpoint, so endpoints raise and never catch, and the app sends
  a 404/405 for an unknown path in the shape of the table claiming the longest prefix of it
  (``"/"``, the maaskit table, is the fallback);
* **how inference requests are decoded and answered**: a :class:`~handlers.protocols.base.Codec`
  (``resolve``, ``check_headers``, ``decode``, ``encode``) served by the one generic endpoint,
  ``api.post(path)(inference_endpoint(codec, repository, settings))``, which runs the pipeline:
  resolve the model version, check headers, read the body (bounded), decode into
  :class:`~handlers.processing.Inputs`, the model's processor (``preprocess`` into a validated
  feed), inference through the runtime's strategy, ``postprocess``, encode.

``decode`` may give raw examples (``Inputs(raw=[...])``: texts, image bytes) instead of tensors;
the model's :class:`~handlers.processing.Processor` turns them into its feed (tokenizer, image
preprocessing) and may reshape the outputs (pooling): tabular models use
:class:`~handlers.processing.TensorProcessor` (validation and coercion; outputs unchanged).

Adding a protocol (say, an OpenAI-compatible ``POST /v1/embeddings``) is one module here: a
``RouteTable("openai", error_shape, prefixes=("/v1/embeddings",))``, a Codec whose ``resolve``
reads the model from the body (``await call.body()``) and whose ``decode`` returns
``Inputs(raw=texts)``, an ``encode`` writing ``{"object": "list", "data": [...]}``, and a line
in :data:`PROTOCOL_MODULES`.
"""

__all__ = ["PROTOCOL_MODULES"]

#: Modules exposing ``router(repository, settings) -> RouteTable``.
PROTOCOL_MODULES = (
    "handlers.protocols.maaskit",
    "handlers.protocols.oip",
    "handlers.protocols.tfserving",
    "handlers.protocols.torchserve",
    "handlers.protocols.sagemaker",
    "handlers.protocols.openai",
)
