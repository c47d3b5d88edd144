"""A request's fingerprint (the DuplicateRequest rule's digest) is recorded with its CallerReference: it
must not change from one release to the next, or a retry of a request made before an upgrade would be
refused as a different request."""

from __future__ import annotations

from fpscore.money import Amount
from fpscore.processor import idempotency
from fpscore.processor.actions import _request


def test_the_fingerprint_of_a_pay_is_the_one_recorded_before():
    request = _request(caller_description='Song <b>&</b> "x"', SenderTokenId="T" * 64, Amount=Amount(99))
    ref = idempotency.reference(7, "Pay", "order-1", request)
    # sha256 of 'Pay\n' and json.dumps of the non-empty parameters as text, keys sorted
    assert ref.digest == "2f754937e85b04809fb8153c064258df4f9e4197f6eb556099ecca76e1eb5427"


def test_parameters_left_out_do_not_count_and_order_does_not_matter():
    one = idempotency.reference(7, "Pay", "order-1", {"A": "1", "B": None, "C": "é\u2028"})
    other = idempotency.reference(7, "Pay", "order-1", {"C": "é\u2028", "A": "1"})
    assert one.digest == other.digest
