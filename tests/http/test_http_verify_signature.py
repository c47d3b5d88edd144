"""VerifySignature (§11) against the processor's own key, signed or unsigned; its certificate URL."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from fpshttp import api_requests, expect_error, expect_success

from fpscore.processor.keys import SigningKeys, certificate_path
from fpscore.wire import VERSIONS

RETURN_URL = "https://shop.example/fps/return"


@pytest.fixture
def outbound(processor, base_url):
    """Return-URL parameters signed by the processor's key, and that key's certificate PEM."""
    key_id, key = SigningKeys(processor.engine).current()
    params = {
        "status": "SA",
        "tokenID": "T" * 64,
        "callerReference": "order 7",
        "signatureMethod": "RSA-SHA1",
        "signatureVersion": "2",
        "certificateUrl": f"{base_url}{certificate_path(key_id)}?requestId=r-1",
    }
    params["signature"] = key.sign_outbound(params, method="GET", url_endpoint=RETURN_URL)
    return params, key.certificate_pem


def _unsigned(fps, version: str, endpoint: str, http_parameters: str):
    query = {
        "Action": "VerifySignature",
        "Version": version,
        "UrlEndPoint": endpoint,
        "HttpParameters": http_parameters,
    }
    return fps.session.get(f"{fps.base_url}/", params=query, timeout=10)


@pytest.mark.parametrize("version", VERSIONS)
def test_unsigned_as_the_2010_sdks_call_it(fps, outbound, version, engine):
    params, _ = outbound
    result = expect_success(
        _unsigned(fps, version, RETURN_URL, urlencode(params)), "VerifySignature", version
    )
    assert [child.tag for child in result] == ["VerificationStatus"]
    assert result.findtext("VerificationStatus") == "Success"
    tampered = urlencode({**params, "status": "SB"})
    result = expect_success(_unsigned(fps, version, RETURN_URL, tampered), "VerifySignature", version)
    assert result.findtext("VerificationStatus") == "Failure"
    assert [row["caller_id"] for row in api_requests(engine)] == [None, None]


def test_signed_as_boto_calls_it(fps, outbound, caller_id, engine):
    params, _ = outbound
    ok = fps.ok("VerifySignature", UrlEndPoint=RETURN_URL, HttpParameters=urlencode(params))
    assert ok.findtext("VerificationStatus") == "Success"
    elsewhere = fps.ok(
        "VerifySignature", UrlEndPoint="https://evil.example/fps/return", HttpParameters=urlencode(params)
    )
    assert elsewhere.findtext("VerificationStatus") == "Failure"
    assert {row["caller_id"] for row in api_requests(engine)} == {caller_id}


def test_ipn_post_signed_with_sha256(fps, processor, base_url):
    key_id, key = SigningKeys(processor.engine).current()
    ipn_url = "http://shop.example:8080/fps/ipn"
    params = {
        "transactionId": "X" * 35,
        "transactionStatus": "SUCCESS",
        "signatureMethod": "RSA-SHA256",
        "signatureVersion": "2",
        "certificateUrl": f"{base_url}{certificate_path(key_id)}",
    }
    params["signature"] = key.sign_outbound(
        params, method="POST", url_endpoint=ipn_url, signature_method="RSA-SHA256"
    )
    result = fps.ok("VerifySignature", UrlEndPoint=ipn_url, HttpParameters=urlencode(params))
    assert result.findtext("VerificationStatus") == "Success"


def test_unknown_key_and_missing_certificate_url(fps, outbound):
    params, _ = outbound
    foreign = urlencode(
        {**params, "certificateUrl": "https://fps.sandbox.amazonaws.com/certs/090911/PKICert.pem"}
    )
    assert (
        fps.ok("VerifySignature", UrlEndPoint=RETURN_URL, HttpParameters=foreign).findtext(
            "VerificationStatus"
        )
        == "Failure"
    )
    without = urlencode({k: v for k, v in params.items() if k != "certificateUrl"})
    message = expect_error(_unsigned(fps, "2010-08-28", RETURN_URL, without), "InvalidParams", 400)
    assert message == "certificateUrl is missing in 'HttpParameters'."
    expect_error(_unsigned(fps, "2010-08-28", "not a url", urlencode(params)), "InvalidParams", 400)
    expect_error(_unsigned(fps, "2010-08-28", RETURN_URL, ""), "InvalidParams", 400)


def test_a_signed_call_must_be_signed_right(fps, outbound):
    params, _ = outbound
    query = fps.signed("VerifySignature", {"UrlEndPoint": RETURN_URL, "HttpParameters": urlencode(params)})
    expect_error(fps.send({**query, "Signature": "AAAA"}), "SignatureDoesNotMatch", 403)


def test_certificate_is_served(fps, outbound):
    params, certificate_pem = outbound
    response = fps.session.get(params["certificateUrl"], timeout=10)
    assert response.status_code == 200
    assert response.content == certificate_pem
    assert response.headers["Content-Type"] == "application/x-pem-file"
