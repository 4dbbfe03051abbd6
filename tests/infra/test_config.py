"""The deploy file: defaults, stage overrides, and bad input failing with the key path and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import ConfigError, load_config, parse_config

BASE = {"endpoints": [{"name": "iris", "bundle": "bundles/iris-1.0.0"}]}


def test_defaults_are_the_documented_ones():
    config = parse_config(BASE)
    endpoint = config.endpoints[0]
    assert endpoint.target == "lambda"
    assert (endpoint.lambda_.memory_mb, endpoint.lambda_.architecture) == (None, "arm64")  # None: sized from the bundle
    assert (endpoint.lambda_.package, endpoint.target) == ("auto", "lambda")
    assert endpoint.lambda_.provisioned_concurrency is None
    assert (endpoint.sagemaker.instance_type, endpoint.sagemaker.instance_count) == ("ml.g5.xlarge", 1)
    assert (endpoint.rollout.strategy, endpoint.rollout.percentage, endpoint.rollout.interval_minutes) == (
        "canary",
        10,
        5,
    )
    assert config.api.auth.type == "iam"


def test_stage_overrides_merge_over_the_top_level():
    data = {
        **BASE,
        "api": {"throttling": {"rate_limit": 10}},
        "stages": {"prod": {"api": {"throttling": {"burst_limit": 999}}}},
    }
    prod = parse_config(data, stage="prod")
    assert (prod.api.throttling.rate_limit, prod.api.throttling.burst_limit) == (10, 999)
    assert parse_config(data, stage="dev").api.throttling.burst_limit == 200


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"target": "ec2"}, "endpoints.0.target: got 'ec2'; allowed values: 'lambda', 'sagemaker' or 'auto'"),
        (
            {"lambda": {"architecture": "i386"}},
            "endpoints.0.lambda.architecture: got 'i386'; allowed values: 'arm64' or 'x86_64'",
        ),
        ({"lambda": {"memroy_mb": 512}}, "endpoints.0.lambda.memroy_mb: unknown key"),
        ({"lambda": {"memory_mb": 64}}, "endpoints.0.lambda.memory_mb: Input should be greater than or equal to 128"),
        ({"rollout": {"strategy": "blue"}}, "allowed values: 'canary', 'linear' or 'all_at_once'"),
        ({"lambda": {"log_retention_days": 10}}, "use one of (1, 3, 5, 7, 14, 30"),
        ({"lambda": {"provisioned_concurrency": {"min": 5, "max": 2}}}, "max (2) must be at least min (5)"),
        ({"name": "Iris_Model"}, "endpoints.0.name: String should match pattern"),
        ({"bundle": "s3://bucket/iris.tar.gz"}, "a Lambda target needs a local bundle"),
        ({"bundle": "registry:iris"}, "must look like registry:<name>@<version>"),
        ({"sagemaker": {"instance_type": "g5.xlarge"}}, "endpoints.0.sagemaker.instance_type"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(change, expected):
    endpoint = {**BASE["endpoints"][0], **change}
    with pytest.raises(ConfigError) as info:
        parse_config({"endpoints": [endpoint]}, "maaskit.deploy.yaml")
    assert "maaskit.deploy.yaml is invalid" in str(info.value)
    assert expected in str(info.value)


def test_whole_file_problems():
    with pytest.raises(ConfigError, match="endpoints: List should have at least 1 item"):
        parse_config({"endpoints": []})
    with pytest.raises(ConfigError, match="repeated: iris"):
        parse_config({"endpoints": [BASE["endpoints"][0], BASE["endpoints"][0]]})
    with pytest.raises(ConfigError, match="api.auth: Value error, type jwt needs user_pool_arn"):
        parse_config({**BASE, "api": {"auth": {"type": "jwt"}}})
    with pytest.raises(ConfigError, match="(root).*|endpoints: required key is missing"):
        parse_config({"endpoint": []})


def test_load_config_file_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found; pass --config"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("endpoints: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(listing)
    good = tmp_path / "ok.yaml"
    good.write_text("endpoints:\n  - {name: iris, bundle: b}\n")
    with pytest.raises(ConfigError, match="stage 'Prod' must be"):
        load_config(good, "Prod")
    assert load_config(good, "prod").endpoints[0].name == "iris"


def test_example_deploy_file_is_valid():
    config = load_config(Path(__file__).resolve().parents[2] / "maaskit.deploy.yaml", "prod")
    assert {e.target for e in config.endpoints} == {"lambda", "sagemaker"}
    assert config.api.throttling.rate_limit == 500


def test_bundle_references_that_cannot_be_packaged(bundles, tmp_path: Path):
    from infra.bundles import resolve_bundle

    with pytest.raises(ConfigError, match="holds model 'iris'; the endpoint name must be the model name"):
        resolve_bundle(str(bundles["iris"]), "flowers", tmp_path, tmp_path / "build")
    with pytest.raises(ConfigError, match=r"endpoints\.iris\.bundle: .*does not exist"):
        resolve_bundle("nowhere/iris-1.0.0", "iris", tmp_path, tmp_path / "build")
    archive = resolve_bundle(f"{bundles['iris']}.tar.gz", "iris", tmp_path, tmp_path / "build")
    directory = resolve_bundle(str(bundles["iris"]), "iris", tmp_path, tmp_path / "build")
    assert archive.digest == directory.digest and archive.version == "1.0.0"
    assert archive.directory is not None and (archive.directory / "model.onnx").is_file()
