"""AWS fakes for the release operations: moto in-process and a moto server reached over HTTP.

Every test that takes ``aws`` runs twice: once with ``moto.mock_aws`` patching botocore in this
process, once against a ``ThreadedMotoServer`` on localhost that boto3 reaches through
``AWS_ENDPOINT_URL`` (real HTTP, real serialization).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import numpy as np
import pytest

from bundle.writer import BundlePaths, write_bundle
from tests.bundle.conftest import double_model_bytes, make_manifest

REGION = "eu-west-1"
BUCKET = "maaskit-test-registry"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="localhost", port=port, verbose=False)
    server.start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.stop()


@dataclass
class Aws:
    """Where the test's AWS calls go and a session to prepare state with."""

    mode: str
    session: boto3.session.Session


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MAASKIT_REGISTRY_BUCKET", "MAASKIT_STAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture(params=["in-process", "server"])
def aws(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    if request.param == "server":
        url = request.getfixturevalue("moto_server")
        httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        yield Aws("server", boto3.session.Session(region_name=REGION))
    else:
        from moto import mock_aws

        with mock_aws():
            yield Aws("in-process", boto3.session.Session(region_name=REGION))


@pytest.fixture
def registry_bucket(aws: Aws) -> str:
    s3 = aws.session.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return BUCKET


def build_bundle(out: Path, version: str, *, scale: float = 1.0, name: str = "double") -> BundlePaths:
    """A real bundle (y = x + x) whose samples differ with ``scale`` so contents differ."""
    x = (np.arange(6, dtype=np.float32).reshape(2, 3) * scale).astype(np.float32)
    return write_bundle(out, make_manifest(name=name, version=version), double_model_bytes(), {"x": x}, {"y": x + x})


def _zip(text: str) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", text)
    return buffer.getvalue()


def deploy_lambda(session: boto3.session.Session, function: str, releases: list[tuple[str, str]]) -> None:
    """Lay in place what the CDK app leaves behind: one published version per release, described
    ``maaskit <model> <version> sha256:<hex>``, and the ``live`` alias on the first one."""
    iam = session.client("iam")
    role = iam.create_role(
        RoleName=f"{function}-role",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}',
    )["Role"]["Arn"]
    client = session.client("lambda")
    model = function.split("-", 2)[2]
    for index, (version, sha) in enumerate(releases):
        code = _zip(f"# {model} {version}\n")
        if index == 0:
            client.create_function(
                FunctionName=function,
                Runtime="python3.12",
                Role=role,
                Handler="handlers.lambda_entry.handler",
                Code={"ZipFile": code},
            )
        else:
            client.update_function_code(FunctionName=function, ZipFile=code)
        client.publish_version(FunctionName=function, Description=f"maaskit {model} {version} sha256:{sha}")
    client.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
