"""Status after the fact: the processor's IPN, received by `fpscore ipn-listen` (`recovery.follow_up_pending`
asks GetTransactionStatus instead). It updates the merchant's records idempotently: a notification
delivered twice, or one that only confirms what the merchant knows, changes nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl
from wsgiref.types import StartResponse, WSGIEnvironment

from sqlalchemy import select, update

from fpscore.merchant.connect import Merchant
from fpscore.merchant.flows import record_status
from fpscore.merchant.movements import KINDS
from fpscore.merchant.pipelines import verify_signed
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.schema import MerchantInstrument

logger = logging.getLogger(__name__)
_instruments = MerchantInstrument.__table__
IPN_ACTOR = Actor.job("ipn-listener", Permission.READ)
MAX_BODY = 64 * 1024


def apply_notification(merchant: Merchant, url_endpoint: str, params: Mapping[str, str]) -> str:
    """Verify and apply one IPN; a short description of what it did. ValueError when it does not verify."""
    if not verify_signed(merchant, IPN_ACTOR, "POST", url_endpoint, params):
        merchant.audit.record_event(IPN_ACTOR.name, "ipn", "Refused", None, "signature did not verify")
        raise ValueError("the notification's signature does not verify")
    kind = params.get("notificationType")
    if kind == "TransactionStatus":
        transaction_id = params.get("transactionId", "")
        status = params.get("transactionStatus", "").title()
        for table in (kind.table for kind in KINDS):
            with merchant.engine.begin() as conn:
                row_id = conn.execute(
                    select(table.c.id).where(table.c.transaction_id == transaction_id)
                ).scalar()
                if row_id is not None:
                    record_status(conn, table, row_id, status, merchant.clock())
                    return f"{table.name} {row_id}: {status}"
        return f"transaction {transaction_id} is not one of ours"
    if kind == "TokenCancellation":
        token_id = params.get("tokenId", "")
        with merchant.engine.begin() as conn:
            cancelled = conn.execute(
                update(_instruments)
                .where(_instruments.c.sender_token_id == token_id)
                .values(status="Cancelled")
                .returning(_instruments.c.id)
            ).scalar()
        return f"instrument {cancelled} cancelled" if cancelled else f"token {token_id} is not a sender token"
    return f"notification type {kind!r} ignored"


def ipn_app(merchant: Merchant, public_url: str | None = None):  # type: ignore[no-untyped-def]
    """A WSGI app taking IPN POSTs at any path: 200 once applied, 403 when the signature fails."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST")])
            return [b""]
        length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
        params = dict(parse_qsl(environ["wsgi.input"].read(length).decode("utf-8", "replace")))
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        endpoint = public_url or f"{environ['wsgi.url_scheme']}://{host}{environ.get('PATH_INFO') or '/'}"
        try:
            done = apply_notification(merchant, endpoint, params)
        except ValueError as exc:
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [str(exc).encode()]
        logger.info(json.dumps({"ipn": params.get("notificationType"), "result": done}))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app
