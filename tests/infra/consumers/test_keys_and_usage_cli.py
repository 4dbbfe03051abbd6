"""``maaskit keys`` and ``maaskit usage`` end to end against a moto server on localhost (its own process,
started and stopped by pid): a key is shown once and stored nowhere, list/rotate/revoke, usage tables."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
import typer
from typer.testing import CliRunner

from infra.consumers_config import ConsumersConfig, PlanConfig
from infra.ops import keys_cli
from tests.infra.consumers.aws import REGION, create_plans

PLANS = ConsumersConfig(plans={"standard": PlanConfig(), "partner": PlanConfig(rate_limit=50, burst_limit=100)})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "localhost", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the moto server did not start within 30 s") from None
                time.sleep(0.2)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> boto3.session.Session:
    httpx.post(f"{moto_url}/moto-api/reset")
    for name in ("AWS_PROFILE", "MAASKIT_STAGE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    session = boto3.session.Session(region_name=REGION)
    create_plans(session, "dev", PLANS)
    return session


def _run(*args: str) -> tuple[int, str, str]:
    app = typer.Typer()
    keys_cli.register(app)
    app.command("noop", hidden=True)(lambda: None)  # a second command keeps typer from flattening the app
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_keys_create_list_rotate_revoke(aws: boto3.session.Session, tmp_path: Path) -> None:
    code, out, err = _run("keys", "create", "--stage", "dev", "--consumer", "alice", "--plan", "partner")
    assert code == 0, err
    secret = out.strip().splitlines()[-1]
    assert len(secret) >= 20 and "shown this once" in out
    assert _files_containing(tmp_path, secret) == []  # nothing secret on disk

    code, out, _ = _run("keys", "list", "--stage", "dev")
    assert code == 0 and "alice" in out and "partner" in out and "enabled" in out and secret not in out

    code, _, err = _run("keys", "create", "--stage", "dev", "--consumer", "alice")
    assert code == 2 and "already has an enabled key" in err and "keys rotate" in err

    code, out, _ = _run("keys", "rotate", "--stage", "dev", "--consumer", "alice", "--json")
    assert code == 0
    rotated = json.loads(out.splitlines()[0])
    assert rotated["value"] != secret and rotated["plan"] == "partner"

    code, out, _ = _run("keys", "list", "--stage", "dev", "--consumer", "alice", "--json")
    states = sorted(k["enabled"] for k in json.loads(out))
    assert states == [False, True] and secret not in out and rotated["value"] not in out

    code, out, _ = _run("keys", "revoke", "--stage", "dev", "--consumer", "alice")
    assert code == 0 and rotated["key_id"] in out
    code, _, err = _run("keys", "revoke", "--stage", "dev", "--consumer", "alice")
    assert code == 2 and "no enabled key" in err


def test_keys_refusals_say_what_to_do(aws: boto3.session.Session) -> None:
    code, _, err = _run("keys", "create", "--stage", "dev", "--consumer", "zoe", "--plan", "gold")
    assert code == 2 and "maaskit-dev-gold not found" in err and "partner, standard" in err
    code, _, err = _run("keys", "create", "--stage", "dev", "--consumer", "Not Valid")
    assert code == 2 and "consumer 'Not Valid'" in err
    code, _, err = _run("keys", "create", "--stage", "prod", "--consumer", "zoe")
    assert code == 2 and "is the stage deployed with auth: keys?" in err
    code, out, _ = _run("keys", "create", "--stage", "dev", "--consumer", "zoe")  # the default plan
    assert code == 0 and "(plan standard)" in out


def _put(session: boto3.session.Session, stage: str, consumer: str, model: str, **values: float) -> None:
    dims = [
        {"Name": "stage", "Value": stage},
        {"Name": "consumer", "Value": consumer},
        {"Name": "model", "Value": model},
    ]
    session.client("cloudwatch").put_metric_data(
        Namespace="maaskit",
        MetricData=[
            {"MetricName": name, "Dimensions": dims, "Value": value, "Timestamp": dt.datetime.now(dt.UTC)}
            for name, value in values.items()
        ],
    )


def test_usage_table_per_consumer_and_model(aws: boto3.session.Session) -> None:
    _put(aws, "dev", "alice", "iris", Requests=3, PromptTokens=0, CompletionTokens=0, AudioSeconds=0)
    _put(aws, "dev", "alice", "iris", Requests=2)
    _put(aws, "dev", "alice", "embedder", Requests=4, PromptTokens=120)
    _put(aws, "dev", "bob", "chat", Requests=1, PromptTokens=30, CompletionTokens=200)
    _put(aws, "prod", "alice", "iris", Requests=99)

    code, out, _ = _run("usage", "--stage", "dev", "--since", "7d")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "usage on stage dev, last 7d"
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines[2:]}
    assert rows == {
        ("alice", "embedder"): ["4", "120", "0", "0.0"],
        ("alice", "iris"): ["5", "0", "0", "0.0"],
        ("bob", "chat"): ["1", "30", "200", "0.0"],
    }
    code, out, _ = _run("usage", "--stage", "dev", "--consumer", "bob", "--json")
    assert json.loads(out) == [
        {
            "consumer": "bob",
            "model": "chat",
            "requests": 1.0,
            "prompt_tokens": 30.0,
            "completion_tokens": 200.0,
            "audio_seconds": 0.0,
        }
    ]
    code, out, _ = _run("usage", "--stage", "test")
    assert code == 0 and "no metered requests on stage test" in out
    code, _, err = _run("usage", "--stage", "dev", "--since", "7 days")
    assert code == 2 and "30m, 24h, 7d or 2w" in err
