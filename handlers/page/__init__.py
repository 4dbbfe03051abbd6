"""The model page: what is served, try it, copy the call — HTML for people, beside the JSON for programs.

``GET /`` and ``GET /models/{name}`` answer HTML when the client asks for it (a browser's ``Accept:
text/html``); every other client gets the JSON it gets today, so no protocol route changes meaning. On
by default for ``maaskit serve`` and the SageMaker container, off on Lambda unless the deploy file sets
``page: true`` (``MAASKIT_PAGE``). The page holds no secrets or environment, escapes every value, and
sends a nonce-based Content-Security-Policy that allows no script, style or connection but its own.
"""

from __future__ import annotations

import re
import secrets
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from handlers.engine import ModelRepository
from handlers.errors import ModelNotFoundError
from handlers.metrics import Metrics
from handlers.page.html import index_page, model_page
from handlers.page.snippets import snippets
from handlers.page.views import model_view

__all__ = ["PageMiddleware", "wants_html"]

_MODEL_PATH = re.compile(r"^/models/([^/]{1,64})/?$")
_SHOWN_NAME = 64


def wants_html(accept: str, *, by_default: bool) -> bool:
    """True when ``accept`` ranks ``text/html`` above JSON (``by_default`` when it names neither)."""
    html_q = json_q = -1.0
    for part in accept.lower().split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in {"text/html", "application/xhtml+xml"}:
            html_q = max(html_q, q)
        elif media == "application/json" or media.endswith("+json"):
            json_q = max(json_q, q)
    if html_q < 0 and json_q < 0:
        return by_default
    return html_q > 0 and html_q >= json_q


def _headers(nonce: str) -> dict[str, str]:
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "content-security-policy": policy,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }


class PageMiddleware:
    """Answers browser navigations to ``/`` and ``/models/{name}`` with HTML; passes everything else on."""

    def __init__(self, app: ASGIApp, repository: ModelRepository, metrics: Metrics | None, service: str) -> None:
        self.app = app
        self.repository = repository
        self.metrics = metrics
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"GET", "HEAD"}:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path[len(scope.get("root_path", "")) :] or "/"
        accept = request.headers.get("accept", "")
        match = _MODEL_PATH.match(path)
        if path == "/" and wants_html(accept, by_default=True):
            response = self._index()
        elif match and wants_html(accept, by_default=False):
            response = self._model(request, match.group(1))
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _index(self) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        views = [model_view(self.repository, name, self.metrics) for name in self.repository.names()]
        return HTMLResponse(index_page(self.service, views, nonce), headers=_headers(nonce))

    def _model(self, request: Request, name: str) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        try:
            view = model_view(self.repository, name, self.metrics)
        except ModelNotFoundError:
            shown = escape(name[:_SHOWN_NAME])
            body = (
                f'<!doctype html><title>not found</title><p>No model "{shown}" is served here. '
                '<a href="../">All models</a></p>'
            )
            return HTMLResponse(body, status_code=404, headers=_headers(nonce))
        base = str(request.base_url).rstrip("/")
        found = snippets(base, view)
        html = model_page(view, found, metrics_on=self.metrics is not None, nonce=nonce, base=base)
        return HTMLResponse(html, headers=_headers(nonce))
