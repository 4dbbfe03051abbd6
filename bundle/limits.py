"""Limits of the ground a bundle is deployed on (DESIGN §5): one place, imported by every phase.

Deployment sizing (``infra``) decides from these where a bundle can run; the packager uses the
ONNX one. Request and response limits of the HTTP surface sit beside them.
"""

from __future__ import annotations

__all__ = [
    "LAMBDA_IMAGE_BYTES",
    "LAMBDA_INIT_SECONDS",
    "LAMBDA_MEMORY_MB_MAX",
    "LAMBDA_MEMORY_MB_MIN",
    "LAMBDA_ZIP_UNZIPPED_BYTES",
    "ONNX_PROTOBUF_BYTES",
    "SAGEMAKER_INSTANCE_MEMORY_GIB",
]

MIB = 1024**2
GIB = 1024**3

#: ONNX is a protobuf: one file stops at 2 GiB; larger models keep weights as external data.
ONNX_PROTOBUF_BYTES = 2 * GIB

#: A Lambda zip deployment: function code and all its layers, unzipped.
LAMBDA_ZIP_UNZIPPED_BYTES = 250 * MIB
#: A Lambda container image, uncompressed (base image and layers included).
LAMBDA_IMAGE_BYTES = 10 * GIB
#: Lambda memory settings (1 MB steps); CPU grows with memory (1769 MB = one vCPU).
LAMBDA_MEMORY_MB_MIN = 128
LAMBDA_MEMORY_MB_MAX = 10240
#: Lambda's init phase: past it the init is retried inside the first invoke (which then runs long).
LAMBDA_INIT_SECONDS = 10.0

#: Memory of common SageMaker real-time instance types (GiB), to refuse a model an instance cannot hold.
#: Types not listed are not checked.
SAGEMAKER_INSTANCE_MEMORY_GIB: dict[str, int] = {
    "ml.t2.medium": 4,
    "ml.m5.large": 8,
    "ml.m5.xlarge": 16,
    "ml.m5.2xlarge": 32,
    "ml.m5.4xlarge": 64,
    "ml.c5.large": 4,
    "ml.c5.xlarge": 8,
    "ml.c5.2xlarge": 16,
    "ml.c5.4xlarge": 32,
    "ml.g4dn.xlarge": 16,
    "ml.g4dn.2xlarge": 32,
    "ml.g4dn.4xlarge": 64,
    "ml.g5.xlarge": 16,
    "ml.g5.2xlarge": 32,
    "ml.g5.4xlarge": 64,
    "ml.g5.8xlarge": 128,
    "ml.g6.xlarge": 16,
    "ml.g6.2xlarge": 32,
}
