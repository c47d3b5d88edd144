"""A `requests` transport adapter that hands requests to a WSGI app in this process.

The embedded default mounts the processor's app this way: the client still signs, sends HTTP requests
and parses XML exactly as over the network, with no second server and no socket.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from http.client import HTTPMessage
from types import SimpleNamespace
from urllib.parse import urlsplit
from wsgiref.types import WSGIApplication

from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers


class _Raw(io.BytesIO):
    """The body, plus the headers where `requests` looks for Set-Cookie (so sessions keep cookies)."""

    def __init__(self, content: bytes, headers: list[tuple[str, str]]):
        super().__init__(content)
        message = HTTPMessage()
        for name, value in headers:
            message[name] = value  # appends: several Set-Cookie headers stay several
        self._original_response = SimpleNamespace(msg=message)


class WsgiAdapter(BaseAdapter):
    """Answers every request sent to the prefix it is mounted on by calling `app`."""

    def __init__(self, app: WSGIApplication):
        super().__init__()
        self.app = app

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: object = None,
        verify: object = True,
        cert: object = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        url = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        environ = {
            "REQUEST_METHOD": request.method or "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": url.path or "/",
            "QUERY_STRING": url.query,
            "SERVER_NAME": url.hostname or "localhost",
            "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme or "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ[f"HTTP_{key}"] = value
        environ.setdefault("HTTP_HOST", url.netloc)
        captured: dict[str, object] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
            captured["status"], captured["headers"] = status, headers

        chunks = self.app(environ, start_response)  # type: ignore[arg-type]
        try:
            content = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        response = Response()
        response.status_code = int(str(captured["status"]).split(" ", 1)[0])
        response.reason = str(captured["status"]).partition(" ")[2]
        response.headers = CaseInsensitiveDict(captured["headers"])  # type: ignore[arg-type]
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = _Raw(content, captured["headers"])  # type: ignore[arg-type]
        response._content = content
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass
