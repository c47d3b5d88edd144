"""The Co-Branded UI's HTML: sign-in, confirmation and error pages, and the paymentReason sanitizer.

Small, self-contained pages: inline CSS, no script, no external asset, plain forms that work without
JavaScript. Every value is HTML-escaped; the paymentReason keeps only the tags FPS allowed (b, i, u, ul,
li, br, em, strong, strike), without attributes, balanced; anything else shows as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from fpscore.money import Amount

if TYPE_CHECKING:
    from fpscore.processor.cbui import PipelineRequest

PAYMENT_METHOD_NAMES = {"CC": "Credit card", "ACH": "Bank account (ACH)", "ABT": "Payments account balance"}
_PAYMENT_METHOD_PHRASES = {"CC": "credit card", "ACH": "bank account", "ABT": "payments account balance"}
_REASON_TAGS = {"b", "i", "u", "ul", "li", "br", "em", "strong", "strike"}
_REASON_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z]+)\s*/?\s*>")
_MAX_NESTING = 16

CSS = """
:root{--ink:#1b1f24;--muted:#57606a;--line:#d8dee4;--brand:#12355b;--accent:#0a5bc4;--accent-dark:#084a9f;
--bg:#f3f5f7;--error:#a4161a;--error-bg:#fdecec;--focus:#ffbf47}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg)}
.wrap{max-width:36rem;margin:0 auto;padding:0 16px}
.brand{background:var(--brand);color:#fff;padding:18px 0 64px}
.brand .top{display:flex;justify-content:space-between;align-items:center;gap:12px;font-size:.8125rem;
letter-spacing:.06em;text-transform:uppercase}
.brand .top span:first-child{opacity:.85}
.badge{border:1px solid rgba(255,255,255,.6);border-radius:999px;padding:1px 10px;font-weight:600}
.brand h1{margin:12px 0 0;font-size:1.75rem;line-height:1.2;overflow-wrap:anywhere}
.brand .sub{margin:4px 0 0;opacity:.9}
main .card{background:#fff;border:1px solid var(--line);border-radius:14px;padding:28px;margin:-44px 0 24px;
box-shadow:0 2px 10px rgba(18,53,91,.08)}
h2{margin:0 0 8px;font-size:1.375rem;line-height:1.3}
h3{margin:20px 0 6px;font-size:1rem}
p{margin:0 0 14px}
.lead{font-size:1.0625rem}
.muted,.note{color:var(--muted)}
.note{font-size:.9375rem;background:var(--bg);border-radius:10px;padding:10px 14px}
.amount{font-size:1.125rem;font-weight:700}
label{display:block;font-weight:600;margin:18px 0 6px}
label .optional{font-weight:400;color:var(--muted)}
input[type=email],input[type=text]{width:100%;font:inherit;padding:10px 12px;border:1px solid #8c959f;
border-radius:8px;background:#fff;color:var(--ink)}
input:focus{outline:3px solid var(--focus);outline-offset:1px;border-color:var(--ink)}
input[aria-invalid=true]{border-color:var(--error)}
.actions{display:flex;flex-wrap:wrap;gap:12px;margin-top:24px}
button{font:inherit;font-weight:600;padding:11px 22px;border-radius:8px;cursor:pointer;min-width:8rem}
button:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.primary{background:var(--accent);color:#fff;border:1px solid var(--accent)}
.primary:hover{background:var(--accent-dark)}
.secondary{background:#fff;color:var(--ink);border:1px solid #8c959f}
.secondary:hover{background:var(--bg)}
.error{color:var(--error);background:var(--error-bg);border-left:4px solid var(--error);border-radius:6px;
padding:10px 14px;font-weight:600}
dl.facts{margin:18px 0;padding:0;border-bottom:1px solid var(--line)}
dl.facts div{display:grid;grid-template-columns:minmax(9rem,40%) 1fr;gap:4px 16px;padding:10px 0;
border-top:1px solid var(--line)}
dt{color:var(--muted)}
dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.reason{border:1px solid var(--line);border-radius:10px;padding:10px 14px;margin-bottom:16px;
overflow-wrap:anywhere}
.reason ul{margin:4px 0;padding-left:22px}
ul.problems{padding-left:20px}
ul.problems li{margin:4px 0}
code{font:.9375rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--bg);
padding:1px 5px;border-radius:4px}
footer{color:var(--muted);font-size:.8125rem;text-align:center;padding:0 16px 24px}
@media (max-width:30rem){dl.facts div{grid-template-columns:1fr}main .card{padding:20px}
.actions button{flex:1 1 100%}}
"""


@dataclass(frozen=True, slots=True)
class Page:
    """What every pipeline page shows: the merchant (the caller's name) and what it asks for."""

    merchant: str
    request: PipelineRequest


@dataclass(frozen=True, slots=True)
class Buyer:
    email: str


def payment_reason_html(text: str) -> str:
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
    return "".join(out)


def money(amount: Amount) -> str:
    value = f"{amount.to_decimal():,.2f}"
    return f"${value}" if amount.currency == "USD" else f"{value} {amount.currency}"


def _when(moment: datetime) -> str:
    return moment.strftime("%d %b %Y, %H:%M UTC").lstrip("0")


def _validity(request: PipelineRequest) -> str:
    start = f"From {_when(request.validity_start)}" if request.validity_start else "From now"
    end = f"until {_when(request.validity_expiry)}" if request.validity_expiry else "until you cancel it"
    return f"{start} {end}"


def _what(page: Page) -> str:
    """One sentence: what the buyer authorizes."""
    request, merchant = page.request, f"<strong>{escape(page.merchant)}</strong>"
    method = _PAYMENT_METHOD_PHRASES[request.payment_method]
    if request.prepaid:
        assert request.funding_limit is not None
        return (
            f"{merchant} asks you to set up a <strong>prepaid balance</strong> of up to "
            f"{money(request.funding_limit)}, loaded from your {method} and spent on your purchases."
        )
    assert request.credit_limit is not None
    return (
        f"{merchant} asks you to open a <strong>credit line</strong> of up to {money(request.credit_limit)}: "
        f"you buy now, and your {method} is charged later for what you owe."
    )


def _facts(page: Page, buyer: Buyer | None) -> str:
    request = page.request
    rows = [("Merchant", escape(page.merchant))]
    if request.prepaid:
        assert request.funding_limit is not None
        rows.append(("Maximum prepaid balance", money(request.funding_limit)))
    else:
        assert request.credit_limit is not None and request.global_amount_limit is not None
        rows.append(("Credit limit", money(request.credit_limit)))
        rows.append(("Largest single purchase", money(request.global_amount_limit)))
    rows.append(("Valid", escape(_validity(request))))
    rows.append(("Payment method", escape(PAYMENT_METHOD_NAMES[request.payment_method])))
    if buyer is not None:
        rows.append(("Signed in as", escape(buyer.email)))
    items = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in rows)
    return f'<dl class="facts">{items}</dl>'


def _reason(request: PipelineRequest) -> str:
    if not request.payment_reason:
        return ""
    return (
        '<h3 id="reason-title">Payment reason</h3><div class="reason" aria-labelledby="reason-title">'
        f"{payment_reason_html(request.payment_reason)}</div>"
    )


def _layout(title: str, merchant: str | None, subtitle: str | None, main: str) -> str:
    brand = escape(merchant) if merchant else "Payment authorization"
    sub = f'<p class="sub">{escape(subtitle)}</p>' if subtitle else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin">'
        f"<title>{escape(title)} · {brand}</title><style>{CSS}</style></head><body>"
        '<header class="brand"><div class="wrap"><div class="top"><span>FPS payment authorization</span>'
        '<span class="badge">Sandbox</span></div>'
        f"<h1>{brand}</h1>{sub}</div></header>"
        f'<main class="wrap"><div class="card">{main}</div></main>'
        "<footer>FPS sandbox: no real money moves.</footer>"
        "</body></html>"
    )


def _subtitle(request: PipelineRequest) -> str:
    return "Set up a prepaid balance" if request.prepaid else "Open a credit line"


def _state_field(state: str) -> str:
    return f'<input type="hidden" name="state" value="{escape(state)}">'


def sign_in_page(page: Page, state: str, *, email: str = "", name: str = "", error: str | None = None) -> str:
    """The start page: the buyer signs in with an e-mail address (and may give a name)."""
    alert = f'<p class="error" id="email-error" role="alert">{escape(error)}</p>' if error else ""
    invalid = ' aria-invalid="true" aria-describedby="email-error"' if error else ""
    main = (
        '<h2 id="title">Sign in to continue</h2>'
        f'<p class="lead">{_what(page)}</p>'
        '<p class="note">This is a sandbox: sign in with any e-mail address. There is no password.</p>'
        f'{alert}<form method="post" action="sign-in" aria-labelledby="title">{_state_field(state)}'
        '<label for="email">E-mail address</label>'
        f'<input id="email" name="email" type="email" autocomplete="email" required maxlength="254" '
        f'value="{escape(email)}" autofocus{invalid}>'
        '<label for="name">Your name <span class="optional">(optional)</span></label>'
        '<input id="name" name="name" type="text" autocomplete="name" maxlength="128" '
        f'value="{escape(name)}">'
        '<div class="actions"><button class="primary" type="submit" name="decision" value="continue">'
        "Continue</button>"
        '<button class="secondary" type="submit" name="decision" value="cancel" formnovalidate>'
        "Cancel</button></div></form>"
    )
    return _layout("Sign in", page.merchant, _subtitle(page.request), main)


def confirm_page(page: Page, state: str, buyer: Buyer) -> str:
    """What the buyer authorizes, with Confirm and Cancel."""
    request = page.request
    charged = "when it loads your prepaid balance" if request.prepaid else "when it settles what you owe"
    main = (
        '<h2 id="title">Review and confirm</h2>'
        f'<p class="lead">{_what(page)}</p>'
        f"{_facts(page, buyer)}{_reason(request)}"
        f'<p class="note">Nothing is charged now. {escape(page.merchant)} charges your '
        f"{_PAYMENT_METHOD_PHRASES[request.payment_method]} only {charged}.</p>"
        f'<form method="post" action="confirm" aria-labelledby="title">{_state_field(state)}'
        '<div class="actions"><button class="primary" type="submit" name="decision" value="confirm">'
        "Confirm</button>"
        '<button class="secondary" type="submit" name="decision" value="cancel">Cancel</button>'
        "</div></form>"
    )
    return _layout("Confirm", page.merchant, _subtitle(request), main)


NOTHING_DONE = (
    "Nothing was authorized and nothing was charged. "
    "Return to the merchant's site and try again, or contact the merchant."
)


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
    items = "".join(f"<li><code>{escape(name)}</code> {escape(why)}</li>" for name, why in problems.items())
    details = f'<ul class="problems" aria-label="Inputs at fault">{items}</ul>' if items else ""
    main = (
        f'<h2>{escape(title)}</h2><p class="error" role="alert">{escape(message)}</p>{details}'
        f'<p class="muted">{escape(note)}</p>'
    )
    return _layout(title, merchant, "Payment authorization" if merchant else None, main)
