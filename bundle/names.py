"""Names that cross phases, spelled once: every ``MAASKIT_*`` environment variable, and the SageMaker
custom attribute that names a maaskit route.

The runtime reads most of them (``handlers.settings``, the batcher, the SageMaker entry), the deploy
code sets some of them on the functions and models it creates (``infra/constructs``), and the CLI,
client, packager and release commands read the rest. They live in the bundle package because it
is the one package every phase may import (maaskit -> {model_packager, handlers, infra} -> bundle)
and it ships in every runtime artifact. Dockerfiles, which cannot import, spell the few they set.
Names of deployed resources are in :mod:`infra.names`.

The API's SageMaker integration (``infra/constructs/api.py``) reaches the container's maaskit routes
through ``POST /invocations`` by sending ``X-Amzn-SageMaker-Custom-Attributes: maaskit-route=METHOD
PATH`` (:func:`route_attribute`); the container's ``handlers.tunnel`` reads it.
"""

from __future__ import annotations

__all__ = [
    "ACCESS_LOG",
    "API_KEY",
    "BASE_PATH",
    "BATCHING",
    "BATCH_MAX_SIZE",
    "BATCH_MAX_WAIT_MS",
    "BUNDLES",
    "CACHE_DIR",
    "DEBUG",
    "HOST",
    "INFERENCE_TIMEOUT_MS",
    "INLINE_MAX_MS",
    "INTER_OP_THREADS",
    "INTRA_OP_THREADS",
    "KEEP_ALIVE_S",
    "LOG_PAYLOAD",
    "MAX_BODY_BYTES",
    "METRICS",
    "PAGE",
    "PORT",
    "PROVIDERS",
    "REGISTRY_BUCKET",
    "SERVICE_NAME",
    "STAGE",
    "TOKEN",
    "VERIFY_SAMPLES",
    "WORKERS",
    "ROUTE_ATTRIBUTE",
    "SAGEMAKER_ATTRIBUTES_HEADER",
    "route_attribute",
]

# Runtime settings (handlers.settings.Settings; documented in handlers/README.md).
BUNDLES = "MAASKIT_BUNDLES"
MAX_BODY_BYTES = "MAASKIT_MAX_BODY_BYTES"
PROVIDERS = "MAASKIT_PROVIDERS"
INTRA_OP_THREADS = "MAASKIT_INTRA_OP_THREADS"
INTER_OP_THREADS = "MAASKIT_INTER_OP_THREADS"
LOG_PAYLOAD = "MAASKIT_LOG_PAYLOAD"
ACCESS_LOG = "MAASKIT_ACCESS_LOG"
METRICS = "MAASKIT_METRICS"
VERIFY_SAMPLES = "MAASKIT_VERIFY_SAMPLES"
INLINE_MAX_MS = "MAASKIT_INLINE_MAX_MS"
INFERENCE_TIMEOUT_MS = "MAASKIT_INFERENCE_TIMEOUT_MS"
SERVICE_NAME = "MAASKIT_SERVICE_NAME"
BASE_PATH = "MAASKIT_BASE_PATH"
PAGE = "MAASKIT_PAGE"

# SageMaker entry and its request batcher (handlers.sagemaker_entry, handlers.batching).
BATCHING = "MAASKIT_BATCHING"
BATCH_MAX_SIZE = "MAASKIT_BATCH_MAX_SIZE"
BATCH_MAX_WAIT_MS = "MAASKIT_BATCH_MAX_WAIT_MS"
WORKERS = "MAASKIT_WORKERS"
HOST = "MAASKIT_HOST"
PORT = "MAASKIT_PORT"
KEEP_ALIVE_S = "MAASKIT_KEEP_ALIVE_S"

# Command line and client (maaskit invoke, maaskit.client).
API_KEY = "MAASKIT_API_KEY"
TOKEN = "MAASKIT_TOKEN"

# Packager (maaskit package): show the traceback of an unexpected converter failure.
DEBUG = "MAASKIT_DEBUG"

# Release commands (infra.ops).
STAGE = "MAASKIT_STAGE"
REGISTRY_BUCKET = "MAASKIT_REGISTRY_BUCKET"
CACHE_DIR = "MAASKIT_CACHE_DIR"

# SageMaker: the header SageMaker passes to the container verbatim, and the maaskit key in it.
SAGEMAKER_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
ROUTE_ATTRIBUTE = "maaskit-route"


def route_attribute(method: str, path: str) -> str:
    """``maaskit-route=METHOD PATH``: the custom attribute that runs ``METHOD PATH`` in the container."""
    return f"{ROUTE_ATTRIBUTE}={method} {path}"
