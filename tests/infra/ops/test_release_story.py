"""Done-when: the whole release story against a moto server, read the way a user reads it.

push v1 and v2 -> the deployed state in place -> status -> shift 10% -> status shows the split
-> promote -> rollback -> status shows v1 alone. Each step runs the real ``maaskit`` command;
boto3 reaches the moto server over HTTP on localhost.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from bundle import file_sha256
from maaskit.cli import app
from tests.infra.ops.conftest import REGION, build_bundle, deploy_lambda

FUNCTION = "maaskit-prod-double"


def _rows(output: str) -> dict[str, list[str]]:
    """Status table rows keyed by Lambda version number."""
    rows = {}
    for line in output.splitlines():
        cells = line.split()
        if cells and cells[0].isdigit() and len(cells) >= 3:
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture
def story(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import httpx

    httpx.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("MAASKIT_STAGE", "prod")
    monkeypatch.setenv("COLUMNS", "120")
    session = boto3.session.Session(region_name=REGION)
    s3 = session.client("s3")
    s3.create_bucket(Bucket="maaskit-prod-models", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="maaskit-prod-models", VersioningConfiguration={"Status": "Enabled"})
    session.client("ssm").put_parameter(
        Name="/maaskit/prod/registry-bucket", Value="maaskit-prod-models", Type="String"
    )
    return session


def test_release_story(story: boto3.session.Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runner = CliRunner()
    transcript: list[str] = []

    def maaskit(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        transcript.append(f"$ maaskit {' '.join(args)}\n{result.output}")
        assert result.exit_code == code, result.output
        return result.output

    v1 = build_bundle(tmp_path / "bundles", "1.0.0")
    v2 = build_bundle(tmp_path / "bundles", "2.0.0", scale=2.0)
    out = maaskit("push", str(v1.archive))
    assert "pushed double 1.0.0 to s3://maaskit-prod-models/double/1.0.0/" in out
    out = maaskit("push", str(v2.archive))
    assert "pushed double 2.0.0" in out
    out = maaskit("push", str(v2.archive))
    assert "already in s3://maaskit-prod-models/double/2.0.0/ with the same content; nothing to do" in out
    out = maaskit("versions", "double")
    assert re.search(r"1\.0\.0\s+\d+(\.\d)? (B|KiB)\s+passed \(max_abs_diff", out)
    assert "2.0.0" in out

    # What `maaskit deploy` leaves behind: two published versions and the live alias on v1.
    digests = [file_sha256(bundle.directory / "manifest.json") for bundle in (v1, v2)]
    deploy_lambda(story, FUNCTION, [("1.0.0", digests[0]), ("2.0.0", digests[1])])

    out = maaskit("status", "double")
    assert "double on Lambda: maaskit-prod-double:live (alias live -> version 1)" in out
    rows = _rows(out)
    assert rows["1"][:3] == ["1.0.0", "100%", "live"]
    assert rows["2"][:2] == ["2.0.0", "-"]
    assert "deployment: none running" in out

    out = maaskit("shift", "double", "--to", "2.0.0", "--percent", "10", "--dry-run")
    assert "dry run, nothing changed: would shift" in out
    assert "would be: 90% -> version 1 (1.0.0), 10% -> version 2 (2.0.0)" in out
    assert _rows(maaskit("status", "double"))["2"][1] == "-"

    out = maaskit("shift", "double", "--to", "2.0.0", "--percent", "10")
    assert "Shift maaskit-prod-double:live: 90% -> version 1 (1.0.0), 10% -> version 2 (2.0.0)" in out
    assert "before: 100% -> version 1 (1.0.0)" in out

    out = maaskit("status", "double")
    rows = _rows(out)
    assert rows["1"][:3] == ["1.0.0", "90%", "live"]
    assert rows["2"][:4] == ["2.0.0", "10%", "shifting", "to"]

    out = maaskit("shift", "double", "--to", "2.0.0", "--percent", "100", code=2)
    assert "--percent must be strictly between 0 and 100" in out

    out = maaskit("promote", "double")
    assert "Promote maaskit-prod-double:live: 100% -> version 2 (2.0.0)" in out
    assert "`maaskit rollback` returns to it" in out
    rows = _rows(maaskit("status", "double"))
    assert rows["2"][:3] == ["2.0.0", "100%", "live"]
    assert rows["1"][:4] == ["1.0.0", "-", "rollback", "target"]

    out = maaskit("rollback", "double")
    assert "Rollback maaskit-prod-double:live: version 2 (2.0.0) taken out, 100% -> version 1 (1.0.0)" in out

    out = maaskit("status", "double")
    rows = _rows(out)
    assert rows["1"][:3] == ["1.0.0", "100%", "live"]
    assert rows["2"][:2] == ["2.0.0", "-"]
    assert "traffic: 100% -> version 1 (1.0.0)" in out

    out = maaskit("rollback", "double", code=2)
    assert "nothing to roll back to" in out

    alias = story.client("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "1"
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")

    if os.environ.get("MAASKIT_STORY_TRANSCRIPT"):  # keep the session for the docs / the report
        Path(os.environ["MAASKIT_STORY_TRANSCRIPT"]).write_text("\n".join(transcript))
