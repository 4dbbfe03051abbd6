"""The conventions shared with the CDK app: names, version descriptions, alias notes, semver order."""

from __future__ import annotations

from bundle.semver import semver_key
from infra.names import (
    alias_note,
    format_alias_note,
    format_version_description,
    parse_version_description,
    registry_parameter,
    resource_name,
)


def test_names() -> None:
    assert resource_name("prod", "iris") == "maaskit-prod-iris"
    assert registry_parameter("prod") == "/maaskit/prod/registry-bucket"


def test_version_description_round_trip() -> None:
    text = format_version_description("iris", "1.2.0-rc.1", "f" * 64)
    assert text == "maaskit iris 1.2.0-rc.1 sha256:" + "f" * 64
    tag = parse_version_description(text)
    assert tag is not None and (tag.model, tag.version, tag.sha256) == ("iris", "1.2.0-rc.1", "f" * 64)
    assert parse_version_description("maaskit iris 1.0.0") is not None  # digest optional
    first_form = parse_version_description("bundle iris@2.0.0 sha256:0123456789abcdef")
    assert first_form is not None and (first_form.model, first_form.version) == ("iris", "2.0.0")
    for other in (None, "", "hotfix", "maaskit iris", "maaskit iris 1.0.0 sha256:nothex"):
        assert parse_version_description(other) is None


def test_alias_note_trusted_only_while_current() -> None:
    note = format_alias_note("3", previous="1")
    assert note == "maaskit live=3 previous=1"
    trusted = alias_note(note, "3")
    assert trusted is not None and trusted.previous == "1"
    assert alias_note(note, "4") is None  # CodeDeploy moved the alias since: stale
    after_rollback = alias_note(format_alias_note("1", rolled_back_from="3"), "1")
    assert after_rollback is not None and after_rollback.previous is None
    assert alias_note("managed by hand", "1") is None


def test_semver_order() -> None:
    versions = ["1.10.0", "1.2.0", "1.2.0-rc.1", "1.2.0-alpha", "1.2.0-rc.10", "0.9.9", "latest"]
    assert sorted(versions, key=semver_key) == [
        "latest",
        "0.9.9",
        "1.2.0-alpha",
        "1.2.0-rc.1",
        "1.2.0-rc.10",
        "1.2.0",
        "1.10.0",
    ]
