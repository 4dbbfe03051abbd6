"""Build the OpenAPI document, filling the raw-request JSON routes with their real schemas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

__all__ = ["build_openapi"]

_BODY = "x-maaskit-body"
_RESPONSE = "x-maaskit-response"
_ERROR = "x-maaskit-error"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def build_openapi(app: FastAPI, routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3 document of ``routes`` with request/response schemas for operations tagged ``x-maaskit-*``."""
    from handlers.schemas import SCHEMAS

    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    used: set[str] = set()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            body = operation.pop(_BODY, None)
            response = operation.pop(_RESPONSE, None)
            error = operation.pop(_ERROR, "MaaskitError")
            if body:
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
                used.add(body)
            if response:
                operation.setdefault("responses", {})["200"] = {
                    "description": "Successful answer",
                    "content": {"application/json": {"schema": _ref(response)}},
                }
                used.add(response)
                if error in SCHEMAS:
                    operation["responses"]["4XX"] = {
                        "description": "The request names an unknown model or does not match its signature",
                        "content": {"application/json": {"schema": _ref(error)}},
                    }
                    used.add(error)
    for name in sorted(used):
        schema = SCHEMAS[name].model_json_schema(ref_template="#/components/schemas/{model}")
        for sub_name, sub_schema in schema.pop("$defs", {}).items():
            components[sub_name] = sub_schema
        components[name] = schema
    return document
