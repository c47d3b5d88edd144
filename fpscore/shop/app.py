"""The reference storefront's WSGI app: a catalogue of songs, customers' sign-up and sign-in, Prepay and
Pay later through the Co-Branded UI, one-click Buy, the customer's account page, and the IPN endpoint.

Everything a customer does goes through fpscore.merchant as the actor `shop-customer-<id>`: the CBUI round
trip (`pipelines.start_prepaid` / `start_postpaid`, and `pipelines.complete` on the signed return, which
verifies it), and the money (`flows.fund`, `flows.purchase`, `flows.settle`), so each order, its
CallerReference and every FPS call are recorded as the back office shows them. A return is handled at
`/return` whatever its status; reloading it shows the same outcome and funds a prepaid pack once.

Embedded (no FPS_ENDPOINT), the processor runs in this process behind the client's transport adapter, out
of the browser's reach; so the shop serves that processor's Co-Branded UI and certificate routes under its
own host, and sends customers there with the same signed start URL on this host (the processor accepts a
signature for its embedded host name). With FPS_ENDPOINT set, customers go to that processor.

Pages are Jinja2 templates with autoescaping; every POST carries the CSRF token (fpscore.shop.cookies) and,
when the browser sends Origin, comes from this host. Answers refuse framing and sniffing, and pages that
show a customer's data are not cached. After a POST the browser is sent on (303) to a page that says what
happened, named by the movement's id (shown only to its customer) or a fixed notice.

Each form that moves money (Buy, Top up, Pay now) carries a one-time submission key, signed for its
action and customer (`Signer.submission`); the movement's CallerReference is made from it, so the same form
posted again (a double click, a resent POST, concurrently or not) is answered with the movement it made
the first time, never charged twice.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from gunicorn.config import Config as GunicornConfig
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from fpscore.config import Settings
from fpscore.db import utcnow
from fpscore.errors import FpsError
from fpscore.merchant import flows, pipelines
from fpscore.merchant.connect import EMBEDDED_ENDPOINT, Merchant, connect
from fpscore.merchant.flows import FlowRefused
from fpscore.merchant.movements import FUND_PREPAID, PAY, SETTLE_DEBT, MovementKind
from fpscore.merchant.notifications import ipn_app
from fpscore.merchant.pipelines import ReturnRefused
from fpscore.merchant.reasons import LABELS
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.throttle import LOCAL_CLIENT
from fpscore.money import Amount
from fpscore.processor.front import trusted_proxies
from fpscore.shop import accounts, records
from fpscore.shop.cookies import CSRF_COOKIE, SESSION_COOKIE, Signer, load_key, new_nonce

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
PACKS = tuple(Amount.parse(text) for text in ("5.00", "10.00", "20.00"))  # Prepay: what one top-up adds
PREPAID_LIMIT = Amount.parse("100.00")  # the most a prepaid balance may hold (SetupPrepaid fundingAmount)
CREDIT_LIMITS = tuple(Amount.parse(text) for text in ("5.00", "10.00", "20.00"))  # Pay later
MAX_BODY = 16 * 1024
PROCESSOR_PATHS = ("/cobranded-ui/", "/certs/")  # the embedded processor's, served under this host
IPN_PATH = "/ipn"
RETURN_PATH = "/return"
NEXT_PAGES = ("/", "/account")
NOTICES = {
    "signed_up": "Welcome! Choose Prepay or Pay later on your account page, then buy with one click.",
    "signed_out": "You are signed out.",
    "sign_in_first": "Sign in to continue.",
    "no_instrument": "To buy, first choose how to pay: Prepay a balance or open a Pay later account.",
    "no_debt": "You owe nothing: there is nothing to pay.",
    "has_credit": "You have a Pay later account already.",
    "bad_form": "That form could not be read. Please try again.",
}
SECURITY_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
)


def customer_actor(customer_id: int) -> Actor:
    """Who a customer's requests are recorded as: open instruments, fund, buy and pay their own debt."""
    return Actor.job(
        f"shop-customer-{customer_id}", Permission.OPEN_INSTRUMENT, Permission.FUND, Permission.PURCHASE,
        Permission.SETTLE, Permission.READ,
    )  # fmt: skip


RETURN_ACTOR = Actor.job("shop", Permission.READ)  # verifies CBUI returns (GetTokenByCaller when asked)


@dataclass
class Request:
    environ: WSGIEnvironment
    method: str
    path: str
    query: dict[str, str]
    cookies: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    customer: Any = None  # the signed-in customer's row
    nonce: str = ""  # this browser's CSRF nonce
    new_nonce: bool = False
    client: str = LOCAL_CLIENT  # the address sign-up and sign-in count against (client_address)

    @property
    def origin(self) -> str:
        scheme = "https" if self.environ.get("wsgi.url_scheme") == "https" else "http"
        host = self.environ.get("HTTP_HOST") or f"{self.environ['SERVER_NAME']}:{self.environ['SERVER_PORT']}"
        return f"{scheme}://{host}"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


def client_address(environ: WSGIEnvironment, trusted: Callable[[str], bool]) -> str:
    """The address a request comes from: from a `trusted` proxy, the last address of X-Forwarded-For (the
    one the proxy saw; its own when that is not an address), else the connection's; LOCAL_CLIENT for this
    machine."""
    address = environ.get("REMOTE_ADDR", "")
    if trusted(address):
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "").rpartition(",")[2].strip()
        if _ip(forwarded) is not None:
            address = forwarded
    ip = _ip(address)
    if ip is None:
        return address or LOCAL_CLIENT
    return LOCAL_CLIENT if ip.is_loopback else address


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _cookies(environ: WSGIEnvironment) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _read_form(environ: WSGIEnvironment) -> dict[str, str] | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length > MAX_BODY:
        return None
    try:
        body = environ["wsgi.input"].read(length).decode()
        return dict(parse_qsl(body, keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        return None


def redirect(location: str) -> Reply:
    return Reply(303, b"", "text/plain; charset=utf-8", [("Location", location)])


class Shop:
    """The storefront as a WSGI app over `merchant`. `processor_app`: the embedded processor's app, whose
    CBUI and certificate routes this host serves (None with a remote processor). `name`: the shop's, as
    the processor shows it. `trusted`: whether a peer address is a proxy whose X-Forwarded-For names the
    client (`client_address`)."""

    def __init__(
        self,
        merchant: Merchant,
        name: str,
        key: bytes,
        processor_app: WSGIApplication | None = None,
        *,
        trusted: Callable[[str], bool],
    ):
        self.merchant = merchant
        self.trusted = trusted
        self.merchant_name = name
        self.signer = Signer(key)
        self.processor_app = processor_app
        self.ipn = ipn_app(merchant)
        processor = urlsplit(merchant.client.endpoint)
        self.form_action = "'self'" if processor_app else f"'self' {processor.scheme}://{processor.netloc}"
        self.routes: dict[tuple[str, str], Callable[[Request], Reply]] = {
            ("GET", "/"): self.catalogue,
            ("GET", "/signup"): self.sign_up_page,
            ("POST", "/signup"): self.sign_up,
            ("GET", "/signin"): self.sign_in_page,
            ("POST", "/signin"): self.sign_in,
            ("POST", "/signout"): self.sign_out,
            ("GET", "/account"): self.account,
            ("POST", "/buy"): self.buy,
            ("POST", "/prepay"): self.prepay,
            ("POST", "/paylater"): self.pay_later,
            ("POST", "/settle"): self.settle,
            ("GET", RETURN_PATH): self.cbui_return,
            ("GET", "/static/shop.css"): self.stylesheet,
        }
        self.signed_in_only = {"/account", "/buy", "/prepay", "/paylater", "/settle"}

    # -- WSGI ------------------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if self.processor_app is not None and path.startswith(PROCESSOR_PATHS):
            return self.processor_app(environ, start_response)
        if path == IPN_PATH:
            return self.ipn(environ, start_response)
        try:
            reply, request = self._reply(environ, path)
        except Exception:
            logger.exception("%s %s failed unexpectedly", environ.get("REQUEST_METHOD"), path)
            message = "Something went wrong on our side. Please try again."
            reply = self._page(None, 500, "message.html", title="Something went wrong", message=message)
            request = None
        headers = [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body))),
                   *reply.headers, *SECURITY_HEADERS]  # fmt: skip
        if reply.content_type.startswith("text/html"):
            headers += [
                ("Cache-Control", "no-store"),
                ("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "
                 f"form-action {self.form_action}; frame-ancestors 'none'; base-uri 'none'"),
            ]  # fmt: skip
        if request is not None and request.new_nonce:
            headers.append(self._cookie(request, CSRF_COOKIE, request.nonce))
        start_response(f"{reply.status} {HTTPStatus(reply.status).phrase}", headers)
        return [reply.body]

    def _reply(self, environ: WSGIEnvironment, path: str) -> tuple[Reply, Request | None]:
        method = environ["REQUEST_METHOD"]
        handler = self.routes.get((method, path))
        if handler is None:
            if any(route_path == path for _method, route_path in self.routes):
                return Reply(405, b"Method not allowed\n", "text/plain; charset=utf-8"), None
            return self._page(None, 404, "message.html", title="Not found",
                              message="There is no such page in the shop."), None  # fmt: skip
        cookies = _cookies(environ)
        request = Request(environ, method, path, dict(parse_qsl(environ.get("QUERY_STRING", ""))), cookies)
        request.client = client_address(environ, self.trusted)
        request.nonce = cookies.get(CSRF_COOKIE, "")
        if not request.nonce:
            request.nonce, request.new_nonce = new_nonce(), True
        session = self.signer.session_of(cookies.get(SESSION_COOKIE))
        if session is not None:
            found = records.customer(self.merchant.engine, session.customer_id)
            ended = found is not None and found.sessions_valid_after is not None \
                and session.issued <= found.sessions_valid_after  # fmt: skip
            request.customer = None if ended else found
        if method == "POST":
            refusal = self._check_post(request)
            if refusal is not None:
                return refusal, request
        if path in self.signed_in_only and request.customer is None:
            target = path if method == "GET" else "/account"
            return redirect(f"/signin?{urlencode({'next': target, 'notice': 'sign_in_first'})}"), request
        return handler(request), request

    def _check_post(self, request: Request) -> Reply | None:
        """A POST is refused unless its form carries this browser's CSRF token and any Origin is ours."""
        form = _read_form(request.environ)
        origin = request.environ.get("HTTP_ORIGIN")
        if form is None:
            return self._page(
                request, 400, "message.html", title="Form not read", message=NOTICES["bad_form"]
            )
        request.form = form
        if (origin is not None and origin != request.origin) or not self.signer.csrf_ok(
            request.cookies.get(CSRF_COOKIE), form.get("csrf", "")
        ):
            return self._page(request, 403, "message.html", title="Form expired",
                              message="This form had expired or came from another site; nothing was done. "
                              "Please go back, reload the page and try again.")  # fmt: skip
        return None

    def _cookie(self, request: Request, name: str, value: str, max_age: int | None = None) -> tuple[str, str]:
        jar: SimpleCookie = SimpleCookie()
        jar[name] = value
        morsel = jar[name]
        morsel["path"], morsel["httponly"], morsel["samesite"] = "/", True, "Lax"
        if max_age is not None:
            morsel["max-age"] = max_age
        if request.environ.get("wsgi.url_scheme") == "https":
            morsel["secure"] = True
        return "Set-Cookie", morsel.OutputString()

    def _page(self, request: Request | None, status: int, template: str, **context: Any) -> Reply:
        customer = request.customer if request else None
        body = _templates.get_template(template).render(
            customer=customer,
            csrf=self.signer.csrf_token(request.nonce) if request else "",
            submission=(lambda action: self.signer.submission(action, customer.id)) if customer else None,
            notice=NOTICES.get(request.query.get("notice", "")) if request else None,
            **context,
        )
        return Reply(status, body.encode())

    # -- pages ---------------------------------------------------------------------------------------------

    def catalogue(self, request: Request) -> Reply:
        products = records.products(self.merchant.engine)
        outcome = self._outcome(request) if request.customer else None
        mine = records.instruments(self.merchant.engine, request.customer.id) if request.customer else []
        return self._page(request, 200, "catalogue.html", products=products, outcome=outcome,
                          instruments=[i for i in mine if i.status == "Active"], packs=PACKS)  # fmt: skip

    def account(self, request: Request) -> Reply:
        view = records.account_view(self.merchant.engine, request.customer.id)
        active = [found for found in view.instruments if found.status == "Active"]
        return self._page(
            request, 200, "account.html", view=view, outcome=self._outcome(request), packs=PACKS,
            credit_limits=CREDIT_LIMITS, money=_money, reason_label=_reason_label,
            history_rows=records.HISTORY_ROWS,
            prepaid=next((found for found in active if found.kind == "Prepaid"), None),
            postpaid=next((found for found in active if found.kind == "Postpaid"), None),
            kinds={found.id: found.kind for found in view.instruments},
            settled=any(paid.what == records.SETTLED and paid.status == "Success" for paid in view.payments),
        )  # fmt: skip

    def _outcome(self, request: Request) -> dict[str, Any] | None:
        """What the movement named in the query (the customer's own) came to, for the page to say."""
        for name in ("purchase", "funding", "settlement"):
            if request.query.get(name, "").isdigit():
                row = records.movement_of(self.merchant.engine, f"{name}s", int(request.query[name]),
                                          request.customer.id)  # fmt: skip
                return None if row is None else {"kind": name, "row": row, "money": _money}
        return None

    def stylesheet(self, _request: Request) -> Reply:
        css = (HERE / "templates" / "shop.css").read_bytes()
        return Reply(200, css, "text/css; charset=utf-8", [("Cache-Control", "public, max-age=3600")])

    # -- signing up and in -----------------------------------------------------------------------------

    def _next(self, value: str | None) -> str:
        return value if value in NEXT_PAGES else "/"

    def sign_up_page(self, request: Request) -> Reply:
        return self._page(request, 200, "sign_up.html", error=None, email="", name="")

    def sign_up(self, request: Request) -> Reply:
        form = request.form
        try:
            customer_id = accounts.sign_up(
                self.merchant, form.get("email", ""), form.get("name", ""), form.get("password", ""),
                request.client,
            )  # fmt: skip
        except accounts.AccountError as exc:
            return self._page(request, 400, "sign_up.html", error=str(exc), email=form.get("email", "")[:254],
                              name=form.get("name", "")[:128])  # fmt: skip
        return self._signed_in(request, customer_id, "/account?notice=signed_up")

    def sign_in_page(self, request: Request) -> Reply:
        return self._page(request, 200, "sign_in.html", error=None, email="",
                          next=self._next(request.query.get("next")))  # fmt: skip

    def sign_in(self, request: Request) -> Reply:
        form = request.form
        try:
            customer_id = accounts.sign_in(
                self.merchant, form.get("email", ""), form.get("password", ""), request.client
            )
        except accounts.AccountError as exc:
            return self._page(request, 403, "sign_in.html", error=str(exc), email=form.get("email", "")[:254],
                              next=self._next(form.get("next")))  # fmt: skip
        return self._signed_in(request, customer_id, self._next(form.get("next")))

    def _signed_in(self, request: Request, customer_id: int, location: str) -> Reply:
        reply = redirect(location)
        session = self.signer.session(customer_id, utcnow())
        reply.headers.append(self._cookie(request, SESSION_COOKIE, session))
        return reply

    def sign_out(self, request: Request) -> Reply:
        """End this customer's every session signed in so far (a copy of the cookie too), and clear it."""
        if request.customer is not None:
            records.end_sessions(self.merchant.engine, request.customer.id, utcnow())
        reply = redirect("/?notice=signed_out")
        reply.headers.append(self._cookie(request, SESSION_COOKIE, "", max_age=0))
        return reply

    # -- paying --------------------------------------------------------------------------------------------

    def _active(self, customer_id: int) -> dict[str, Any]:
        """The customer's active instruments by kind (Prepaid, Postpaid)."""
        found = records.instruments(self.merchant.engine, customer_id)
        return {i.kind: i for i in reversed(found) if i.status == "Active"}  # the newest of a kind wins

    def _submitted(self, request: Request, action: str, kind: MovementKind) -> str | None:
        """The CallerReference a money form's submission key stands for, or None when the form has none
        made for this action and customer."""
        key = self.signer.submitted(action, request.customer.id, request.form.get("submission", ""))
        return None if key is None else f"{kind.prefix}-{key}"

    def _moved(
        self, request: Request, kind: MovementKind, reference: str, page: str, flow: Callable[[], Any]
    ) -> Reply:
        """Run a money `flow` under `reference`; 303 to `page` naming the movement recorded under it (made
        now, by an earlier post of the same form, or refused or unanswered by the processor). A refusal of
        the merchant's own records, with nothing recorded, is a page saying why."""
        name = kind.table.name[:-1]  # purchases -> purchase: the query parameter _outcome reads
        try:
            row_id = flow().row_id
        except (FlowRefused, FpsError) as exc:
            row = records.by_reference(self.merchant.engine, kind.table.name, reference)
            if row is None:
                message = str(exc) if isinstance(exc, FlowRefused) else "The payment service refused it."
                return self._page(request, 409, "message.html", title="Nothing was done",
                                  message=f"Nothing was done: {message}")  # fmt: skip
            row_id = row.id
        return redirect(f"{page}?{name}={row_id}")

    def buy(self, request: Request) -> Reply:
        product_id = request.form.get("product", "")
        song = records.product(self.merchant.engine, int(product_id)) if product_id.isdigit() else None
        if song is None:
            return self._page(request, 404, "message.html", title="Not found", message="No such song.")
        reference = self._submitted(request, "buy", PAY)
        if reference is None:
            return redirect("/?notice=bad_form")
        price = Amount(song.price_cents, song.currency)
        active = self._active(request.customer.id)
        prepaid, postpaid = active.get("Prepaid"), active.get("Postpaid")
        # The prepaid balance first while it covers the price; then the credit line; else the balance
        # (the processor refuses, and the page offers a top-up).
        chosen = prepaid if prepaid is not None and (prepaid.balance_cents >= price.cents or not postpaid) \
            else postpaid  # fmt: skip
        if chosen is None:
            return redirect("/account?notice=no_instrument")
        actor, product = customer_actor(request.customer.id), f"{song.title} — {song.artist}"
        return self._moved(request, PAY, reference, "/", lambda: flows.purchase(
            self.merchant, actor, chosen.id, product, price, caller_reference=reference))  # fmt: skip

    def _pick(self, form: dict[str, str], name: str, choices: tuple[Amount, ...]) -> Amount | None:
        return next((choice for choice in choices if str(choice) == form.get(name)), None)

    def prepay(self, request: Request) -> Reply:
        pack = self._pick(request.form, "pack", PACKS)
        reference = self._submitted(request, "fund", FUND_PREPAID)
        if pack is None or reference is None:
            return redirect("/account?notice=bad_form")
        customer_id = request.customer.id
        actor = customer_actor(customer_id)
        prepaid = self._active(customer_id).get("Prepaid")
        if prepaid is not None:
            return self._moved(request, FUND_PREPAID, reference, "/account", lambda: flows.fund(
                self.merchant, actor, prepaid.id, pack, caller_reference=reference))  # fmt: skip
        url = pipelines.start_prepaid(
            self.merchant, actor, customer_id, PREPAID_LIMIT, request.origin + RETURN_PATH,
            payment_reason=f"{self.merchant_name} prepaid balance",
        )  # fmt: skip
        sender = dict(parse_qsl(urlsplit(url).query))["callerReferenceSender"]
        records.remember_pack(self.merchant.engine, sender, pack.cents)
        return redirect(self._for_browser(request, url))

    def pay_later(self, request: Request) -> Reply:
        limit = self._pick(request.form, "limit", CREDIT_LIMITS)
        if limit is None:
            return redirect("/account?notice=bad_form")
        customer_id = request.customer.id
        if "Postpaid" in self._active(customer_id):
            return redirect("/account?notice=has_credit")
        url = pipelines.start_postpaid(
            self.merchant, customer_actor(customer_id), customer_id, limit, limit,
            request.origin + RETURN_PATH,
            payment_reason=f"{self.merchant_name} pay-later account",
        )  # fmt: skip
        return redirect(self._for_browser(request, url))

    def settle(self, request: Request) -> Reply:
        reference = self._submitted(request, "settle", SETTLE_DEBT)
        if reference is None:
            return redirect("/account?notice=bad_form")
        postpaid = self._active(request.customer.id).get("Postpaid")
        if postpaid is None:
            return redirect("/account?notice=no_debt")
        actor = customer_actor(request.customer.id)
        return self._moved(request, SETTLE_DEBT, reference, "/account", lambda: flows.settle(
            self.merchant, actor, postpaid.id, caller_reference=reference))  # fmt: skip

    def _for_browser(self, request: Request, start_url: str) -> str:
        """The start URL as the customer's browser reaches it: embedded, on this host."""
        if self.processor_app is not None and start_url.startswith(EMBEDDED_ENDPOINT):
            return request.origin + "/" + start_url[len(EMBEDDED_ENDPOINT) :]
        return start_url

    # -- the CBUI return -----------------------------------------------------------------------------------

    def cbui_return(self, request: Request) -> Reply:
        params = dict(parse_qsl(request.environ.get("QUERY_STRING", ""), keep_blank_values=True))
        try:
            result = pipelines.complete(self.merchant, RETURN_ACTOR, request.origin + RETURN_PATH, params)
        except ReturnRefused:
            return self._page(request, 400, "return.html", result=None, funding=None, refused=True)
        except FpsError:
            return self._page(request, 503, "return.html", result=None, funding=None, refused=False)
        funding, instrument = None, None
        if result.status == "Completed" and result.instrument_id:
            instrument = records.instrument(self.merchant.engine, result.instrument_id)
            pack = records.claim_pack(self.merchant.engine, result.token_reference_id, self.merchant.clock())
            if instrument is not None and pack is not None:
                funding = self._fund_pack(customer_actor(instrument.customer_id), instrument.id,
                                          Amount(pack, instrument.currency))  # fmt: skip
                instrument = records.instrument(self.merchant.engine, instrument.id)
        return self._page(request, 200, "return.html", result=result, funding=funding, refused=False,
                          instrument=instrument, money=_money)  # fmt: skip

    def _fund_pack(self, actor: Actor, instrument_id: str, pack: Amount) -> dict[str, Any]:
        """Fund a new prepaid instrument with the pack its customer chose: what came of it (its status:
        Requested while the processor's answer is unknown), or the error when nothing was recorded."""
        reference = flows.new_reference(FUND_PREPAID.prefix)
        try:
            status = flows.fund(self.merchant, actor, instrument_id, pack, caller_reference=reference).status
        except (FlowRefused, FpsError) as exc:
            row = records.by_reference(self.merchant.engine, FUND_PREPAID.table.name, reference)
            return {"amount": str(pack), "status": row.status if row else None,
                    "error": row.error_code if row else str(exc)}  # fmt: skip
        return {"amount": str(pack), "status": status, "error": None}


def _money(cents: int | None, currency: str = "USD") -> str:
    return "—" if cents is None else str(Amount(cents, currency))


def _reason_label(code: str | None) -> str:
    """A refund's reason as its customer sees it: the code's label (staff's note stays in the back office)."""
    return LABELS.get(code, "—") if code else "—"


def build(settings: Settings) -> Shop:
    """The storefront of `settings`' merchant (connected, migrated); embedded, with the in-process
    processor's CBUI and certificate routes, which accept start URLs signed for its embedded host and
    name certificates under the embedded endpoint (whatever scheme a proxy in front of the shop says)."""
    merchant = connect(settings)
    processor_app = None
    if merchant.processor_engine is not None:
        from fpscore.processor import Processor
        from fpscore.processor.app import make_app

        processor = Processor(merchant.processor_engine, settings.fee_schedule, merchant.clock)
        processor_app = make_app(
            processor, public_host=urlsplit(EMBEDDED_ENDPOINT).netloc, certificate_base=EMBEDDED_ENDPOINT
        )
    trusted = trusted_proxies(GunicornConfig().forwarded_allow_ips)  # as `fpscore shop`'s Front trusts them
    return Shop(merchant, settings.caller_name, load_key(settings.data_dir), processor_app, trusted=trusted)
