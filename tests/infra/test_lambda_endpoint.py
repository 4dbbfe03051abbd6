"""LambdaEndpoint alone: a bundle that would push the zip past 250 MB becomes a container image."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from infra.bundles import resolve_bundle
from infra.constructs.lambda_endpoint import LambdaEndpoint, LambdaEndpointProps
from infra.packaging import LAMBDA_UNZIPPED_LIMIT
from tests.infra.conftest import REPO_ROOT, cdk_context

LAYER = "arn:aws:lambda:eu-west-1:123456789012:layer:deps:1"


def test_oversized_package_falls_back_to_the_lambda_dockerfile(bundles, tmp_path: Path, capsys):
    app = App(context=cdk_context(), outdir=str(tmp_path / "cdk.out"))
    stack = Stack(app, "Big")
    bundle = resolve_bundle(str(bundles["iris"]), "iris", tmp_path, tmp_path / "build")
    endpoint = LambdaEndpoint(
        stack,
        "Iris",
        LambdaEndpointProps(
            function_name="maaskit-dev-iris",
            bundle=bundle,
            source_root=REPO_ROOT,
            deps_layer=lambda_.LayerVersion.from_layer_version_arn(stack, "Deps", LAYER),
            deps_size=LAMBDA_UNZIPPED_LIMIT,  # the layer alone fills the limit
            build_root=tmp_path / "build",
        ),
    )
    assert endpoint.uses_image and endpoint.unzipped_size > LAMBDA_UNZIPPED_LIMIT
    assert "container image built from handlers/docker/Dockerfile.lambda" in capsys.readouterr().out
    template = Template.from_stack(stack).to_json()
    (function,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == "maaskit-dev-iris"
    ]
    assert function["PackageType"] == "Image" and "Layers" not in function
    assert "ImageUri" in function["Code"]
    contexts = list((tmp_path / "build" / "contexts").iterdir())
    assert len(contexts) == 1
    context = contexts[0]
    assert (context / "handlers" / "docker" / "Dockerfile.lambda").is_file()
    assert (context / "bundles" / "iris-1.0.0" / "manifest.json").is_file()
    assert not (context / ".venv").exists()
