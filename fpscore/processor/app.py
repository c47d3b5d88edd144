"""The processor's HTTP app, plain WSGI: a small table of routes from path patterns to handlers.

`/` is the FPS query API (GET, and POST form-encoded); `/certs/<id>/PKICert.pem` serves the certificate
of the processor's signing key. A handler gets the WSGI environ and the path's match and returns a
`Reply`; whatever a handler raises becomes an FPS InternalError (HTTP 503), never a 500 or a traceback.
Every answer says `X-Content-Type-Options: nosniff`; one to a request that came over HTTPS (through a
proxy the server trusts, `wsgi.url_scheme` https) also carries HSTS.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from wsgiref.types import StartResponse, WSGIEnvironment

from fpscore.errors import InternalError
from fpscore.processor import Processor
from fpscore.processor.api import INTERNAL_ERROR_MESSAGE, QueryApi
from fpscore.processor.cbui.controller import FORM_ROUTE, START_ROUTE, CoBrandedUi
from fpscore.processor.keys import CERTIFICATE_PATH, SigningKeys
from fpscore.wire import render_error

logger = logging.getLogger(__name__)

XML = "text/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
PEM = "application/x-pem-file"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


NOT_FOUND = Reply(404, b"Not found\n", TEXT)
NOSNIFF = ("X-Content-Type-Options", "nosniff")
HSTS = ("Strict-Transport-Security", "max-age=31536000")
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
RouteHandler = Callable[[WSGIEnvironment, re.Match[str]], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]  # matched against the whole PATH_INFO
    methods: frozenset[str]
    handler: RouteHandler


class App:
    """A WSGI app answering each request with the first route whose pattern matches its path."""

    def __init__(self, routes: list[Route]):
        self.routes = routes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        reply = self._reply(environ)
        headers = [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))]
        given = {name.lower() for name, _value in reply.headers}
        security = [] if NOSNIFF[0].lower() in given else [NOSNIFF]
        if environ.get("wsgi.url_scheme") == "https":  # behind a TLS proxy the server trusts
            security.append(HSTS)
        start_response(_STATUS_LINES[reply.status], [*headers, *reply.headers, *security])
        return [reply.body]

    def _reply(self, environ: WSGIEnvironment) -> Reply:
        path = environ.get("PATH_INFO") or "/"
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if environ["REQUEST_METHOD"] not in route.methods:
                allow = (("Allow", ", ".join(sorted(route.methods))),)
                return Reply(405, b"Method not allowed\n", TEXT, allow)
            try:
                return route.handler(environ, match)
            except Exception:
                logger.exception("%s %s failed unexpectedly", environ["REQUEST_METHOD"], path)
                body = render_error(InternalError(INTERNAL_ERROR_MESSAGE), str(uuid.uuid4()))
                return Reply(503, body, XML)
        return NOT_FOUND


def make_app(
    processor: Processor, *, public_host: str | None = None, certificate_base: str | None = None
) -> App:
    """The processor's WSGI app. `public_host`: the host name (optionally `:port`) clients reach it by,
    which they may sign for besides the Host header. `certificate_base`: the URL (scheme and host) its
    CBUI returns name for their certificate, which merchants accept only under their own endpoint; None:
    the scheme and host each return's request came by."""
    keys = SigningKeys(processor.engine, public_host, processor.clock)
    api = QueryApi(processor, keys, public_host)

    def query_api(environ: WSGIEnvironment, _match: re.Match[str]) -> Reply:
        status, body = api.answer(environ)
        return Reply(status, body, XML)

    def certificate(_environ: WSGIEnvironment, match: re.Match[str]) -> Reply:
        pem = keys.certificate_pem(match["key_id"])
        if pem is None:
            return NOT_FOUND
        return Reply(200, pem, PEM, (("Cache-Control", "public, max-age=86400"),))

    cbui = CoBrandedUi(processor, keys, public_host, certificate_base)

    def cobranded_ui(environ: WSGIEnvironment, match: re.Match[str]) -> Reply:
        page = cbui.answer(environ, match["step"])
        return Reply(page.status, page.body, page.content_type, page.headers)

    return App(
        [
            Route(re.compile("/"), frozenset({"GET", "POST"}), query_api),
            Route(CERTIFICATE_PATH, frozenset({"GET"}), certificate),
            # The Co-Branded UI pages: the start page (GET), then the sign-in and confirm forms (POST).
            Route(START_ROUTE, frozenset({"GET"}), cobranded_ui),
            Route(FORM_ROUTE, frozenset({"POST"}), cobranded_ui),
        ]
    )
