"""Fixtures for the storefront: `fpscore.shop`'s app over an embedded merchant (both databases on SQLite,
or on PostgreSQL), served on a loopback port, and a customer's browser as `requests` plays it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from helpers import serve
from pgschema import on_postgres

from fpscore import sandbox
from fpscore.config import Settings
from fpscore.shop.app import Shop, build

PASSWORD = "correct horse battery"


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    base = Settings.from_env({"FPS_DATA_DIR": str(tmp_path)})
    return dataclasses.replace(base, access_key_id="AKIDSHOP", secret_access_key="shop-secret-key")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shop_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """The embedded merchant's settings, both databases on SQLite or on PostgreSQL (throwaway schemas)."""
    if request.param == "sqlite":
        yield settings
        return
    with on_postgres(settings) as on_it:
        yield on_it


@dataclass
class Served:
    shop: Shop
    url: str


@pytest.fixture
def served(shop_settings: Settings) -> Iterator[Served]:
    shop = build(shop_settings)
    shop.merchant.client.backoff_s = 0.0
    url, stop = serve(shop)
    yield Served(shop, url)
    stop()
    shop.merchant.close()


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)


def hidden_fields(page: str, action: str, containing: str = "") -> dict[str, str]:
    """The hidden fields of the first form on `page` posting to `action` (and holding `containing`), as a
    browser sends them with the form; {} when there is none."""
    for form in re.findall(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S):
        if containing in form:
            return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    return {}


class Browser:
    """A customer's browser: a cookie jar, and forms posted as the page they are on has them (its hidden
    fields: the CSRF token, a money form's submission key)."""

    def __init__(self, url: str, session: requests.Session | None = None):
        self.url = url
        self.session = session or requests.Session()
        self.page = self.session.get(url + "/", timeout=30).text

    def get(self, path: str, **kwargs: object) -> requests.Response:
        response = self.session.get(self.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]
        self.page = response.text
        return response

    def post(
        self, path: str, data: dict[str, str], *, follow: bool = True, containing: str = ""
    ) -> requests.Response:
        fields = {"csrf": csrf(self.page), **hidden_fields(self.page, path, containing), **data}
        response = self.session.post(self.url + path, data=fields, allow_redirects=follow, timeout=60)
        self.page = response.text
        return response

    def sign_up(self, email: str, name: str, password: str = PASSWORD) -> requests.Response:
        self.get("/signup")
        return self.post("/signup", {"email": email, "name": name, "password": password})

    def start(self, path: str, field: str, value: str) -> str:
        """Post a Prepay or Pay later form: the co-branded start URL the shop sends the browser to."""
        response = self.post(path, {field: value}, follow=False)
        assert response.status_code == 303, response.text[:300]
        return response.headers["Location"]

    def authorize(self, start_url: str, email: str, *, confirm: bool = True) -> sandbox.Return:
        """Walk the co-branded pages as this browser; where they send it back (not yet followed)."""
        return sandbox.authorize(self.session, start_url, email, confirm=confirm)

    def come_back(self, back: sandbox.Return) -> requests.Response:
        response = self.session.get(back.url_endpoint, params=back.params, timeout=60)
        self.page = response.text
        return response

    def buy(self, product_id: int) -> requests.Response:
        """Click Buy on a song of the catalogue (opened first unless this page lists it)."""
        song = f'name="product" value="{product_id}"'
        if song not in self.page:
            self.get("/")
        return self.post("/buy", {}, containing=song)


def figures(page: str, css_class: str) -> list[str]:
    return re.findall(rf'class="{css_class}"[^>]*>([^<]*)<', page)


def heading(page: str) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
    return found.group(1).strip() if found else ""
