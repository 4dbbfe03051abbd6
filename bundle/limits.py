"""Limits of the ground a bundle is deployed on (DESIGN.md §5): one table, imported by every phase.

The runtime refuses what the platform would refuse (a 413 that says what to do instead of an opaque
platform error); deployment sizing (``infra``) decides from these where a bundle can run and checks
configurations against the same figures; the packager uses the ONNX one.

==========================================  ============================================================
``LAMBDA_PAYLOAD_BYTES``                    Lambda synchronous invocation request and response (as the
                                            runtime serialises them: JSON-escaped text, base64 binary)
``API_GATEWAY_PAYLOAD_BYTES``               API Gateway request and response payload
``ALB_LAMBDA_PAYLOAD_BYTES``                an Application Load Balancer's Lambda target: request and response
``API_GATEWAY_TIMEOUT_S``                   API Gateway integration timeout (REST regional can be raised)
``SAGEMAKER_PAYLOAD_BYTES``                 SageMaker real-time invocation request and response
``SAGEMAKER_INVOCATION_TIMEOUT_S``          SageMaker real-time: the container must answer within this
``LAMBDA_ZIP_UNZIPPED_BYTES``               a Lambda zip: code and layers, unzipped
``LAMBDA_IMAGE_BYTES``                      a Lambda container image
``LAMBDA_INIT_SECONDS``                     Lambda's init phase
``ONNX_PROTOBUF_BYTES``                     one ONNX protobuf file
==========================================  ============================================================
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ALB_LAMBDA_PAYLOAD_BYTES",
    "API_GATEWAY_PAYLOAD_BYTES",
    "API_GATEWAY_TIMEOUT_S",
    "LAMBDA_IMAGE_BYTES",
    "LAMBDA_INIT_SECONDS",
    "LAMBDA_MEMORY_MB_MAX",
    "LAMBDA_MEMORY_MB_MIN",
    "LAMBDA_PAYLOAD_BYTES",
    "LAMBDA_ZIP_UNZIPPED_BYTES",
    "ONNX_PROTOBUF_BYTES",
    "SAGEMAKER_INSTANCE_MEMORY_GIB",
    "SAGEMAKER_INVOCATION_TIMEOUT_S",
    "SAGEMAKER_PAYLOAD_BYTES",
    "Target",
    "lambda_response_limit",
    "response_limit",
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

LAMBDA_PAYLOAD_BYTES = 6 * MIB
#: An Application Load Balancer's Lambda target: request and response bodies stop at 1 MB.
ALB_LAMBDA_PAYLOAD_BYTES = 1 * MIB
API_GATEWAY_PAYLOAD_BYTES = 10 * MIB
API_GATEWAY_TIMEOUT_S = 29
SAGEMAKER_PAYLOAD_BYTES = 6 * MIB
SAGEMAKER_INVOCATION_TIMEOUT_S = 60

Target = Literal["lambda", "sagemaker"]


def response_limit(target: Target, behind_api_gateway: bool = True) -> int:
    """The largest answer that reaches a client of ``target`` (the tightest limit on its path)."""
    own = LAMBDA_PAYLOAD_BYTES if target == "lambda" else SAGEMAKER_PAYLOAD_BYTES
    return min(own, API_GATEWAY_PAYLOAD_BYTES) if behind_api_gateway else own


def lambda_response_limit(source: Literal["alb", "api_gateway", "function_url"]) -> int:
    """The largest answer a Lambda function can give a caller that reaches it through ``source``."""
    if source == "alb":
        return min(LAMBDA_PAYLOAD_BYTES, ALB_LAMBDA_PAYLOAD_BYTES)
    if source == "api_gateway":
        return min(LAMBDA_PAYLOAD_BYTES, API_GATEWAY_PAYLOAD_BYTES)
    return LAMBDA_PAYLOAD_BYTES


#: Speech: the largest audio file taken (OpenAI's transcription limit; on Lambda the 6 MB payload binds first).
AUDIO_MAX_BYTES = 25 * MIB
#: Speech: the longest recording transcribed in one request (checked from the file's header, before decoding).
AUDIO_MAX_SECONDS = 1800.0
