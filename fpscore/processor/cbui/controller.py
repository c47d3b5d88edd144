"""The Co-Branded UI's controller (reference §10): the SetupPrepaid and SetupPostpaid pipelines as pages.

A merchant sends the buyer's browser to `GET /cobranded-ui/actions/start` with SigV2-signed parameters
(lower-case `signature`/`signatureMethod`; verified like the query API: the Host header with and without
its port, and `public_host`). The buyer signs in with any e-mail address (a sandbox), reads what they
authorize, and confirms or cancels. Confirm issues the instrument and its tokens through the Processor and
answers a 302 to the merchant's `returnURL` carrying the ids, RSA-signed as FPS signed its return URLs
(§11); cancel answers the same redirect with `status=A` and issues nothing. Every return also names, under
that signature, the caller that signed the start (`callerKey`) and the round trip (`callerReference`, its
callerReferenceSender): a merchant accepts only returns naming its own key, so another merchant cannot
send a round trip of its own back through this merchant's returnURL.

Rules chosen here:
- Every bad start request (signature, caller key, a missing or malformed input, returnURL) is an HTML
  error page with HTTP 400 and never a redirect: until a request is verified its returnURL is anyone's,
  and even a signed request with a bad input is best shown to the developer integrating it. `status=CE`
  (or `SE` for a transient fault) is only sent back after a verified start, when the Processor refuses
  the setup at confirm (DuplicateRequest, an expiry that has passed meanwhile, ...).
- A round trip (a caller's callerReferenceSender) ends once, at the buyer's first Cancel, or first Confirm
  that the Processor answers: a Confirm ends it in the setup's own database transaction, so the tokens and
  the end exist together or not at all, and a transient fault (`SE`, "try again") leaves it open for the
  buyer to confirm again; a refused setup (`CE`) ends it. After that its start URL, a form of its pages,
  another buyer, another e-mail address or another browser get an error page (HTTP 400) and nothing is
  issued or returned; only the very step that ended it, repeated by the same buyer in the same browser
  (the redirect was lost, or a double click), is answered with the same return again. A merchant starts
  a new round trip with new references.
- A start URL expires. Our client signs `startUrlExpiry` (epoch seconds) into it; once that has passed, or
  when it is more than `MAX_START_URL_LIFETIME` ahead, the start is refused like any bad input. A start
  URL without it (boto's `cbui_url` signs none, and no Timestamp either, so its age is unknown) may be
  opened for `UNSIGNED_START_URL_LIFETIME` after it was first opened, and never after its round trip
  ended. One that nobody opened stays usable until it is: signing an expiry is what prevents that.
- CSRF: a form post must carry a sealed state (`state`) naming this browser's session cookie; an `Origin`
  header, when sent, must also be this processor. Replaying a sealed state after the round trip ended is
  refused, but for the step that ended it (above).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit, urlunsplit
from wsgiref.types import WSGIEnvironment

from sqlalchemy import Connection

from fpscore.errors import FpsError, InvalidClientTokenId, ServiceError
from fpscore.processor import InstrumentSetup, Processor
from fpscore.processor.api import read_form
from fpscore.processor.cbui.pages import (
    MAX_BUYER_NAME,
    NOTHING_DONE,
    Page,
    confirm_page,
    error_page,
    sign_in_page,
)
from fpscore.processor.cbui.request import CallerInputError, PipelineRequest, decode_form, parse_start
from fpscore.processor.cbui.round_trips import (
    Ending,
    RoundTrip,
    RoundTripEnded,
    answered,
    browser_digest,
    end,
    round_trip,
)
from fpscore.processor.cbui.state import (
    SESSION_LIFETIME,
    STEPS,
    Sealer,
    State,
    cookie_nonce,
    new_nonce,
    session_cookie,
)
from fpscore.processor.instruments import SetupHook
from fpscore.processor.keys import SigningKeys, certificate_path
from fpscore.processor.parties import CallerAccount, normalize_email
from fpscore.signing import rfc3986_quote, verify_query

logger = logging.getLogger(__name__)

START_ROUTE = re.compile(r"/cobranded-ui/actions/(?P<step>start)")
FORM_ROUTE = re.compile(r"/cobranded-ui/actions/(?P<step>sign-in|confirm)")
UNSIGNED_START_URL_LIFETIME = timedelta(days=1)  # a start URL without one, from its first opening
SUCCESS_STATUS = {"CC": "SC", "ABT": "SA", "ACH": "SB"}
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_HTML = "text/html; charset=utf-8"
_ENDED = (
    "This payment authorization has already ended: it was confirmed or cancelled, and cannot be "
    "completed again."
)
_ENDED_NOTE = (
    "Nothing more was authorized or charged. Return to the merchant's site, or contact the merchant."
)
_LAPSED = "This link to authorize a payment has expired. Return to the merchant's site and start again."


def _setup_result(request: PipelineRequest, setup: InstrumentSetup) -> dict[str, str]:
    """What a successful return carries: the status for the payment method, the ids, the expiry."""
    result = {"status": SUCCESS_STATUS[request.payment_method]}
    if request.prepaid:
        result |= {
            "fundingTokenID": setup.funding_token_id or "",
            "prepaidInstrumentID": setup.instrument_id,
            "prepaidSenderTokenID": setup.sender_token_id,
        }
    else:
        result |= {
            "creditInstrumentID": setup.instrument_id,
            "creditSenderTokenID": setup.sender_token_id,
            "settlementTokenID": setup.settlement_token_id or "",
        }
    if setup.expires_at is not None:
        result["expiry"] = setup.expires_at.strftime("%m/%Y")
    return result


class SessionError(Exception):
    """A form post that cannot continue a pipeline: no, a forged or a lapsed state, or a foreign origin."""

    def __init__(
        self, message: str, status: int = 400, merchant: str | None = None, note: str = NOTHING_DONE
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.merchant = merchant
        self.note = note  # what it means for the buyer


def _security_headers(form_action: str) -> tuple[tuple[str, str], ...]:
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action {form_action}"
    )
    return (
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),  # keeps Origin on our own posts, tells the merchant nothing
        ("Content-Security-Policy", policy),
    )


def _form_action(request: PipelineRequest) -> str:
    """Our forms post to us, and a post may be answered by a redirect to the returnURL's origin."""
    parts = urlsplit(request.return_url)
    if ":" in (parts.hostname or ""):  # CSP host sources cannot name an IPv6 literal
        return f"'self' {parts.scheme.lower()}:"
    return f"'self' {request.return_origin}"


@dataclass(frozen=True, slots=True)
class Response:
    """An answer of the CBUI: what the app turns into its `Reply`."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


class CoBrandedUi:
    """The CBUI pages: `answer(environ, step)` for the steps `start` (GET), `sign-in` and `confirm` (POST)."""

    def __init__(
        self,
        processor: Processor,
        keys: SigningKeys,
        public_host: str | None = None,
        certificate_base: str | None = None,
    ):
        self.processor = processor
        self.keys = keys
        self.public_host = public_host
        self.certificate_base = certificate_base
        self.sealer = Sealer(keys)

    def answer(self, environ: WSGIEnvironment, step: str) -> Response:
        try:
            if step == "start":
                return self._start(environ)
            return self._post(environ, step)
        except SessionError as exc:
            page = error_page(
                "This page cannot continue", exc.message, {}, merchant=exc.merchant, note=exc.note
            )
            return self._page(exc.status, page, "'none'")
        except Exception:
            logger.exception("CBUI %s failed unexpectedly", step)
            message = "Something went wrong on our side. Please return to the merchant and try again."
            return self._page(503, error_page("Service error", message, {}), "'none'")

    # -- steps ---------------------------------------------------------------------------------------

    def _start(self, environ: WSGIEnvironment) -> Response:
        try:
            params = decode_form(read_form(environ))
            caller = self._verified_caller(environ, params)
            request = parse_start(params, self.processor.clock())
        except CallerInputError as exc:
            return self._caller_input_error(exc)
        except FpsError as exc:
            return self._caller_input_error(CallerInputError({"request": exc.message}))
        now = self.processor.clock()
        trip = self._round_trip(caller, request, now)
        if trip.outcome is not None:
            page = error_page(
                "This authorization has ended", _ENDED, {}, merchant=caller.name, note=_ENDED_NOTE
            )
            return self._page(400, page, "'none'")
        if request.url_expiry is None and now - trip.opened_at > UNSIGNED_START_URL_LIFETIME:
            page = error_page("This link has expired", _LAPSED, {}, merchant=caller.name)
            return self._page(400, page, "'none'")
        nonce = cookie_nonce(environ) or new_nonce()
        state = State("sign-in", nonce, int(now.timestamp()), request.params)
        page = sign_in_page(Page(caller.name, request), self.sealer.seal(state))
        cookie = ("Set-Cookie", session_cookie(environ, nonce))
        return self._page(200, page, _form_action(request), (cookie,))

    def _post(self, environ: WSGIEnvironment, step: str) -> Response:
        self._check_origin(environ)
        try:
            form = decode_form(read_form(environ))
        except (CallerInputError, FpsError):
            raise SessionError(
                "The form could not be read. Return to the merchant and start again."
            ) from None
        state = self._open_state(environ, form.get("state", ""))
        caller = self._caller(state)
        try:
            request = parse_start(state.params, None)
        except CallerInputError:  # sealed by us after it parsed: only a change of our own rules gets here
            raise SessionError("This payment authorization can no longer continue.") from None
        facts = Page(caller.name, request)
        decision = form.get("decision", "")
        if decision == "cancel":
            logger.info("CBUI %s cancelled by the buyer (caller %s)", request.pipeline, caller.caller_id)
            return self._finish(environ, caller, request, self._ending(state, "Cancelled", {"status": "A"}))
        if step == "sign-in" and state.step == "sign-in" and decision in ("", "continue"):
            if self._round_trip(caller, request, self.processor.clock()).outcome is not None:
                raise SessionError(_ENDED, merchant=caller.name, note=_ENDED_NOTE)
            return self._sign_in(form, state, facts, request)
        if step == "confirm" and state.step == "confirm" and decision == "confirm":
            return self._confirm(environ, state, caller, request)
        raise SessionError("This form does not belong to this step. Return to the merchant and start again.")

    def _round_trip(self, caller: CallerAccount, request: PipelineRequest, now: datetime) -> RoundTrip:
        return round_trip(self.processor.engine, caller.caller_id, request.caller_reference_sender, now)

    @staticmethod
    def _ending(state: State, outcome: str, result: dict[str, str]) -> Ending:
        return Ending(outcome, state.buyer_id, browser_digest(state.nonce), result)

    def _ender(self, caller: CallerAccount, request: PipelineRequest, state: State) -> SetupHook:
        """What ends the round trip as Confirmed, with the setup's return, in the setup's transaction."""

        def end_confirmed(conn: Connection, setup: InstrumentSetup) -> None:
            ending = self._ending(state, "Confirmed", _setup_result(request, setup))
            reference, now = request.caller_reference_sender, self.processor.clock()
            if not end(conn, caller.caller_id, reference, ending, now):
                raise RoundTripEnded(reference)

        return end_confirmed

    def _finish(
        self, environ: WSGIEnvironment, caller: CallerAccount, request: PipelineRequest, ending: Ending
    ) -> Response:
        """End the round trip with `ending` (a transaction of its own) and send the buyer back with its
        result; when it had already ended, `_repeat`."""
        reference, now = request.caller_reference_sender, self.processor.clock()
        with self.processor.engine.begin() as conn:
            ended = end(conn, caller.caller_id, reference, ending, now)
        if not ended:
            return self._repeat(environ, caller, request, ending)
        return self._redirect(environ, request, ending.result)

    def _repeat(
        self, environ: WSGIEnvironment, caller: CallerAccount, request: PipelineRequest, ending: Ending
    ) -> Response:
        """For a round trip that has ended: the return it was answered with when `ending` repeats the step
        that ended it (same decision, buyer and browser); SessionError for anything else."""
        result = answered(self.processor.engine, caller.caller_id, request.caller_reference_sender, ending)
        if result is None:
            logger.info(
                "CBUI %s refused: round trip already ended (caller %s)", ending.outcome, caller.caller_id
            )
            raise SessionError(_ENDED, merchant=caller.name, note=_ENDED_NOTE)
        logger.info("CBUI %s repeated: answered as before (caller %s)", ending.outcome, caller.caller_id)
        return self._redirect(environ, request, result)

    def _sign_in(
        self, form: Mapping[str, str], state: State, facts: Page, request: PipelineRequest
    ) -> Response:
        email, name = form.get("email", "").strip(), form.get("name", "").strip()
        try:
            if len(name) > MAX_BUYER_NAME:
                raise ValueError(f"Your name can be at most {MAX_BUYER_NAME} characters long.")
            email = normalize_email(email)
        except (FpsError, ValueError) as exc:
            message = str(exc) if isinstance(exc, ValueError) else "Please enter a valid e-mail address."
            page = sign_in_page(facts, self.sealer.seal(state), email=email, name=name, error=message)
            return self._page(400, page, _form_action(request))
        buyer_id = self.processor.find_or_create_buyer(email, name or None)
        confirming = State("confirm", state.nonce, state.started_at, state.params, buyer_id, email)
        page = confirm_page(facts, self.sealer.seal(confirming), email)
        return self._page(200, page, _form_action(request))

    def _confirm(
        self, environ: WSGIEnvironment, state: State, caller: CallerAccount, request: PipelineRequest
    ) -> Response:
        """Issue the instrument and end the round trip in one transaction, and send the buyer back with
        the tokens; a transient fault (SE) leaves the round trip open, a refused setup (CE) ends it."""
        assert state.buyer_id is not None
        try:
            setup = self._setup(caller, state.buyer_id, request, self._ender(caller, request, state))
        except RoundTripEnded:
            return self._repeat(environ, caller, request, self._ending(state, "Confirmed", {}))
        except ServiceError as exc:
            logger.info("CBUI %s failed (caller %s): %s", request.pipeline, caller.caller_id, exc.code)
            return self._redirect(environ, request, {"status": "SE", "errorMessage": str(exc)})
        except FpsError as exc:
            logger.info("CBUI %s refused (caller %s): %s", request.pipeline, caller.caller_id, exc.code)
            refused = {"status": "CE", "errorMessage": str(exc)}
            return self._finish(environ, caller, request, self._ending(state, "Confirmed", refused))
        except Exception:
            logger.exception("CBUI %s failed unexpectedly (caller %s)", request.pipeline, caller.caller_id)
            message = "InternalError: We encountered an internal error. Please try again."
            return self._redirect(environ, request, {"status": "SE", "errorMessage": message})
        logger.info(
            "CBUI %s confirmed (caller %s, instrument %s%s)",
            request.pipeline, caller.caller_id, setup.instrument_id, ", replayed" if setup.replayed else "",
        )  # fmt: skip
        return self._redirect(environ, request, _setup_result(request, setup))

    def _setup(
        self, caller: CallerAccount, buyer_id: int, request: PipelineRequest, then: SetupHook
    ) -> InstrumentSetup:
        terms = {
            "caller_reference_sender": request.caller_reference_sender,
            "validity_start": request.validity_start,
            "validity_expiry": request.validity_expiry,
            "payment_method": request.payment_method,
            "payment_reason": request.payment_reason,
        }
        if request.prepaid:
            assert request.funding_limit is not None
            return self.processor.setup_prepaid(
                caller.caller_id, buyer_id, **terms, then=then,
                caller_reference_funding=request.caller_reference_other, funding_limit=request.funding_limit,
            )  # fmt: skip
        assert request.credit_limit is not None and request.global_amount_limit is not None
        return self.processor.setup_postpaid(
            caller.caller_id, buyer_id, **terms, then=then,
            caller_reference_settlement=request.caller_reference_other, credit_limit=request.credit_limit,
            global_amount_limit=request.global_amount_limit,
        )  # fmt: skip

    # -- authentication and session -------------------------------------------------------------------

    def _verified_caller(self, environ: WSGIEnvironment, params: Mapping[str, str]) -> CallerAccount:
        """The caller that signed the start request; CallerInputError when it is not signed right."""
        missing = {
            name: "is required"
            for name in ("callerKey", "signatureVersion", "signatureMethod", "signature")
            if not params.get(name)
        }
        if missing:
            raise CallerInputError(missing)
        if params["signatureVersion"] != "2":
            raise CallerInputError({"signatureVersion": "must be 2"})
        if params["signatureMethod"] not in ("HmacSHA256", "HmacSHA1"):
            raise CallerInputError({"signatureMethod": "must be HmacSHA256 or HmacSHA1"})
        try:
            caller = self.processor.caller_for_key(params["callerKey"])
        except InvalidClientTokenId:
            raise CallerInputError({"callerKey": "is not the access key of a registered caller"}) from None
        if not verify_query(
            params,
            caller.secret_access_key,
            method="GET",
            host_header=environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""),
            path=environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            public_host=self.public_host,
            signature_key="signature",
            signature_method_key="signatureMethod",
        ):
            raise CallerInputError(
                {"signature": "does not match the request signed with the caller's secret"}
            )
        return caller

    def _open_state(self, environ: WSGIEnvironment, sealed: str) -> State:
        state = self.sealer.open(sealed) if sealed else None
        if state is None or state.step not in STEPS:
            raise SessionError("This page is not a valid step of a payment authorization.")
        merchant = self._merchant_name(state)
        started = datetime.fromtimestamp(state.started_at, UTC)
        if self.processor.clock() - started > SESSION_LIFETIME:
            raise SessionError(
                "This payment authorization has expired. Return to the merchant and start again.",
                merchant=merchant,
            )
        nonce = cookie_nonce(environ)
        if nonce is None or not hmac.compare_digest(nonce, state.nonce):
            raise SessionError(
                "Your browser did not send the session cookie of this payment authorization. "
                "Allow cookies for this site, return to the merchant and start again.",
                status=403,
                merchant=merchant,
            )
        return state

    def _merchant_name(self, state: State) -> str | None:
        try:
            return self.processor.caller_for_key(state.params.get("callerKey", "")).name
        except InvalidClientTokenId:
            return None

    def _caller(self, state: State) -> CallerAccount:
        try:
            return self.processor.caller_for_key(state.params.get("callerKey", ""))
        except InvalidClientTokenId:
            raise SessionError(
                "The merchant's access key has been revoked; nothing can be authorized."
            ) from None

    def _own_hosts(self, environ: WSGIEnvironment) -> list[str]:
        hosts = [self.public_host or "", environ.get("HTTP_HOST") or ""]
        return [host.lower() for host in hosts if _HOST.fullmatch(host)]

    def _check_origin(self, environ: WSGIEnvironment) -> None:
        """A browser's post names the page it came from in `Origin`: it must be one of ours."""
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return
        netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
        if netloc not in self._own_hosts(environ):
            raise SessionError("This form was sent from another site; nothing was done.", status=403)

    # -- answers ---------------------------------------------------------------------------------------

    def _certificate_url(self, environ: WSGIEnvironment, key_id: str) -> str:
        """Where the merchant fetches the certificate: under `certificate_base` when set, else the scheme
        and host this request came by."""
        if self.certificate_base:
            return self.certificate_base.rstrip("/") + certificate_path(key_id)
        scheme = "https" if environ.get("wsgi.url_scheme") == "https" else "http"
        hosts = self._own_hosts(environ)
        if hosts:
            host = hosts[0]
        else:
            host, port = environ.get("SERVER_NAME", "localhost"), environ.get("SERVER_PORT", "")
            host = f"{host}:{port}" if port and port != {"http": "80", "https": "443"}[scheme] else host
        return f"{scheme}://{host}{certificate_path(key_id)}"

    def _redirect(
        self, environ: WSGIEnvironment, request: PipelineRequest, result: dict[str, str]
    ) -> Response:
        """A 302 to the returnURL (its own query kept) with `result`, the caller and the round trip,
        RSA-signed over every parameter."""
        key_id, key = self.keys.current()
        parts = urlsplit(request.return_url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params |= result
        params |= {
            "callerKey": request.caller_key,
            "callerReference": request.caller_reference_sender,
            "signatureVersion": "2",
            "signatureMethod": "RSA-SHA1",
            "certificateUrl": self._certificate_url(environ, key_id),
        }
        endpoint = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        params["signature"] = key.sign_outbound(params, method="GET", url_endpoint=endpoint)
        query = "&".join(f"{rfc3986_quote(name)}={rfc3986_quote(value)}" for name, value in params.items())
        location = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
        headers = (("Location", location), *_security_headers("'none'"))
        return Response(302, b"Redirecting to the merchant.\n", "text/plain; charset=utf-8", headers)

    def _caller_input_error(self, exc: CallerInputError) -> Response:
        message = "Caller Input Exception: The following input(s) are not well formed: "
        message += f"[{', '.join(exc.problems)}]"
        page = error_page("This authorization cannot start", message, exc.problems)
        return self._page(400, page, "'none'")

    def _page(
        self, status: int, html: str, form_action: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        return Response(status, html.encode("utf-8"), _HTML, (*_security_headers(form_action), *headers))
