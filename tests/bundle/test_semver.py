"""Semantic version precedence used to pick the latest model version."""

from bundle.semver import semver_key


def test_semver_precedence():
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.2.0",
        "1.10.0",
        "2.0.0",
    ]
    assert sorted(reversed(ordered), key=semver_key) == ordered


def test_build_metadata_is_ignored():
    assert semver_key("1.0.0+build.5") == semver_key("1.0.0")
