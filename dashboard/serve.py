"""The back office as an ASGI app: `streamlit run dashboard/serve.py` serves `dashboard/app.py` through
Streamlit's `st.App` on uvicorn, configured like any Streamlit app (.streamlit/config.toml binds
127.0.0.1 and sends no usage statistics; STREAMLIT_SERVER_PORT picks the port).

Every HTTP answer, the app page included, refuses framing by any origin (X-Frame-Options, CSP
frame-ancestors) and content sniffing, and asks for HTTPS from then on (HSTS) when the request came over
HTTPS: directly, or through a proxy on this machine that says so in X-Forwarded-Proto (uvicorn applies it
to the request's scheme for the addresses in its forwarded_allow_ips, 127.0.0.1 by default; from the same
proxies it takes the client address of X-Forwarded-For, which sign-in throttling counts by).

The sign-in page (`/signin`) is a route of its own, and a page asked for without a session cookie is sent
there first (dashboard.sign_in).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/serve.py` puts dashboard/ on the path, not the root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from starlette.datastructures import MutableHeaders  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from dashboard import sign_in  # noqa: E402

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
HSTS = {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}


class SecurityHeaders:
    """Adds SECURITY_HEADERS (and HSTS over HTTPS) to every HTTP answer; WebSocket traffic passes as is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = SECURITY_HEADERS | (HSTS if scope.get("scheme") == "https" else {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


app = st.App(
    Path(__file__).with_name("app.py"),
    routes=sign_in.ROUTES,
    middleware=[Middleware(SecurityHeaders), Middleware(sign_in.SignInFirst)],
)
