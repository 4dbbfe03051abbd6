"""The API construct alone (no packaging, fast): JWT auth and default props; and that cdk-nag does bite."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from infra.config import ApiConfig, AuthConfig
from infra.constructs.api import ModelApi, ModelApiProps, SageMakerRoute
from infra.nag import enable_nag
from tests.infra.api_emulator import EmulatedApi, routes_of
from tests.infra.conftest import cdk_context

POOL = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc123"
ROUTE = SageMakerRoute("maaskit-dev-gpu", "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/maaskit-dev-gpu")


def _template(config: ApiConfig) -> tuple[ModelApi, dict]:
    stack = Stack(App(context=cdk_context()), "Api")
    api = ModelApi(stack, "Api", ModelApiProps(stage="dev", config=config, sagemaker_models={"gpu": ROUTE}))
    return api, Template.from_stack(stack).to_json()


def test_jwt_auth_uses_a_cognito_authorizer_on_every_method():
    api, template = _template(ApiConfig(auth=AuthConfig(type="jwt", user_pool_arn=POOL)))
    resources = template["Resources"].values()
    (authorizer,) = [r["Properties"] for r in resources if r["Type"] == "AWS::ApiGateway::Authorizer"]
    assert authorizer["Type"] == "COGNITO_USER_POOLS" and authorizer["ProviderARNs"] == [POOL]
    methods = [r["Properties"] for r in resources if r["Type"] == "AWS::ApiGateway::Method"]
    assert methods and {m["AuthorizationType"] for m in methods} == {"COGNITO_USER_POOLS"}
    assert api.authorizer is not None and api.usage_plan is None


def test_direct_integration_defaults():
    api, template = _template(ApiConfig())
    methods = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"]
    # GET /models (answered by API Gateway), GET /models/gpu, POST .../predict and .../invocations
    assert sorted((m["HttpMethod"], m["Integration"]["Type"]) for m in methods) == [
        ("GET", "AWS"),
        ("GET", "MOCK"),
        ("POST", "AWS"),
        ("POST", "AWS"),
    ]
    catalogue = next(m for m in methods if m["Integration"]["Type"] == "MOCK")["Integration"]
    answer = json.loads(catalogue["IntegrationResponses"][0]["ResponseTemplates"]["application/json"])
    assert answer == {"models": [{"name": "gpu", "versions": [], "latest": None}]}
    assert all(m["AuthorizationType"] == "AWS_IAM" and m["RequestValidatorId"] for m in methods)
    assert {"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/maaskit-dev-gpu"} == {
        s["Resource"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    }
    assert "application/x-npy" in json.dumps(template)
    assert api.sagemaker_role is not None


def test_cdk_nag_reports_a_plain_bucket(tmp_path):
    app = App(context=cdk_context(), outdir=str(tmp_path))
    stack = Stack(app, "Plain")
    s3.Bucket(stack, "Plain")
    enable_nag(app)
    with pytest.raises(RuntimeError, match="ValidationFailed") as info:
        app.synth()
    assert "AwsSolutions-S1" in str(info.value) and "AwsSolutions-S10" in str(info.value)


def _paths(template: Mapping[str, Any]) -> dict[str, set[str]]:
    """Full resource path -> HTTP methods on it, read from the synthesized template."""
    resources = template["Resources"]
    parts = {key: r["Properties"] for key, r in resources.items() if r["Type"] == "AWS::ApiGateway::Resource"}

    def path(key: str) -> str:
        props = parts[key]
        parent = props["ParentId"]
        head = path(parent["Ref"]) if isinstance(parent, dict) and parent.get("Ref") in parts else ""
        return f"{head}/{props['PathPart']}"

    methods: dict[str, set[str]] = {}
    for item in resources.values():
        if item["Type"] == "AWS::ApiGateway::Method":
            ref = item["Properties"]["ResourceId"]
            where = path(ref["Ref"]) if isinstance(ref, dict) and "Ref" in ref else "/"
            methods.setdefault(where, set()).add(item["Properties"]["HttpMethod"])
    return methods


def test_openai_routes_go_to_the_embedding_model_beside_tf_serving_routes():
    from infra.constructs.api import openai_model

    stack = Stack(App(context=cdk_context()), "Api")
    functions: dict[str, lambda_.IFunction] = {
        name: lambda_.Function(
            stack,
            name,
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="x.handler",
            code=lambda_.Code.from_inline("def handler(event, context): pass"),
        )
        for name in ("embedder", "iris")
    }
    ModelApi(stack, "Api", ModelApiProps(stage="dev", lambda_models=functions, openai_model="embedder"))
    template = Template.from_stack(stack).to_json()
    paths = _paths(template)
    assert paths["/v1/embeddings"] == {"POST"} and paths["/v1/models"] == {"GET"}
    assert paths["/v1/models/embedder"] == {"GET"} and paths["/v1/models/embedder:predict"] == {"POST"}
    (embeddings,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Method"
        and r["Properties"]["HttpMethod"] == "POST"
        and "embedder" not in json.dumps(r["Properties"]["ResourceId"])
        and "embeddings" in json.dumps(r["Properties"]["ResourceId"]).lower()
    ]
    uri = json.dumps(embeddings["Integration"]["Uri"])
    assert "embedder" in uri and "iris" not in uri and embeddings["AuthorizationType"] == "AWS_IAM"
    assert openai_model(["embedder"]) == "embedder" and openai_model([]) is None and openai_model(["a", "b"]) is None
    with pytest.raises(ValueError, match="not one of the Lambda models"):
        ModelApi(Stack(App(), "Other"), "Api", ModelApiProps(stage="dev", lambda_models={}, openai_model="embedder"))


def test_image_bodies_are_binary_media_types():
    _, template = _template(ApiConfig())
    (rest_api,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert {"image/*", "application/x-image", "application/x-npy"} <= set(rest_api["BinaryMediaTypes"])


def test_speech_uploads_are_binary_media_types_and_reach_lambda_intact():

    _, template = _template(ApiConfig())
    (rest_api,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    speech = {"audio/wav", "audio/flac", "audio/mpeg", "audio/ogg", "audio/webm", "audio/mp4", "multipart/form-data"}
    assert speech <= set(rest_api["BinaryMediaTypes"]) and "audio/*" in rest_api["BinaryMediaTypes"]
    # What API Gateway does with them: the body goes to Lambda base64-encoded, byte for byte (a text media type
    # would be decoded as UTF-8 on the way and a WAV's non-UTF-8 bytes lost).
    seen: list[tuple[bool, str]] = []

    def model(event: dict[str, Any], context: object) -> dict[str, Any]:
        body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
        seen.append((event["isBase64Encoded"], hashlib.sha256(body).hexdigest()))
        return {"statusCode": 200, "body": "{}"}

    stack = Stack(App(context=cdk_context()), "Speech")
    from aws_cdk import aws_lambda as lambda_

    function = lambda_.Function(
        stack, "Whisper", runtime=lambda_.Runtime.PYTHON_3_14, handler="index.handler",
        code=lambda_.Code.from_inline("def handler(e, c):\n    return {}\n"),
    )  # fmt: skip
    ModelApi(stack, "Api", ModelApiProps(stage="dev", lambda_models={"whisper": function}))
    api = EmulatedApi("dev", routes_of(dict(Template.from_stack(stack).to_json())), {"whisper": model}, {})
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\xff\xfe\x00\x80"
    with httpx.Client(transport=api, base_url="https://api.example/dev") as http:
        http.post("/models/whisper/invocations", content=wav, headers={"Content-Type": "audio/wav"})
        http.post("/models/whisper/v1/audio/transcriptions", files={"file": ("a.wav", wav, "audio/wav")})
    assert [encoded for encoded, _ in seen] == [True, True]
    assert seen[0][1] == hashlib.sha256(wav).hexdigest()
