"""The OpenAPI document and the /docs page, built on first request with FastAPI's generator.

FastAPI (and the pydantic models in :mod:`handlers.schemas`) are imported here only, so serving
predictions never pays for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handlers.routing import BODY_SCHEMA, ERROR_SCHEMA, RESPONSE_SCHEMA, RouteSpec

__all__ = ["build_openapi", "swagger_page"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def build_openapi(title: str, version: str, description: str, specs: Sequence[RouteSpec]) -> dict[str, Any]:
    """The OpenAPI 3 document of ``specs``, with request/response schemas for operations tagged ``x-maaskit-*``."""
    from fastapi import APIRouter
    from fastapi.openapi.utils import get_openapi

    from handlers.schemas import SCHEMAS

    router = APIRouter()
    for spec in specs:
        router.add_api_route(
            spec.path,
            spec.endpoint,
            methods=[spec.method],
            tags=list(spec.tags) or None,
            openapi_extra=spec.openapi_extra or None,
            name=spec.endpoint.__name__,
        )
    document = get_openapi(title=title, version=version, description=description, routes=router.routes)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    used: set[str] = set()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            body = operation.pop(BODY_SCHEMA, None)
            response = operation.pop(RESPONSE_SCHEMA, None)
            error = operation.pop(ERROR_SCHEMA, "MaaskitError")
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


def swagger_page(title: str, openapi_url: str) -> bytes:
    """The Swagger UI page for the document at ``openapi_url``."""
    from fastapi.openapi.docs import get_swagger_ui_html

    return bytes(get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} - docs").body)
