"""Authentication headers as a server receives them; SigV4 signatures recomputed with botocore."""

from __future__ import annotations

import re

import numpy as np
import pytest
from botocore.auth import SigV4Auth as BotocoreSigV4
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from maaskit.client import ApiKeyAuth, BearerAuth, MaaskitClient, SigV4Auth
from tests.client.conftest import Recorded, Scripted
from tests.client.test_retry import ANSWER, SIGNATURE

CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "session-token-1")
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")


def auth_parts(header: str) -> tuple[str, str, str]:
    """(credential scope, signed headers, signature) of an Authorization header."""
    match = _AUTH.match(header)
    assert match is not None, header
    credential, signed, signature = match.groups()
    return credential, signed, signature


def expected_signature(recorded: Recorded, url: str, body: bytes, region: str = "eu-west-1") -> str:
    """Recompute the signature the way API Gateway does: from what arrived on the wire."""
    signed = auth_parts(recorded.headers["authorization"])[1].split(";")
    request = AWSRequest(
        method=recorded.method,
        url=url + recorded.path,
        data=body,
        headers={name: recorded.headers[name] for name in signed},
    )
    request.context["timestamp"] = recorded.headers["x-amz-date"]
    signer = BotocoreSigV4(CREDENTIALS, "execute-api", region)
    return str(signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request))


def test_sigv4_signature_verifies(scripted: Scripted) -> None:
    scripted.script((200, SIGNATURE), (200, ANSWER))
    auth = SigV4Auth(region="eu-west-1", credentials=CREDENTIALS)
    with MaaskitClient(scripted.url + "/prod", auth=auth, retries=0) as client:
        client.predict("m", np.array([[1, 2]], dtype=np.float32), version="1.0.0")
    post = scripted.requests[1]
    assert post.path == "/prod/models/m/predict"
    credential, signed_headers, signature = auth_parts(post.headers["authorization"])
    assert credential.startswith("AKIDEXAMPLE/") and credential.endswith("/eu-west-1/execute-api/aws4_request")
    assert set(signed_headers.split(";")) >= {"host", "x-amz-date", "content-type", "x-amz-security-token"}
    assert post.headers["x-amz-security-token"] == "session-token-1"
    assert post.headers["x-maaskit-model-version"] == "1.0.0"
    assert signature == expected_signature(post, scripted.url, post.body)
    # The signature covers the body: another body would not verify.
    assert signature != expected_signature(post, scripted.url, post.body.replace(b"1.0", b"9.0"))
    get = scripted.requests[0]
    assert auth_parts(get.headers["authorization"])[2] == expected_signature(get, scripted.url, b"")


def test_sigv4_region_from_execute_api_url() -> None:
    auth = SigV4Auth(credentials=CREDENTIALS)
    assert auth._region_for("abc123.execute-api.ap-southeast-2.amazonaws.com") == "ap-southeast-2"
    with pytest.raises(ValueError, match="pass SigV4Auth"):
        auth._region_for("models.example.com")


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [(ApiKeyAuth("k-123"), "x-api-key", "k-123"), (BearerAuth("eyJ.a.b"), "authorization", "Bearer eyJ.a.b")],
)
def test_api_key_and_bearer(scripted: Scripted, auth, header: str, value: str) -> None:
    scripted.script((200, b'{"models": []}'))
    MaaskitClient(scripted.url, auth=auth).models()
    assert scripted.requests[0].headers[header] == value
