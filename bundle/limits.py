"""The platform limits every phase respects (DESIGN.md §5): one table for the runtime and the deploy code.

The runtime refuses what the platform would refuse (a 413 that says what to do instead of an opaque
platform error); the deploy code sizes timeouts and checks configurations against the same figures.

==========================================  ============================================================
``LAMBDA_PAYLOAD_BYTES``                    Lambda synchronous invocation request and response (as the
                                            runtime serialises them: JSON-escaped text, base64 binary)
``API_GATEWAY_PAYLOAD_BYTES``               API Gateway request and response payload
``API_GATEWAY_TIMEOUT_S``                   API Gateway integration timeout (REST regional can be raised)
``SAGEMAKER_PAYLOAD_BYTES``                 SageMaker real-time invocation request and response
``SAGEMAKER_INVOCATION_TIMEOUT_S``          SageMaker real-time: the container must answer within this
==========================================  ============================================================
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "API_GATEWAY_PAYLOAD_BYTES",
    "API_GATEWAY_TIMEOUT_S",
    "LAMBDA_PAYLOAD_BYTES",
    "SAGEMAKER_INVOCATION_TIMEOUT_S",
    "SAGEMAKER_PAYLOAD_BYTES",
    "Target",
    "response_limit",
]

MiB = 1024 * 1024

LAMBDA_PAYLOAD_BYTES = 6 * MiB
API_GATEWAY_PAYLOAD_BYTES = 10 * MiB
API_GATEWAY_TIMEOUT_S = 29
SAGEMAKER_PAYLOAD_BYTES = 6 * MiB
SAGEMAKER_INVOCATION_TIMEOUT_S = 60

Target = Literal["lambda", "sagemaker"]


def response_limit(target: Target, behind_api_gateway: bool = True) -> int:
    """The largest answer that reaches a client of ``target`` (the tightest limit on its path)."""
    own = LAMBDA_PAYLOAD_BYTES if target == "lambda" else SAGEMAKER_PAYLOAD_BYTES
    return min(own, API_GATEWAY_PAYLOAD_BYTES) if behind_api_gateway else own
