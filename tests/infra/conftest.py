"""Shared fixtures: real bundles (skl2onnx) and ONE synthesis per configuration per session.

Synthesis loads cdk.json's context, as ``cdk synth`` does (``cdk.App()`` alone would not), and runs
cdk-nag. The dependency layer comes from ``.maaskit/cache`` (pip runs once per lock file and arch).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST_ARCH = "arm64" if platform.machine() in {"aarch64", "arm64"} else "x86_64"


@dataclass
class Synth:
    """A synthesized stage: the stack object, its template (dict), the assembly directory and nag report."""

    stack: Any
    template: dict[str, Any]
    outdir: Path
    nag_report: dict[str, Any]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def one(self, kind: str) -> dict[str, Any]:
        found = list(self.resources(kind).values())
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    def violations(self) -> list[str]:
        return [
            f"{v['ruleName']} at {c['constructPath']}"
            for report in self.nag_report.get("pluginReports", [])
            for v in report.get("violations", [])
            for c in v.get("violatingConstructs", [])
        ]


def cdk_context() -> dict[str, Any]:
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def synthesize(workdir: Path, config: dict[str, Any], stage: str = "test") -> Synth:
    from aws_cdk import App

    from infra.app import build_stack

    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "maaskit.deploy.yaml"
    config_path.write_text(yaml.safe_dump(config))
    outdir = workdir / "cdk.out"
    app = App(context=cdk_context(), outdir=str(outdir))
    stack = build_stack(app, stage=stage, config_path=config_path)
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return Synth(stack, template, outdir, report)


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """iris 1.0.0 (classifier), diabetes 1.0.0 and 1.1.0 (regressor), written with write_bundle."""
    from infra.examples.make_bundles import build_examples

    out = tmp_path_factory.mktemp("bundles")
    first = build_examples(out, "1.0.0")
    second = build_examples(out, "1.1.0")
    return {"iris": first["iris"], "diabetes": first["diabetes"], "diabetes-1.1.0": second["diabetes"]}


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory, bundles: dict[str, Path]) -> Synth:
    """Every setting left at its default: iris on Lambda, diabetes (archive) on SageMaker."""
    config = {
        "endpoints": [
            {"name": "iris", "bundle": str(bundles["iris"])},
            {"name": "diabetes", "bundle": f"{bundles['diabetes']}.tar.gz", "target": "sagemaker"},
        ]
    }
    return synthesize(tmp_path_factory.mktemp("default"), config, stage="dev")


@pytest.fixture(scope="session")
def custom_synth(tmp_path_factory: pytest.TempPathFactory, bundles: dict[str, Path]) -> Synth:
    """Overridden props; the Lambda is built for this host's architecture so its artifact can run here."""
    config = {
        "endpoints": [
            {
                "name": "iris",
                "bundle": str(bundles["iris"]),
                "lambda": {
                    "memory_mb": 1024,
                    "architecture": HOST_ARCH,
                    "reserved_concurrency": 50,
                    "provisioned_concurrency": {"min": 2, "max": 6, "target_utilization": 0.6},
                    "log_retention_days": 14,
                    "page": True,
                },
                "rollout": {"strategy": "linear", "percentage": 20, "interval_minutes": 2},
                "alarms": {"errors": 3, "throttles": 7, "p99_latency_ms": 800, "evaluation_periods": 3},
            },
            {
                "name": "diabetes",
                "bundle": str(bundles["diabetes"]),
                "target": "sagemaker",
                "sagemaker": {
                    "instance_type": "ml.g4dn.2xlarge",
                    "instance_count": 2,
                    "autoscaling": {"min": 2, "max": 8, "invocations_per_instance": 900},
                    "challenger": {"bundle": str(bundles["diabetes-1.1.0"]), "weight": 0.2},
                },
                "rollout": {"strategy": "canary", "percentage": 25, "interval_minutes": 15},
            },
        ],
        "api": {
            "auth": {"type": "api_key", "quota_per_day": 10000},
            "throttling": {"rate_limit": 50, "burst_limit": 80},
        },
        "stages": {"prod": {"api": {"throttling": {"rate_limit": 500}}}},
    }
    return synthesize(tmp_path_factory.mktemp("custom"), config, stage="prod")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama-style text-generation bundle (random weights), packaged by ``model_packager.package``."""
    from tests.genmodels import package_tiny

    return package_tiny("llama", tmp_path_factory.mktemp("genai"))
