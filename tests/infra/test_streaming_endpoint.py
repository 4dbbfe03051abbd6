"""A tiny Llama-style bundle synthesizes to a streaming Lambda endpoint (synthesized facts, nag and cfn-lint).

Python 3.12 with maaskit's streaming loop (the exec wrapper, staged executable), a dependency layer of cp312
manylinux_2_28 wheels with onnxruntime-genai (proved by the wheels' tags: it cannot be imported here), a
Function URL on the ``live`` alias with ``RESPONSE_STREAM`` and ``AWS_IAM``, every API route of the model
integrated with ``ResponseTransferMode: STREAM`` on the response-streaming URI with a 15-minute timeout
matched by the function's, while a tabular model beside it stays buffered on Python 3.11.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import HOST_ARCH, Synth, synthesize

PIP_ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}[HOST_ARCH]


@pytest.fixture(scope="module")
def stream_synth(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path, bundles: dict[str, Path]) -> Synth:
    config = {
        "endpoints": [
            {"name": "tiny-llama", "bundle": str(tiny_llama), "lambda": {"architecture": HOST_ARCH}},
            {"name": "iris", "bundle": str(bundles["iris"]), "lambda": {"architecture": HOST_ARCH}},
        ]
    }
    return synthesize(tmp_path_factory.mktemp("stream"), config, stage="dev")


@pytest.fixture(scope="module")
def public_synth(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> Synth:
    """SnapStart, a public URL, no API routes, memory and /tmp set in the file."""
    sizing = {
        "architecture": HOST_ARCH,
        "snapstart": True,
        "memory_mb": 2048,
        "ephemeral_storage_mb": 512,
        "timeout_s": 120,
        "streaming": {"url_auth": "none", "api_routes": False},
    }
    config = {"endpoints": [{"name": "tiny-llama", "bundle": str(tiny_llama), "lambda": sizing}]}
    return synthesize(tmp_path_factory.mktemp("public"), config, stage="dev")


def _function(synth: Synth, name: str) -> dict[str, Any]:
    return next(
        f["Properties"]
        for f in synth.resources("AWS::Lambda::Function").values()
        if f["Properties"].get("FunctionName") == name
    )


def _logical_id(synth: Synth, name: str) -> str:
    return next(
        k for k, f in synth.resources("AWS::Lambda::Function").items() if f["Properties"].get("FunctionName") == name
    )


def _asset_dir(synth: Synth, code: dict[str, Any]) -> Path:
    key = code["S3Key"]
    digest = (key if isinstance(key, str) else json.dumps(key)).split(".zip")[0].split("/")[-1].strip('"')
    return synth.outdir / f"asset.{digest}"


def _alias_id(synth: Synth, function_id: str) -> str:
    return next(
        k
        for k, a in synth.resources("AWS::Lambda::Alias").items()
        if a["Properties"]["FunctionName"] == {"Ref": function_id}
    )


def _lambda_methods(synth: Synth, alias_id: str) -> list[dict[str, Any]]:
    methods = []
    for method in synth.resources("AWS::ApiGateway::Method").values():
        integration = method["Properties"].get("Integration", {})
        if integration.get("Type") == "AWS_PROXY" and {"Ref": alias_id} in integration["Uri"]["Fn::Join"][1]:
            methods.append(integration)
    return methods


def test_the_function_runs_the_streaming_loop_on_python_312(stream_synth: Synth):
    function = _function(stream_synth, "maaskit-dev-tiny-llama")
    assert function["Runtime"] == "python3.12"
    variables = function["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/var/task/handlers/lambda_stream/exec_wrapper.sh"
    assert variables["PYTHONPATH"] == "/var/task:/opt/python"
    assert function["Timeout"] == 900
    assert 1024 <= function["MemorySize"] <= 10240
    assert "SnapStart" not in function


def test_the_staged_code_holds_an_executable_wrapper_the_loop_and_the_bundle(stream_synth: Synth):
    code = _function(stream_synth, "maaskit-dev-tiny-llama")["Code"]
    asset = _asset_dir(stream_synth, code)
    wrapper = asset / "handlers/lambda_stream/exec_wrapper.sh"
    assert wrapper.stat().st_mode & 0o111 == 0o111, oct(wrapper.stat().st_mode)
    assert "-m handlers.lambda_stream" in wrapper.read_text()
    assert (asset / "handlers/lambda_stream/loop.py").is_file()
    assert (asset / "bundles/tiny-llama-1.0.0/genai_config.json").is_file()
    assert not list(asset.rglob("*.cpython-311.pyc")), "3.11 bytecode is useless to a 3.12 function"


def _layer_dir(synth: Synth, function: dict[str, Any]) -> Path:
    (layer_ref,) = function["Layers"]
    layer = synth.template["Resources"][layer_ref["Ref"]]["Properties"]
    return _asset_dir(synth, layer["Content"])


def test_the_layer_holds_cp312_manylinux_2_28_wheels_with_onnxruntime_genai(stream_synth: Synth):
    function = _function(stream_synth, "maaskit-dev-tiny-llama")
    (layer_ref,) = function["Layers"]
    layer = stream_synth.template["Resources"][layer_ref["Ref"]]["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.12"]
    site = _layer_dir(stream_synth, function) / "python"
    tags: dict[str, list[str]] = {}
    for wheel in site.glob("*.dist-info/WHEEL"):
        tags[wheel.parent.name] = [
            line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines() if line.startswith("Tag:")
        ]
    genai = next(tag for name, tag in tags.items() if name.startswith("onnxruntime_genai-"))
    assert genai == [f"cp312-cp312-manylinux_2_28_{PIP_ARCH}"]
    assert (site / "onnxruntime_genai").is_dir() and list((site / "onnxruntime_genai").glob("*.so"))
    assert any(name.startswith("jinja2-") for name in tags)
    for name, wheel_tags in tags.items():  # every compiled wheel is for CPython 3.12 (or the stable ABI)
        for tag in wheel_tags:
            python, abi, platform = tag.split("-")
            assert abi == "none" or python == "cp312" or abi == "abi3", (name, tag)
            assert platform == "any" or PIP_ARCH in platform, (name, tag)
            glibc = re.search(r"manylinux_(\d+)_(\d+)", platform)
            assert glibc is None or (int(glibc[1]), int(glibc[2])) <= (2, 28), (name, tag)  # AL2023: glibc 2.34


def test_a_function_url_streams_on_the_live_alias_with_iam_auth(stream_synth: Synth):
    function_id = _logical_id(stream_synth, "maaskit-dev-tiny-llama")
    url = stream_synth.one("AWS::Lambda::Url")["Properties"]
    assert url["InvokeMode"] == "RESPONSE_STREAM" and url["AuthType"] == "AWS_IAM"
    assert url["Qualifier"] == "live" and url["TargetFunctionArn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert any("Function URL" in output.get("Description", "") for output in stream_synth.template["Outputs"].values())


def test_every_api_route_of_the_model_streams_and_the_tabular_model_stays_buffered(stream_synth: Synth):
    llama_alias = _alias_id(stream_synth, _logical_id(stream_synth, "maaskit-dev-tiny-llama"))
    iris_alias = _alias_id(stream_synth, _logical_id(stream_synth, "maaskit-dev-iris"))
    streamed = _lambda_methods(stream_synth, llama_alias)
    assert len(streamed) >= 5  # /models/<m> GET, predict, {proxy+}, /v1 and /v2 routes
    for integration in streamed:
        assert integration["ResponseTransferMode"] == "STREAM"
        assert integration["TimeoutInMillis"] == 900 * 1000
        parts = integration["Uri"]["Fn::Join"][1]
        assert ":lambda:path/2021-11-15/functions/" in parts and "/response-streaming-invocations" in parts
    for integration in _lambda_methods(stream_synth, iris_alias):
        assert integration.get("ResponseTransferMode", "BUFFERED") == "BUFFERED"
        assert ":lambda:path/2015-03-31/functions/" in integration["Uri"]["Fn::Join"][1]


def test_api_gateway_may_invoke_the_alias_with_response_stream(stream_synth: Synth):
    alias = _alias_id(stream_synth, _logical_id(stream_synth, "maaskit-dev-tiny-llama"))
    permissions = [
        p["Properties"]
        for p in stream_synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": alias}
    ]
    # InvokeWithResponseStream is authorized by lambda:InvokeFunction (the Lambda API reference).
    assert any(
        p["Action"] == "lambda:InvokeFunction" and p["Principal"] == "apigateway.amazonaws.com" for p in permissions
    )


def test_the_api_is_regional(stream_synth: Synth):
    api = stream_synth.one("AWS::ApiGateway::RestApi")["Properties"]
    assert api["EndpointConfiguration"]["Types"] == ["REGIONAL"]


def test_the_hook_runs_on_the_streaming_layer(stream_synth: Synth):
    hook = _function(stream_synth, "maaskit-dev-tiny-llama-pre-traffic")
    function = _function(stream_synth, "maaskit-dev-tiny-llama")
    assert hook["Runtime"] == "python3.12" and hook["Layers"] == function["Layers"]
    assert hook["Timeout"] == 900
    assert (_asset_dir(stream_synth, hook["Code"]) / "generative.py").is_file()


def test_the_tabular_model_keeps_python_311(stream_synth: Synth):
    iris = _function(stream_synth, "maaskit-dev-iris")
    assert iris["Runtime"] == "python3.11" and "AWS_LAMBDA_EXEC_WRAPPER" not in iris["Environment"]["Variables"]


def test_snapstart_a_public_url_and_no_api_routes(public_synth: Synth):
    function = _function(public_synth, "maaskit-dev-tiny-llama")
    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert function["MemorySize"] == 2048 and function["EphemeralStorage"] == {"Size": 512}
    assert function["Timeout"] == 120
    url = public_synth.one("AWS::Lambda::Url")["Properties"]
    assert url["AuthType"] == "NONE" and url["InvokeMode"] == "RESPONSE_STREAM"
    function_id = _logical_id(public_synth, "maaskit-dev-tiny-llama")
    assert _lambda_methods(public_synth, _alias_id(public_synth, function_id)) == []


def test_nag_and_cfn_lint_are_clean(stream_synth: Synth, public_synth: Synth):
    assert stream_synth.violations() == [] and public_synth.violations() == []
    templates = [str(s.outdir / f"{s.stack.stack_name}.template.json") for s in (stream_synth, public_synth)]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    assert [line for line in result.stdout.splitlines() if ":E" in line] == [], result.stdout


@pytest.fixture(scope="module")
def image_synth(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> Synth:
    sizing = {"architecture": HOST_ARCH, "package": "image"}
    config = {"endpoints": [{"name": "tiny-llama", "bundle": str(tiny_llama), "lambda": sizing}]}
    return synthesize(tmp_path_factory.mktemp("image"), config, stage="dev")


def test_an_image_function_bakes_the_model_in_and_its_entry_point_is_the_loop(image_synth: Synth):
    function = _function(image_synth, "maaskit-dev-tiny-llama")
    assert function["PackageType"] == "Image" and "Runtime" not in function
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in function["Environment"]["Variables"]
    manifest = json.loads((image_synth.outdir / "maaskit-dev.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    context = image_synth.outdir / image["source"]["directory"]
    dockerfile = (context / image["source"]["dockerFile"]).read_text()
    assert "python:3.12" in dockerfile and '-m", "handlers.lambda_stream"' in dockerfile
    assert (context / "bundles/tiny-llama-1.0.0/model.onnx.data").is_file()
    assert "onnxruntime-genai==0.18.0" in (context / "maaskit-stream/requirements.txt").read_text()
    assert image_synth.one("AWS::Lambda::Url")["Properties"]["InvokeMode"] == "RESPONSE_STREAM"
    assert image_synth.violations() == []
