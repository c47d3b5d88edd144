"""The storefront behind a TLS-terminating proxy on loopback: served by the processor's `Front` (as `fpscore
shop` serves it), every request arriving over plain HTTP from 127.0.0.1 with `X-Forwarded-Proto: https`.
A co-branded round trip through the mounted CBUI comes back verified, and the pages keep their HTTPS
protections (Secure cookies, HSTS)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from conftest import Browser, figures, heading
from requests.adapters import HTTPAdapter

from fpscore.config import Settings
from fpscore.processor.front import Front, trusted_proxies
from fpscore.shop.app import build


class TlsProxy(HTTPAdapter):
    """Plays the proxy: a request for https://host/... reaches the server as http://host/... with
    `X-Forwarded-Proto: https`; the browser's side (its URL, cookies, redirects) stays https."""

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:  # type: ignore[override]
        forwarded = request.copy()
        forwarded.url = "http" + (request.url or "").removeprefix("https")
        forwarded.headers["X-Forwarded-Proto"] = "https"
        response = super().send(forwarded, **kwargs)  # type: ignore[arg-type]
        response.url, response.request = request.url or "", request
        return response


@pytest.fixture
def behind_proxy(shop_settings: Settings) -> Iterator[str]:
    """The shop served by `Front` on a loopback port that trusts 127.0.0.1; its https:// base URL."""
    shop = build(shop_settings)
    listener = socket.create_server(("127.0.0.1", 0))
    front = Front(
        shop,
        threads=4,
        trusted=trusted_proxies(["127.0.0.1"]),
        secure_scheme_headers={"X-FORWARDED-PROTO": "https"},
    )
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(front.serve([listener], stop, lambda: 5.0),), daemon=True
    )
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=10)
    loop.close()
    listener.close()
    shop.merchant.close()


def test_a_cobranded_return_through_the_proxy_is_verified(behind_proxy):
    session = requests.Session()
    session.mount(behind_proxy, TlsProxy())
    browser = Browser(behind_proxy, session)
    signed_up = browser.sign_up("ada@buyers.example", "Ada")
    assert "; Secure" in signed_up.history[0].headers["Set-Cookie"]  # the shop's session cookie
    start = browser.start("/prepay", "pack", "10.00")
    assert start.startswith(behind_proxy + "/cobranded-ui/actions/start?")
    cbui = session.get(start, timeout=30)  # the processor's own page keeps HSTS and its Secure cookie
    assert cbui.status_code == 200 and cbui.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "; Secure" in cbui.headers["Set-Cookie"]
    back = browser.authorize(start, "ada@buyers.example")
    assert back.url_endpoint == behind_proxy + "/return" and back.params["status"] == "SC"
    assert back.params["certificateUrl"].startswith("http://fps.embedded/certs/")
    page = browser.come_back(back)
    assert page.status_code == 200, page.text[:500]
    assert heading(page.text) == "Your prepaid balance is ready"
    assert figures(page.text, "balance") == ["10.00"]
