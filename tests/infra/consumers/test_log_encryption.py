"""``logs.kms`` with your own key, and the API construct's own refusal of auth modes that cannot share an API
(fast: no packaging, the constructs on a bare stack)."""

from __future__ import annotations

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from infra.config import ApiConfig, AuthConfig
from infra.constructs.api import ModelApi, ModelApiProps
from infra.constructs.log_encryption import LogEncryption
from tests.infra.conftest import cdk_context

KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_your_own_key_goes_on_every_log_group_and_no_key_is_made() -> None:
    stack = Stack(App(context=cdk_context()), "Logs", env={"account": "123456789012", "region": "eu-west-1"})
    logs.LogGroup(stack, "Mine", removal_policy=RemovalPolicy.DESTROY)
    ModelApi(stack, "Api", ModelApiProps(stage="dev"))
    keep = logs.CfnLogGroup(stack, "AlreadyKeyed", kms_key_id="arn:aws:kms:eu-west-1:123456789012:key/other")
    encryption = LogEncryption(stack, "LogEncryption", stage="dev", key=KEY)
    template = Template.from_stack(stack).to_json()
    groups = {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert len(groups) == 4  # mine, the API's access and execution logs, and the one that had a key
    assert {g["KmsKeyId"] for k, g in groups.items() if k != "AlreadyKeyed"} == {KEY}
    assert groups["AlreadyKeyed"]["KmsKeyId"] == keep.kms_key_id
    assert encryption.key is None and not [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]


def test_the_api_refuses_api_key_beside_keys_and_jwt_without_a_pool() -> None:
    with pytest.raises(ValueError, match="cannot share one API"):
        ModelApi(
            Stack(App(), "A"), "Api",
            ModelApiProps(stage="dev", config=ApiConfig(auth=AuthConfig(type="api_key")), auth={"iris": "keys"}),
        )  # fmt: skip
    with pytest.raises(ValueError, match="needs api.auth.user_pool_arn"):
        ModelApi(Stack(App(), "B"), "Api", ModelApiProps(stage="dev", auth={"iris": "jwt"}))
