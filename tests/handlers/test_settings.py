"""Settings precedence (argument > environment > default) and parsing errors."""

from __future__ import annotations

import os

import pytest

from handlers.settings import ENV, LAMBDA_MAX_BODY_BYTES, Settings, SettingsError


def test_defaults():
    settings = Settings.load(environ={})
    assert settings.max_body_bytes == LAMBDA_MAX_BODY_BYTES == 6 * 1024 * 1024
    assert settings.providers == ("CPUExecutionProvider",)
    assert settings.log_payload is False
    assert settings.access_log is True


def test_environment_over_default_and_argument_over_environment():
    env = {
        ENV["max_body_bytes"]: "1000",
        ENV["providers"]: "cuda, cpu",
        ENV["intra_op_threads"]: "2",
        ENV["log_payload"]: "true",
        ENV["bundles"]: os.pathsep.join(["/a", "/b"]),
    }
    settings = Settings.load(environ=env)
    assert settings.max_body_bytes == 1000
    assert settings.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert settings.intra_op_threads == 2
    assert settings.log_payload is True
    assert settings.bundles == ("/a", "/b")
    overridden = Settings.load(environ=env, max_body_bytes=5, providers=["cpu"], log_payload=False)
    assert (overridden.max_body_bytes, overridden.providers, overridden.log_payload) == (
        5,
        ("CPUExecutionProvider",),
        False,
    )
    assert overridden.intra_op_threads == 2  # not overridden: environment wins over default


def test_none_argument_means_not_given():
    assert Settings.load(environ={ENV["intra_op_threads"]: "3"}, intra_op_threads=None).intra_op_threads == 3


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("max_body_bytes", "lots", "whole number"),
        ("intra_op_threads", "-1", "not be negative"),
        ("log_payload", "maybe", "true or false"),
        ("metrics", "statsd", "prometheus, emf, none"),
        ("inline_max_ms", "fast", "milliseconds"),
    ],
)
def test_bad_environment_values_name_the_variable(name, value, fragment):
    with pytest.raises(SettingsError, match=fragment) as info:
        Settings.load(environ={ENV[name]: value})
    assert ENV[name] in str(info.value)


def test_unknown_argument_is_refused():
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.load(environ={}, max_body=1)


def test_every_setting_has_one_environment_variable():
    from dataclasses import fields

    assert {field.name for field in fields(Settings)} == set(ENV)
    assert all(name.startswith("MAASKIT_") for name in ENV.values())
    assert len(set(ENV.values())) == len(ENV)
