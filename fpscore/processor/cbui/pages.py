"""The Co-Branded UI's HTML: the sign-in, confirmation and error pages, rendered from the Jinja2 templates in
`templates/` with autoescaping on, and the paymentReason sanitizer.

Small, self-contained pages: inline CSS, no script, no external asset, plain forms that work without
JavaScript. Every value is escaped by the templates; the one piece of markup a caller sends, the
paymentReason, keeps only the tags FPS allowed (b, i, u, ul, li, br, em, strong, strike), without
attributes, balanced; anything else shows as text. A form's fields keep stable names (`state`, `email`,
`name`, and the `decision` buttons), which the sandbox buyer reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from fpscore.money import Amount
from fpscore.processor.cbui.request import PipelineRequest

MAX_BUYER_NAME = 128  # characters of the sign-in form's name field
PAYMENT_METHOD_NAMES = {"CC": "Credit card", "ACH": "Bank account (ACH)", "ABT": "Payments account balance"}
_PAYMENT_METHOD_PHRASES = {"CC": "credit card", "ACH": "bank account", "ABT": "payments account balance"}
_REASON_TAGS = {"b", "i", "u", "ul", "li", "br", "em", "strong", "strike"}
_REASON_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z]+)\s*/?\s*>")
_MAX_NESTING = 16
NOTHING_DONE = (
    "Nothing was authorized and nothing was charged. "
    "Return to the merchant's site and try again, or contact the merchant."
)


@dataclass(frozen=True, slots=True)
class Page:
    """What every pipeline page shows: the merchant (the caller's name) and what it asks for."""

    merchant: str
    request: PipelineRequest


def payment_reason_html(text: str) -> Markup:
    """`text` as safe HTML: the allowed tags without attributes, balanced; everything else escaped."""
    out: list[str] = []
    open_tags: list[str] = []
    position = 0
    for match in _REASON_TAG.finditer(text):
        out.append(escape(text[position : match.start()]))
        position = match.end()
        closing, name = match.group(1) == "/", match.group(2).lower()
        tag = "s" if name == "strike" else name
        if name not in _REASON_TAGS:
            out.append(escape(match.group(0)))
        elif name == "br":
            out.append("<br>")
        elif closing:
            if tag in open_tags:  # a stray closing tag is dropped; one that skips others closes them too
                while open_tags:
                    last = open_tags.pop()
                    out.append(f"</{last}>")
                    if last == tag:
                        break
        elif len(open_tags) < _MAX_NESTING:
            if tag == "li" and open_tags and open_tags[-1] == "li":  # a new item ends the one before
                out.append(f"</{open_tags.pop()}>")
            open_tags.append(tag)
            out.append(f"<{tag}>")
    out.append(escape(text[position:]))
    out.extend(f"</{tag}>" for tag in reversed(open_tags))
    return Markup("".join(out))  # noqa: S704 - every piece is escaped text or a tag written above


def money(amount: Amount) -> str:
    value = f"{amount.to_decimal():,.2f}"
    return f"${value}" if amount.currency == "USD" else f"{value} {amount.currency}"


def _when(moment: datetime) -> str:
    return moment.strftime("%d %b %Y, %H:%M UTC").lstrip("0")


_templates = Environment(
    loader=PackageLoader("fpscore.processor.cbui"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters |= {"money": money, "when": _when, "payment_reason": payment_reason_html}
_templates.globals |= {
    "METHOD_NAMES": PAYMENT_METHOD_NAMES,
    "METHOD_PHRASES": _PAYMENT_METHOD_PHRASES,
    "MAX_BUYER_NAME": MAX_BUYER_NAME,
}


def _subtitle(request: PipelineRequest) -> str:
    return "Set up a prepaid balance" if request.prepaid else "Open a credit line"


def sign_in_page(page: Page, state: str, *, email: str = "", name: str = "", error: str | None = None) -> str:
    """The start page: the buyer signs in with an e-mail address (and may give a name)."""
    return _templates.get_template("sign_in.html").render(
        title="Sign in", merchant=page.merchant, subtitle=_subtitle(page.request), request=page.request,
        state=state, email=email, name=name, error=error,
    )  # fmt: skip


def confirm_page(page: Page, state: str, buyer_email: str) -> str:
    """What the buyer authorizes, with Confirm and Cancel."""
    return _templates.get_template("confirm.html").render(
        title="Confirm", merchant=page.merchant, subtitle=_subtitle(page.request), request=page.request,
        state=state, buyer_email=buyer_email,
    )  # fmt: skip


def error_page(
    title: str,
    message: str,
    problems: Mapping[str, str],
    *,
    merchant: str | None = None,
    note: str = NOTHING_DONE,
) -> str:
    """An error the buyer cannot fix here: what went wrong, for a bad start request which inputs, and
    `note`, what it means for the buyer."""
    return _templates.get_template("error.html").render(
        title=title, merchant=merchant, subtitle="Payment authorization" if merchant else None,
        message=message, problems=problems, note=note,
    )  # fmt: skip
