"""The back office as an ASGI app: `streamlit run dashboard/serve.py` serves `dashboard/app.py` through
Streamlit's `st.App` on uvicorn, configured like any Streamlit app (.streamlit/config.toml binds
127.0.0.1 and sends no usage statistics; STREAMLIT_SERVER_PORT picks the port).

Every HTTP answer, the app page included, refuses framing by any origin (X-Frame-Options, CSP
frame-ancestors) and content sniffing, and asks for HTTPS from then on (HSTS) when the request came over
HTTPS: directly, or through a proxy on this machine that says so in X-Forwarded-Proto (uvicorn applies it
to the request's scheme for the addresses in its forwarded_allow_ips, 127.0.0.1 by default; from the same
proxies it takes the client address of X-Forwarded-For, which sign-in throttling counts by).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


app = st.App(Path(__file__).with_name("app.py"), middleware=[Middleware(SecurityHeaders)])
