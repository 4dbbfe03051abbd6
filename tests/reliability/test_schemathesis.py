"""Schemathesis over the served OpenAPI document: no generated request gets a 5xx, in-process and through Lambda."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

from bench.openapi_fuzz import fuzz_app, lambda_caller, lambda_event

#: generated requests per operation (25 operations): a few hundred per run in total, each way
EXAMPLES = 12


def _report(result) -> str:
    return f"{result.requests} requests, statuses {dict(result.statuses)}:\n" + "\n".join(result.failures)


def test_openapi_document_fuzzed_without_5xx(rel_app, rel_models):
    result = fuzz_app(rel_app, EXAMPLES, rel_models)
    assert result.operations >= 20, "the served document lists every protocol's routes"
    assert result.requests >= 200
    assert result.server_errors == 0, _report(result)
    assert any(200 <= status < 300 for status in result.statuses), "some generated requests must be served"
    assert any(400 <= status < 500 for status in result.statuses), "some generated requests must be refused"


@pytest.fixture(scope="module")
def lambda_handler(rel_bundles):
    """``handlers.lambda_entry.handler`` itself, imported with ``MAASKIT_BUNDLES`` naming the test bundles."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAASKIT_BUNDLES", os.pathsep.join(str(p) for p in rel_bundles.all))
        patch.setenv("MAASKIT_INTRA_OP_THREADS", "1")
        patch.setenv("MAASKIT_ACCESS_LOG", "false")
        patch.setenv("MAASKIT_METRICS", "none")
        sys.modules.pop("handlers.lambda_entry", None)
        module = importlib.import_module("handlers.lambda_entry")
        yield module.handler
        sys.modules.pop("handlers.lambda_entry", None)


def test_lambda_handler_fuzzed_without_5xx(rel_app, rel_models, lambda_handler):
    result = fuzz_app(rel_app, EXAMPLES, rel_models, caller=lambda_caller(lambda_handler))
    assert result.requests >= 200
    assert result.server_errors == 0, _report(result)
    assert any(200 <= status < 300 for status in result.statuses)


def test_lambda_event_carries_the_generated_request(rel_app, rel_models, lambda_handler):
    """The event builder itself: a known request through it answers as over HTTP."""
    import schemathesis

    schema = schemathesis.openapi.from_asgi("/openapi.json", rel_app)
    operation = schema["/models/{name}"]["GET"]
    case = operation.Case(path_parameters={"name": "iris"})
    event = lambda_event(case)
    assert event["rawPath"] == "/models/iris"
    answer = lambda_handler(event, None)
    assert answer["statusCode"] == 200
    assert '"iris"' in answer["body"]
