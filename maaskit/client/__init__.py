"""Python client SDK for maaskit endpoints (the deployed API or ``maaskit serve``).

>>> from maaskit.client import MaaskitClient, SigV4Auth
>>> client = MaaskitClient("https://abc.execute-api.eu-west-1.amazonaws.com/prod", auth=SigV4Auth())
>>> client.predict("iris", features).labels
>>> for token in client.chat("smollm", [{"role": "user", "content": "Hi"}], stream=True):
...     print(token, end="", flush=True)
"""

from maaskit.client.auth import ApiKeyAuth, BearerAuth, SigV4Auth
from maaskit.client.chat import SSEDecoder, TokenStream, sagemaker_stream
from maaskit.client.client import VERSION_HEADER, MaaskitClient, Prediction
from maaskit.client.errors import (
    AuthenticationError,
    ClientError,
    ConnectionFailedError,
    InvalidInputError,
    ModelNotFoundError,
    ServerError,
    ThrottledError,
)
from maaskit.client.retry import Backoff

__all__ = [
    "VERSION_HEADER",
    "ApiKeyAuth",
    "AuthenticationError",
    "Backoff",
    "BearerAuth",
    "ClientError",
    "ConnectionFailedError",
    "InvalidInputError",
    "MaaskitClient",
    "ModelNotFoundError",
    "Prediction",
    "ServerError",
    "SSEDecoder",
    "SigV4Auth",
    "ThrottledError",
    "TokenStream",
    "sagemaker_stream",
]
