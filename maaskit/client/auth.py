"""Authentication for the client: IAM SigV4 (botocore), API Gateway API keys, bearer tokens (JWT)."""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import httpx

__all__ = ["ApiKeyAuth", "BearerAuth", "SigV4Auth"]

_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


class ApiKeyAuth(httpx.Auth):
    """Send an API Gateway API key in ``x-api-key``."""

    def __init__(self, key: str, header: str = "x-api-key") -> None:
        if not key:
            raise ValueError("ApiKeyAuth needs a non-empty key")
        self.key = key
        self.header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the key header."""
        request.headers[self.header] = self.key
        yield request


class BearerAuth(httpx.Auth):
    """Send ``Authorization: Bearer <token>`` (a JWT for an API Gateway JWT or Cognito authorizer)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("BearerAuth needs a non-empty token")
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the Authorization header."""
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class SigV4Auth(httpx.Auth):
    """Sign every request with AWS Signature Version 4 (API Gateway IAM auth).

    ``region`` defaults to the one in an ``execute-api`` URL; ``credentials`` default to
    botocore's chain (env, profile, SSO, instance role) and are refreshed as they expire.
    """

    requires_request_body = True

    def __init__(self, region: str | None = None, service: str = "execute-api", credentials: Any = None) -> None:
        self.region = region
        self.service = service
        self._credentials = credentials

    def _resolve_credentials(self) -> Any:
        if self._credentials is None:
            import botocore.session

            self._credentials = botocore.session.get_session().get_credentials()
            if self._credentials is None:
                raise ValueError("SigV4Auth found no AWS credentials: set a profile or AWS_ACCESS_KEY_ID")
        return self._credentials

    def _region_for(self, host: str) -> str:
        if self.region:
            return self.region
        match = _EXECUTE_API_HOST.search(host)
        if match is None:
            raise ValueError(f"SigV4Auth cannot tell the region of {host}; pass SigV4Auth(region=...)")
        return match.group(1)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign method, URL, the host and content-type headers and the body; copy the signature headers."""
        try:
            from botocore.auth import SigV4Auth as BotocoreSigV4
            from botocore.awsrequest import AWSRequest
        except ImportError:
            raise ImportError("SigV4Auth needs botocore: pip install 'maaskit[aws]'") from None

        credentials = self._resolve_credentials()
        frozen = credentials.get_frozen_credentials() if hasattr(credentials, "get_frozen_credentials") else credentials
        headers = {"host": request.headers["host"]}
        if "content-type" in request.headers:
            headers["content-type"] = request.headers["content-type"]
        aws_request = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        BotocoreSigV4(frozen, self.service, self._region_for(request.url.host)).add_auth(aws_request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256"):
            value = aws_request.headers.get(name)
            if value is not None:
                request.headers[name] = value
        yield request
