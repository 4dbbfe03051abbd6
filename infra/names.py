"""Names of deployed resources, shared by the CDK constructs and the release commands.

The constructs (``infra/constructs``, ``infra/stack.py``, ``infra/app.py``) create resources under
these names and the release commands (``infra/ops``) find them by the same names; nothing else
spells them. Environment variable names live in :mod:`bundle.names` (the runtime reads them too).

A Lambda function version knows which bundle it serves through its description,
``maaskit <model> <version> sha256:<sha256 of manifest.json>``, written by the deploy step
when it publishes the version. The ``live`` alias description records where the
alias was before the last maaskit operation (``maaskit live=<n> previous=<m>``), so
``rollback`` knows where to go back to. See docs/operations.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bundle import names as bundle_names

__all__ = [
    "CHALLENGER_VARIANT",
    "CODEDEPLOY_GROUP",
    "DRIFT_HANDLER",
    "DRIFT_MODELS_FILE",
    "DRIFT_NAMESPACE_ENV",
    "DRIFT_RECORDS_ENV",
    "LIVE_ALIAS",
    "MODEL_TAG",
    "PRIMARY_VARIANT",
    "VERSION_TAG",
    "AliasNote",
    "VersionTag",
    "alias_note",
    "codedeploy_application",
    "drift_function_name",
    "logs_key_alias",
    "format_alias_note",
    "format_version_description",
    "parse_alias_note",
    "parse_version_description",
    "registry_parameter",
    "registry_trail_name",
    "resource_name",
    "resource_prefix",
    "stage_name",
]

#: The Lambda alias that takes traffic (the API integrates with it; CodeDeploy shifts it).
LIVE_ALIAS = "live"
#: CodeDeploy deployment group that shifts the ``live`` alias (application: the function name).
CODEDEPLOY_GROUP = "live"
#: Tags on each SageMaker Model: the bundle version and model name it serves (read by ``status``).
VERSION_TAG = "maaskit:version"
MODEL_TAG = "maaskit:model"
#: SageMaker production variants: the current bundle, and the A/B challenger when configured.
PRIMARY_VARIANT = "primary"
CHALLENGER_VARIANT = "challenger"

_DESCRIPTION = re.compile(
    r"^(?:maaskit (?P<model>\S+) (?P<version>\S+)|bundle (?P<bmodel>[^@\s]+)@(?P<bversion>\S+))"
    r"(?: sha256:(?P<sha>[0-9a-f]{12,64}))?$"
)
_ALIAS_NOTE = re.compile(r"^maaskit live=(?P<live>\d+)(?: previous=(?P<previous>\d+))?(?: rolled-back-from=\d+)?$")


def stage_name(stage: str) -> str:
    """``maaskit-<stage>``: the CloudFormation stack, the REST API and the dashboard of a stage."""
    return f"maaskit-{stage}"


def resource_prefix(stage: str) -> str:
    """Prefix of every Lambda function and SageMaker endpoint of a stage."""
    return f"{stage_name(stage)}-"


def resource_name(stage: str, model: str) -> str:
    """``maaskit-<stage>-<model>``: the Lambda function and the SageMaker endpoint of a model."""
    return f"{resource_prefix(stage)}{model}"


def codedeploy_application(stage: str, model: str) -> str:
    """CodeDeploy application that shifts the model's ``live`` alias (same as the function name)."""
    return resource_name(stage, model)


def registry_parameter(stage: str) -> str:
    """SSM parameter holding the registry bucket name of a stage."""
    return f"/maaskit/{stage}/registry-bucket"


@dataclass(frozen=True)
class VersionTag:
    """What a Lambda version description says about the bundle it serves."""

    model: str
    version: str
    sha256: str | None


def format_version_description(model: str, version: str, sha256: str) -> str:
    """Description to publish a Lambda version with: ``maaskit <model> <version> sha256:<hex>``.

    ``sha256`` is the digest of the bundle's manifest.json (it pins every file's sha256; the
    registry uses the same digest as the bundle's identity).
    """
    return f"maaskit {model} {version} sha256:{sha256}"


def parse_version_description(description: str | None) -> VersionTag | None:
    """Parse a Lambda version description; None when it is not a maaskit one.

    Also reads ``bundle <model>@<version> sha256:<hex prefix>``, the form the CDK app wrote first.
    """
    match = _DESCRIPTION.match((description or "").strip())
    if match is None:
        return None
    return VersionTag(match["model"] or match["bmodel"], match["version"] or match["bversion"], match["sha"])


@dataclass(frozen=True)
class AliasNote:
    """What the ``live`` alias description recorded at the last maaskit operation."""

    live: str
    previous: str | None


def format_alias_note(live: str, previous: str | None = None, rolled_back_from: str | None = None) -> str:
    """Alias description after promote (``previous``) or rollback (``rolled_back_from``)."""
    note = f"maaskit live={live}"
    if previous:
        note += f" previous={previous}"
    if rolled_back_from:
        note += f" rolled-back-from={rolled_back_from}"
    return note


def parse_alias_note(description: str | None) -> AliasNote | None:
    """Parse the alias description; None when maaskit did not write it."""
    match = _ALIAS_NOTE.match((description or "").strip())
    if match is None:
        return None
    return AliasNote(match["live"], match["previous"])


def alias_note(description: str | None, current: str) -> AliasNote | None:
    """The alias note, only when it still describes the alias (``live`` equals ``current``).

    A CodeDeploy deployment moves the alias without touching its description, so a note
    whose ``live`` differs from where the alias points is stale and must not be trusted.
    """
    note = parse_alias_note(description)
    return note if note is not None and note.live == current else None


#: Environment of the scheduled drift check (``infra/ops/drift_job.py``): the metrics namespace it publishes in
#: and how many captured records it reads per model (the capture bucket comes in ``bundle.names.CAPTURE_BUCKET``).
DRIFT_NAMESPACE_ENV = bundle_names.DRIFT_NAMESPACE
DRIFT_RECORDS_ENV = bundle_names.DRIFT_RECORDS
#: The scheduled drift check's Lambda handler, inside its asset.
DRIFT_HANDLER = "infra.ops.drift_job.handler"
#: The models file of the drift check's asset: what to compare, with each model's reference beside it.
DRIFT_MODELS_FILE = "drift_models.json"


def logs_key_alias(stage: str) -> str:
    """``alias/maaskit-<stage>-logs``: the customer-managed key of the stage's log groups (``logs.kms: true``)."""
    return f"alias/{stage_name(stage)}-logs"


def registry_trail_name(stage: str) -> str:
    """``maaskit-<stage>-registry``: the CloudTrail trail of the registry's data events (its key alias adds -trail)."""
    return f"{stage_name(stage)}-registry"


def drift_function_name(stage: str) -> str:
    """``maaskit-<stage>-drift``: the scheduled drift check's function (and ``/aws/lambda/...`` log group)."""
    return f"{stage_name(stage)}-drift"
