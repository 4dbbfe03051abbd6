"""Settings precedence (argument > environment > default) and parsing errors."""

from __future__ import annotations

import os
from typing import Any

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


def test_capture_settings_are_read_from_the_variables_the_cdk_app_sets():
    from bundle import names

    env = {
        names.CAPTURE_BUCKET: "captures",
        names.CAPTURE_PREFIX: "capture/",
        names.CAPTURE_KMS_KEY: "arn:aws:kms:eu-west-1:1:key/k",
        names.CAPTURE_SAMPLE: "0.05",
        names.CAPTURE_REDACT: "email, inputs.ssn,",
    }
    settings = Settings.load(environ=env)
    assert (settings.capture_bucket, settings.capture_kms_key) == ("captures", "arn:aws:kms:eu-west-1:1:key/k")
    assert (settings.capture_sample, settings.capture_redact) == (0.05, ("email", "inputs.ssn"))
    assert Settings.load(environ={}).capture_sample == 0.0 and Settings().capture_prefix == "capture/"
    with pytest.raises(SettingsError, match=f"{names.CAPTURE_SAMPLE}='5' must be a number between 0 and 1"):
        Settings.load(environ={names.CAPTURE_SAMPLE: "5"})
    with pytest.raises(SettingsError, match="argument capture_sample='2' must be a number between 0 and 1"):
        Settings.load(environ={}, capture_sample=2)


def test_unknown_argument_is_refused():
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.load(environ={}, max_body=1)


def test_every_setting_has_one_environment_variable():
    from dataclasses import fields

    assert {field.name for field in fields(Settings)} == set(ENV)
    assert all(name.startswith("MAASKIT_") for name in ENV.values())
    assert len(set(ENV.values())) == len(ENV)


def test_every_setting_has_a_kind_and_every_variable_comes_from_bundle_names():
    from bundle import names
    from handlers.settings import ALIASES, variables

    spelled = {value for key, value in vars(names).items() if key.isupper() and isinstance(value, str)}
    for name in ENV:
        assert set(variables(name)) <= spelled, name
        assert ENV[name] in variables(name)
    assert set(ALIASES) <= set(ENV)


def test_a_number_argument_is_checked_like_the_environment():
    with pytest.raises(SettingsError, match="argument port=.0. must be between 1 and 65535"):
        Settings.load(environ={}, port=0)
    assert Settings.load(environ={}, keep_alive_s=2).keep_alive_s == 2.0


def test_empty_variable_means_unset():
    assert Settings.load(environ={ENV["keep_alive_s"]: " "}).keep_alive_s == 5.0


# --- one settings object for every entry: serve, the SageMaker container, Lambda, the batcher ---------------

KEEP_ALIVE = {ENV["keep_alive_s"]: "2.5"}


@pytest.fixture
def lambda_entry(bundles, monkeypatch):
    """handlers.lambda_entry imported fresh (it loads its bundles at import, as in Lambda's init phase)."""
    import importlib
    import sys

    monkeypatch.setenv(ENV["bundles"], str(bundles.iris))
    monkeypatch.setenv(ENV["intra_op_threads"], "1")
    sys.modules.pop("handlers.lambda_entry", None)
    yield importlib.import_module("handlers.lambda_entry")
    sys.modules.pop("handlers.lambda_entry", None)


def _serve(monkeypatch, bundle, env: dict[str, str]) -> tuple[int, str, dict[str, Any]]:
    """``maaskit serve`` by its CLI, uvicorn.run and the bundle loading replaced: exit code, output, options."""
    import uvicorn
    from typer.testing import CliRunner

    import handlers.server
    from maaskit.cli import app

    captured: dict[str, Any] = {}

    class _App:
        class state:  # noqa: N801 (stands in for Starlette's app.state)
            repository = ()

    monkeypatch.setattr(uvicorn, "run", lambda target, **options: captured.update(options))
    monkeypatch.setattr(handlers.server, "build_app", lambda settings: captured.update(settings=settings) or _App())
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["serve", str(bundle)])
    return result.exit_code, result.output, captured


def test_keep_alive_2_5_works_for_every_entry(bundles, monkeypatch, lambda_entry):
    from handlers.connections import uvicorn_options
    from handlers.sagemaker_entry import _uvicorn_options, container_settings

    code, output, captured = _serve(monkeypatch, bundles.iris, KEEP_ALIVE)
    assert code == 0, output
    assert captured["timeout_keep_alive"] == 2.5 and captured["settings"].keep_alive_s == 2.5
    container = container_settings(KEEP_ALIVE, gpu_count=0)
    assert container.keep_alive_s == 2.5 and _uvicorn_options(container)["timeout_keep_alive"] == 2.5
    assert lambda_entry.default_settings(KEEP_ALIVE).keep_alive_s == 2.5
    assert uvicorn_options(Settings.load(KEEP_ALIVE))["timeout_keep_alive"] == 2.5


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("MAASKIT_KEEP_ALIVE_S", "soon", "must be a number of seconds (e.g. 2.5)"),
        ("MAASKIT_BATCH_MAX_SIZE", "2.5", "must be a whole number"),
        ("MAASKIT_PORT", "99999", "must be between 1 and 65535"),
        ("MAASKIT_DECODE_PROCESSES", "-1", "must not be negative"),
    ],
)
def test_a_bad_value_is_one_clear_error_naming_the_variable_on_every_entry(
    bundles, monkeypatch, lambda_entry, variable, value, fragment
):
    from handlers.sagemaker_entry import container_settings

    expected = f"{variable}={value!r} {fragment}; set one that is, or unset {variable} for the default"
    code, output, _ = _serve(monkeypatch, bundles.iris, {variable: value})
    assert code == 2 and expected in " ".join(output.split()), output
    for entry in (lambda env: container_settings(env, gpu_count=0), lambda_entry.default_settings, Settings.load):
        with pytest.raises(SettingsError) as info:
            entry({variable: value})
        assert str(info.value) == expected


def test_serve_reads_host_port_and_workers_from_the_environment_and_arguments_win(bundles, monkeypatch):
    code, output, captured = _serve(monkeypatch, bundles.iris, {"MAASKIT_PORT": "8123", "MAASKIT_HOST": "127.0.0.2"})
    assert code == 0, output
    assert (captured["host"], captured["port"]) == ("127.0.0.2", 8123)
    assert captured["settings"].decode_processes == 2  # serve decodes large bodies outside its GIL, as the container


def test_serve_settings_defaults_and_overrides():
    from handlers.server import serve_settings

    assert serve_settings({}).decode_processes == 2
    assert serve_settings({ENV["decode_processes"]: "0"}).decode_processes == 0
    assert serve_settings({ENV["port"]: "9000"}, port=None).port == 9000
    assert serve_settings({ENV["port"]: "9000"}, port=9001).port == 9001


def test_only_the_settings_module_reads_maaskit_variables():
    """One parser: no runtime module reads a ``MAASKIT_*`` variable itself (docstrings may name them)."""
    import ast
    from pathlib import Path

    from bundle import names

    handlers = Path(__file__).resolve().parents[2] / "handlers"
    variables = {key for key, value in vars(names).items() if isinstance(value, str) and value.startswith("MAASKIT_")}
    readers = []
    for path in sorted(handlers.rglob("*.py")):
        if path.name in {"settings.py", "setting_kinds.py"}:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            where = f"{path.relative_to(handlers)}:{getattr(node, 'lineno', 0)}"
            value = node.value if isinstance(node, ast.Constant) and id(node) not in docstrings else None
            if isinstance(value, str) and value.startswith("MAASKIT_"):
                readers.append(f"{where} {value}")
            named = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "names"
            attribute = node.attr if isinstance(node, ast.Attribute) and named else None
            if attribute in variables:
                readers.append(f"{where} names.{attribute}")
    # Settings.generation_queue exists: handlers/generation/runtime.py reads it from the settings, then this goes.
    pending = [line for line in readers if line.startswith("generation/runtime.py:") and "GENERATION_QUEUE" in line]
    assert [reader for reader in readers if reader not in pending] == [], (
        "read these through handlers.settings.Settings: " + ", ".join(readers)
    )
