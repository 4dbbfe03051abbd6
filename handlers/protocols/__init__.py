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
  resolve the model version, check headers, read the body (bounded), decode into family-neutral
  :class:`~handlers.vocabulary.Inputs`, the model's processor (``preprocess`` into a validated
  feed), inference through the runtime's strategy, ``postprocess``, encode from
  ``result.answer(style)`` (the processor's :class:`~handlers.vocabulary.Answers`).

A codec never asks which family a model is (tensors, text, images, generation, speech): it hands
over values by name, one unnamed value, rows or token ids, with strings as ``str`` and bytes as
``bytes``, and writes back named outputs or per-example ``predictions`` in its own shape. The
processor (:mod:`handlers.processing`) decides what the values are and how each example is answered.

Adding a protocol is one module here: a ``RouteTable(name, error_shape, prefixes=(...))``, a Codec
whose ``decode`` maps the wire to ``Inputs`` and whose ``encode`` maps ``Answers`` back, and a line
in :data:`PROTOCOL_MODULES`. Adding a family edits nothing here.
"""

__all__ = ["PROTOCOL_MODULES"]

#: Modules exposing ``router(repository, settings) -> RouteTable``.
PROTOCOL_MODULES = (
    "handlers.protocols.maaskit",
    "handlers.protocols.oip",
    "handlers.protocols.oip_generate",
    "handlers.protocols.tfserving",
    "handlers.protocols.torchserve",
    "handlers.protocols.sagemaker",
    "handlers.protocols.openai",
    "handlers.protocols.openai_chat",
    "handlers.protocols.openai_audio",
)
