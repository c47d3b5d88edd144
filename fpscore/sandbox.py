"""A sandbox buyer in code: walks the processor's Co-Branded UI pages over HTTP as a browser would (sign
in, then confirm or cancel, once or again) and returns where the processor sends the buyer back. The demo
opens its instruments this way, through the real signed round trip; tests use it too.

It reads a page as a browser does, with the standard library's HTML parser: the form that carries the
pipeline's `state` field, its fields and its buttons by name (`email`, `name`, `decision`), and submits
what the form holds, whatever the markup around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import requests

_TIMEOUT_S = 30


class BuyerWalkFailed(Exception):
    """The pages did not go as a buyer expects (an error page, or no redirect at the end)."""


@dataclass(frozen=True, slots=True)
class Return:
    """Where the processor sent the buyer: the returnURL without its query, and every parameter."""

    url_endpoint: str
    params: dict[str, str]


@dataclass(slots=True)
class Form:
    """A form of a page: where and how it is sent, its fields' values, and its named buttons."""

    action: str  # as written in the page
    method: str  # lower case
    fields: dict[str, str] = field(default_factory=dict)  # every named input, with its value
    buttons: set[tuple[str, str]] = field(default_factory=set)  # (name, value) of each named submit button


class _FormReader(HTMLParser):
    """The forms of a page, read by the HTML parser: inputs and buttons outside a form do not count."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._open: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._open = Form(attributes.get("action", ""), attributes.get("method", "get").lower())
            self.forms.append(self._open)
        elif self._open is None or not attributes.get("name"):
            return
        elif tag == "input" and attributes.get("type", "text").lower() not in ("submit", "button", "image"):
            self._open.fields[attributes["name"]] = attributes.get("value", "")
        elif tag in ("button", "input") and attributes.get("type", "submit").lower() == "submit":
            self._open.buttons.add((attributes["name"], attributes.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def forms(html: str) -> list[Form]:
    """The forms of `html`, in page order."""
    reader = _FormReader()
    reader.feed(html)
    reader.close()
    return reader.forms


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The confirmation page's form, as a buyer's browser holds it: it may be submitted more than once."""

    session: requests.Session
    url: str  # where the form is posted
    form: Form
    headers: dict[str, str]


def _pipeline_form(url: str, response: requests.Response) -> tuple[str, Form]:
    """The page's form that continues the pipeline (it carries `state`), and the URL it posts to."""
    if response.status_code != 200:
        raise BuyerWalkFailed(f"HTTP {response.status_code} at {url}: {response.text[:300]}")
    found = [form for form in forms(response.text) if "state" in form.fields and form.method == "post"]
    if len(found) != 1:
        raise BuyerWalkFailed(f"{len(found)} pipeline forms on the page at {url}, not one")
    return urljoin(url, found[0].action), found[0]


def _submit(
    session: requests.Session, url: str, form: Form, decision: str, headers: dict[str, str], **values: str
) -> requests.Response:
    """Post `form` as its `decision` button sends it, with `values` typed into fields it has."""
    if ("decision", decision) not in form.buttons:
        raise BuyerWalkFailed(f"no {decision!r} button on the form posting to {url}")
    if missing := sorted(set(values) - set(form.fields)):
        raise BuyerWalkFailed(f"no field {', '.join(missing)} on the form posting to {url}")
    data = {**form.fields, **values, "decision": decision}
    return session.post(url, data=data, headers=headers, timeout=_TIMEOUT_S, allow_redirects=False)


def sign_in(session: requests.Session, start_url: str, email: str, name: str | None = None) -> Confirmation:
    """Open `start_url` and sign in as `email`: the confirmation page's form."""
    response = session.get(start_url, timeout=_TIMEOUT_S, allow_redirects=False)
    url, form = _pipeline_form(start_url, response)
    headers = {"Origin": "{0.scheme}://{0.netloc}".format(urlsplit(start_url))}
    response = _submit(session, url, form, "continue", headers, email=email, name=name or "")
    return Confirmation(session, *_pipeline_form(url, response), headers)


def decide(page: Confirmation, *, confirm: bool = True) -> Return:
    """Confirm (or cancel) on the confirmation page; the signed return the processor sends."""
    decision = "confirm" if confirm else "cancel"
    response = _submit(page.session, page.url, page.form, decision, page.headers)
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
