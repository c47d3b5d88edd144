"""A sandbox buyer in code: walks the processor's Co-Branded UI pages over HTTP as a browser would (sign
in, then confirm or cancel, once or again) and returns where the processor sends the buyer back. The demo
opens its instruments this way, through the real signed round trip; tests use it too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import requests

_STATE = re.compile(r'<input type="hidden" name="state" value="([^"]*)">')
_FORM = re.compile(r'<form method="post" action="([^"]+)"')
_TIMEOUT = 30


class BuyerWalkFailed(Exception):
    """The pages did not go as a buyer expects (an error page, or no redirect at the end)."""


@dataclass(frozen=True, slots=True)
class Return:
    """Where the processor sent the buyer: the returnURL without its query, and every parameter."""

    url_endpoint: str
    params: dict[str, str]


def _form(url: str, response: requests.Response) -> tuple[str, str]:
    if response.status_code != 200:
        raise BuyerWalkFailed(f"HTTP {response.status_code} at {url}: {response.text[:300]}")
    state, action = _STATE.search(response.text), _FORM.search(response.text)
    if state is None or action is None:
        raise BuyerWalkFailed(f"no form on the page at {url}")
    return urljoin(url, unescape(action.group(1))), unescape(state.group(1))


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The confirmation page's form, as a buyer's browser holds it: it may be submitted more than once."""

    session: requests.Session
    action: str
    state: str
    headers: dict[str, str]


def sign_in(session: requests.Session, start_url: str, email: str, name: str | None = None) -> Confirmation:
    """Open `start_url` and sign in as `email`: the confirmation page's form."""
    response = session.get(start_url, timeout=_TIMEOUT, allow_redirects=False)
    action, state = _form(start_url, response)
    headers = {"Origin": "{0.scheme}://{0.netloc}".format(urlsplit(start_url))}
    fields = {"state": state, "email": email, "name": name or "", "decision": "continue"}
    response = session.post(action, data=fields, headers=headers, timeout=_TIMEOUT, allow_redirects=False)
    action, state = _form(action, response)
    return Confirmation(session, action, state, headers)


def decide(page: Confirmation, *, confirm: bool = True) -> Return:
    """Confirm (or cancel) on the confirmation page; the signed return the processor sends."""
    decision = "confirm" if confirm else "cancel"
    response = page.session.post(page.action, data={"state": page.state, "decision": decision},
                                 headers=page.headers, timeout=_TIMEOUT, allow_redirects=False)  # fmt: skip
    location = response.headers.get("Location")
    if response.status_code not in (302, 303) or not location:
        raise BuyerWalkFailed(f"no redirect after {decision}: HTTP {response.status_code}")
    parts = urlsplit(location)
    endpoint = urlunsplit(parts._replace(query="", fragment=""))
    return Return(endpoint, dict(parse_qsl(parts.query, keep_blank_values=True)))


def authorize(
    session: requests.Session, start_url: str, email: str, name: str | None = None, *, confirm: bool = True
) -> Return:
    """Sign in as `email` at `start_url` and confirm (or cancel); the signed return the processor sends."""
    return decide(sign_in(session, start_url, email, name), confirm=confirm)
