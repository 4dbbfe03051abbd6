"""Names that cross phases, spelled once: every ``MAASKIT_*`` environment variable, the HTTP header
names on the wire (maaskit's, OIP's, SageMaker's, API Gateway's), and the SageMaker custom attribute
that names a maaskit route.

The runtime reads most of them (``handlers.settings``, the batcher, the SageMaker entry), the deploy
code sets some of them on the functions and models it creates (``infra/constructs``), and the CLI,
client, packager and release commands read the rest. They live in the bundle package because it
is the one package every phase may import (maaskit -> {model_packager, handlers, infra} -> bundle)
and it ships in every runtime artifact. Dockerfiles, which cannot import, spell the few they set.
Names of deployed resources are in :mod:`infra.names`. Header names are written in their canonical case;
HTTP compares them without case (read raw ASGI headers with ``name.lower()``).

The API's SageMaker integration (``infra/constructs/api.py``) reaches the container's maaskit routes
through ``POST /invocations`` by sending ``X-Amzn-SageMaker-Custom-Attributes: maaskit-route=METHOD
PATH`` (:func:`route_attribute`); the container's ``handlers.tunnel`` reads it.
"""

from __future__ import annotations

__all__ = [
    "ACCESS_LOG",
    "AMZN_REQUEST_ID_HEADER",
    "AMZN_TRACE_ID_HEADER",
    "API_KEY",
    "API_KEY_HEADER",
    "BASE_PATH",
    "BATCHING",
    "BATCH_MAX_SIZE",
    "BATCH_MAX_WAIT_MS",
    "BODY_MIN_RATE",
    "BODY_TIMEOUT_S",
    "BUNDLES",
    "CACHE_DIR",
    "DEBUG",
    "DECODE_PROCESSES",
    "DRIFT_NAMESPACE",
    "DRIFT_RECORDS",
    "GENERATION_QUEUE",
    "HEADER_TIMEOUT_S",
    "HOST",
    "INFERENCE_TIMEOUT_MS",
    "INLINE_MAX_MS",
    "INTER_OP_THREADS",
    "INTRA_OP_THREADS",
    "KEEP_ALIVE_S",
    "LOG_PAYLOAD",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_RESPONSE_BYTES",
    "METRICS",
    "MODEL_HEADER",
    "OIP_HEADER_LENGTH",
    "OFFLOAD_BYTES",
    "PAGE",
    "PORT",
    "PROVIDERS",
    "REGISTRY_BUCKET",
    "REQUEST_ID_HEADER",
    "REQUEST_TIMEOUT_S",
    "ROUTE_ATTRIBUTE",
    "SAGEMAKER_ATTRIBUTES_HEADER",
    "SAGEMAKER_PORT",
    "SAGEMAKER_TARGET_MODEL_HEADER",
    "SAGEMAKER_WORKERS",
    "SERVICE_NAME",
    "STAGE",
    "ASSET_KEY",
    "KEY_PREFIX",
    "KEY_CACHE_TTL_S",
    "CAPTURE_BUCKET",
    "CAPTURE_PREFIX",
    "CAPTURE_KMS_KEY",
    "CAPTURE_SAMPLE",
    "CAPTURE_REDACT",
    "TOKEN",
    "VERIFY_SAMPLES",
    "VERSION_HEADER",
    "WORKERS",
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
# Limits of the servers maaskit starts and of answers (handlers.connections, handlers.limits, handlers.offload).
HEADER_TIMEOUT_S = "MAASKIT_HEADER_TIMEOUT_S"
BODY_TIMEOUT_S = "MAASKIT_BODY_TIMEOUT_S"
BODY_MIN_RATE = "MAASKIT_BODY_MIN_RATE"
REQUEST_TIMEOUT_S = "MAASKIT_REQUEST_TIMEOUT_S"
MAX_HEADER_BYTES = "MAASKIT_MAX_HEADER_BYTES"
MAX_HEADERS = "MAASKIT_MAX_HEADERS"
MAX_CONNECTIONS = "MAASKIT_MAX_CONNECTIONS"
MAX_RESPONSE_BYTES = "MAASKIT_MAX_RESPONSE_BYTES"
OFFLOAD_BYTES = "MAASKIT_OFFLOAD_BYTES"
DECODE_PROCESSES = "MAASKIT_DECODE_PROCESSES"
# Generation (handlers.generation): requests that may wait for the generation worker before 429.
GENERATION_QUEUE = "MAASKIT_GENERATION_QUEUE"
# Data capture on Lambda (handlers.capture; set by infra.constructs.capture for a `capture:` endpoint).
CAPTURE_BUCKET = "MAASKIT_CAPTURE_BUCKET"
CAPTURE_PREFIX = "MAASKIT_CAPTURE_PREFIX"
CAPTURE_KMS_KEY = "MAASKIT_CAPTURE_KMS_KEY"
CAPTURE_SAMPLE = "MAASKIT_CAPTURE_SAMPLE"
CAPTURE_REDACT = "MAASKIT_CAPTURE_REDACT"

# SageMaker entry and its request batcher (handlers.sagemaker_entry, handlers.batching).
BATCHING = "MAASKIT_BATCHING"
BATCH_MAX_SIZE = "MAASKIT_BATCH_MAX_SIZE"
BATCH_MAX_WAIT_MS = "MAASKIT_BATCH_MAX_WAIT_MS"
WORKERS = "MAASKIT_WORKERS"
HOST = "MAASKIT_HOST"
PORT = "MAASKIT_PORT"
KEEP_ALIVE_S = "MAASKIT_KEEP_ALIVE_S"
# SageMaker's own names for two of them (read when the MAASKIT_* one is unset).
SAGEMAKER_PORT = "SAGEMAKER_BIND_TO_PORT"
SAGEMAKER_WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"

# Command line and client (maaskit invoke, maaskit.client).
API_KEY = "MAASKIT_API_KEY"
TOKEN = "MAASKIT_TOKEN"

# Packager (maaskit package): show the traceback of an unexpected converter failure.
DEBUG = "MAASKIT_DEBUG"

# Release commands (infra.ops).
STAGE = "MAASKIT_STAGE"
# CDK asset staging (infra.packaging): a bundling variable that only keys CDK's cache, never read.
ASSET_KEY = "MAASKIT_ASSET_KEY"
# The consumer-key authorizer (infra/authorizer: its own asset, which spells these itself; a test keeps them equal).
KEY_PREFIX = "MAASKIT_KEY_PREFIX"
KEY_CACHE_TTL_S = "MAASKIT_KEY_CACHE_TTL_S"
REGISTRY_BUCKET = "MAASKIT_REGISTRY_BUCKET"
# The scheduled drift check (infra/ops/drift_job.py): its metrics namespace, captured records read per model.
DRIFT_NAMESPACE = "MAASKIT_DRIFT_NAMESPACE"
DRIFT_RECORDS = "MAASKIT_DRIFT_RECORDS"
CACHE_DIR = "MAASKIT_CACHE_DIR"

# Wire headers. maaskit's: the model version a request pins, the model /invocations runs.
VERSION_HEADER = "X-Maaskit-Model-Version"
MODEL_HEADER = "X-Maaskit-Model"
# Open Inference Protocol's binary tensor extension: the JSON header's length in front of the tensors.
OIP_HEADER_LENGTH = "Inference-Header-Content-Length"
# Request ids: the one the server answers with, and those AWS front ends send (API Gateway, ALB, X-Ray).
REQUEST_ID_HEADER = "X-Request-Id"
AMZN_REQUEST_ID_HEADER = "X-Amzn-RequestId"
AMZN_TRACE_ID_HEADER = "X-Amzn-Trace-Id"
# API Gateway's API key header (``maaskit invoke --api-key``, the client's ApiKeyAuth).
API_KEY_HEADER = "X-Api-Key"
# SageMaker: the headers SageMaker passes to the container verbatim, and the maaskit key in the attributes.
SAGEMAKER_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
SAGEMAKER_TARGET_MODEL_HEADER = "X-Amzn-SageMaker-Target-Model"
ROUTE_ATTRIBUTE = "maaskit-route"


def route_attribute(method: str, path: str) -> str:
    """``maaskit-route=METHOD PATH``: the custom attribute that runs ``METHOD PATH`` in the container."""
    return f"{ROUTE_ATTRIBUTE}={method} {path}"
