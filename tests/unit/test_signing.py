"""Signature V2 (HMAC) and outbound RSA signatures, checked against vectors built independently here."""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fpscore.errors import InvalidParameterValue, InvalidParams, MissingParameter, RequestExpired
from fpscore.signing import (
    SigningKey,
    canonical_query,
    check_timestamp,
    hmac_signature,
    outbound_string_to_sign,
    rfc3986_quote,
    sign_query,
    string_to_sign,
    utc_timestamp,
    verify_outbound,
    verify_query,
)

# §19: what boto 2.49 sent for pay(SenderTokenId='TOK', TransactionAmount='1.50', CallerReference='ref1').
BOTO_PARAMS = {
    "AWSAccessKeyId": "AKIDEXAMPLE",
    "Action": "Pay",
    "CallerReference": "ref1",
    "SenderTokenId": "TOK",
    "SignatureMethod": "HmacSHA256",
    "SignatureVersion": "2",
    "Timestamp": "2026-11-27T20:50:47Z",
    "TransactionAmount.CurrencyCode": "USD",
    "TransactionAmount.Value": "1.50",
    "Version": "2010-08-28",
}
BOTO_SIGNATURE = "1QuiZ1hOnFAX2LnU23E9pL81j5vybu7AIcfYupam04E="
BOTO_STRING = (
    "GET\n127.0.0.1\n/\n"
    "AWSAccessKeyId=AKIDEXAMPLE&Action=Pay&CallerReference=ref1&SenderTokenId=TOK&SignatureMethod=HmacSHA256"
    "&SignatureVersion=2&Timestamp=2026-11-27T20%3A50%3A47Z&TransactionAmount.CurrencyCode=USD"
    "&TransactionAmount.Value=1.50&Version=2010-08-28"
)
NOW = datetime(2026, 11, 27, 20, 50, 47, tzinfo=UTC)


def b64_hmac(secret: str, string: str, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(secret.encode(), string.encode(), digest).digest()).decode()


# --- Signature V2 -------------------------------------------------------------------------------------


def test_boto_vector_string_and_signature() -> None:
    assert string_to_sign("GET", "127.0.0.1", "/", BOTO_PARAMS) == BOTO_STRING
    assert b64_hmac("secretkey", BOTO_STRING) == BOTO_SIGNATURE  # the vector itself is sound
    signed = sign_query(BOTO_PARAMS, "secretkey", host="127.0.0.1")
    assert signed["Signature"] == BOTO_SIGNATURE
    assert signed == {**BOTO_PARAMS, "Signature": BOTO_SIGNATURE}


def test_boto_vector_is_signed_without_the_port() -> None:
    assert sign_query(BOTO_PARAMS, "secretkey", host="127.0.0.1:8765")["Signature"] != BOTO_SIGNATURE


def test_verify_boto_request_strips_the_port_of_the_host_header() -> None:
    signed = {**BOTO_PARAMS, "Signature": BOTO_SIGNATURE}
    assert verify_query(signed, "secretkey", method="GET", host_header="127.0.0.1:8765", path="/")
    assert verify_query(signed, "secretkey", method="GET", host_header="127.0.0.1", path="/")


def test_rfc3986_encoding_of_reserved_and_non_ascii_characters() -> None:
    value = "a b~c/d+e*f Grüße 日本"
    encoded = "a%20b~c%2Fd%2Be%2Af%20Gr%C3%BC%C3%9Fe%20%E6%97%A5%E6%9C%AC"
    assert rfc3986_quote(value) == encoded
    assert rfc3986_quote("AZaz09-_.~") == "AZaz09-_.~"
    assert rfc3986_quote("=&%:") == "%3D%26%25%3A"


def test_canonical_query_sorts_names_by_byte_order_and_leaves_out_the_signature() -> None:
    params = {"alpha": "x y", "Zeta": "1", "Über": "ü", "Signature": "zzz", "a.b": "/"}
    assert canonical_query(params) == "Zeta=1&a.b=%2F&alpha=x%20y&%C3%9Cber=%C3%BC"
    assert canonical_query(params, exclude=()) == "Signature=zzz&Zeta=1&a.b=%2F&alpha=x%20y&%C3%9Cber=%C3%BC"


def test_string_to_sign_lowercases_host_and_encodes_path_segments() -> None:
    params = {"Note": "Grüße 日本 +*~/"}
    expected = "POST\nfps.example.com\n/api/a%20b/\nNote=Gr%C3%BC%C3%9Fe%20%E6%97%A5%E6%9C%AC%20%2B%2A~%2F"
    assert string_to_sign("post", "FPS.Example.COM", "/api/a b/", params) == expected
    assert string_to_sign("GET", "h", "", {}) == "GET\nh\n/\n"


def test_hmac_sha1_and_sha256_against_hashlib() -> None:
    assert hmac_signature("k", "text", "HmacSHA256") == b64_hmac("k", "text", "sha256")
    assert hmac_signature("k", "text", "HmacSHA1") == b64_hmac("k", "text", "sha1")
    with pytest.raises(InvalidParams):
        hmac_signature("k", "text", "HmacMD5")


def test_sign_and_verify_with_hmac_sha1_and_special_characters() -> None:
    params = {"Action": "Pay", "Note": "Grüße 日本 +*~/", "SignatureVersion": "2"}
    signed = sign_query(params, "s3cret", host="fps.example.com", signature_method="HmacSHA1")
    expected_string = (
        "GET\nfps.example.com\n/\n"
        "Action=Pay&Note=Gr%C3%BC%C3%9Fe%20%E6%97%A5%E6%9C%AC%20%2B%2A~%2F&SignatureMethod=HmacSHA1&SignatureVersion=2"
    )
    assert signed["SignatureMethod"] == "HmacSHA1"
    assert signed["Signature"] == b64_hmac("s3cret", expected_string, "sha1")
    assert verify_query(signed, "s3cret", method="GET", host_header="fps.example.com", path="/")


def test_tampered_value_wrong_secret_missing_or_garbled_signature_are_false() -> None:
    signed = {**BOTO_PARAMS, "Signature": BOTO_SIGNATURE}
    verify = {"method": "GET", "host_header": "127.0.0.1:8765", "path": "/"}
    assert not verify_query({**signed, "TransactionAmount.Value": "150.00"}, "secretkey", **verify)
    assert not verify_query(signed, "otherkey", **verify)
    assert not verify_query(BOTO_PARAMS, "secretkey", **verify)
    assert not verify_query({**signed, "Signature": ""}, "secretkey", **verify)
    assert not verify_query({**signed, "Signature": "not base64!"}, "secretkey", **verify)
    assert not verify_query({**signed, "Signature": "Grüße"}, "secretkey", **verify)
    assert not verify_query({**signed, "Signature": BOTO_SIGNATURE}, "secretkey", **{**verify, "path": "/x"})


def test_unsupported_or_missing_signature_method_is_refused() -> None:
    signed = {**BOTO_PARAMS, "Signature": BOTO_SIGNATURE}
    verify = {"method": "GET", "host_header": "127.0.0.1", "path": "/"}
    with pytest.raises(InvalidParams):
        verify_query({**signed, "SignatureMethod": "HmacMD5"}, "secretkey", **verify)
    without_method = {name: value for name, value in signed.items() if name != "SignatureMethod"}
    with pytest.raises(MissingParameter):
        verify_query(without_method, "secretkey", **verify)


def test_php_style_post_signed_with_the_port_verifies_when_posted() -> None:
    params = {"Action": "GetPrepaidBalance", "PrepaidInstrumentId": "P1", "SignatureVersion": "2"}
    signed = sign_query(params, "secretkey", method="POST", host="fps.example.com:8443")
    assert verify_query(signed, "secretkey", method="POST", host_header="fps.example.com:8443", path="/")
    # POST is tried besides the verb used; GET never stands in for a POST.
    assert verify_query(signed, "secretkey", method="GET", host_header="fps.example.com:8443", path="/")
    get_signed = sign_query(params, "secretkey", method="GET", host="fps.example.com")
    assert not verify_query(get_signed, "secretkey", method="POST", host_header="fps.example.com", path="/")


def test_public_host_is_accepted_when_configured() -> None:
    signed = sign_query({"Action": "Pay"}, "secretkey", host="fps.example.com")
    verify = {"method": "GET", "host_header": "10.0.0.5:8765", "path": "/"}
    assert not verify_query(signed, "secretkey", **verify)
    assert verify_query(signed, "secretkey", **verify, public_host="FPS.example.com")


def test_ipv6_host_header_is_tried_without_its_port() -> None:
    signed = sign_query({"Action": "Pay"}, "secretkey", host="[::1]")
    assert verify_query(signed, "secretkey", method="GET", host_header="[::1]:8765", path="/")


def test_cbui_uses_lower_case_signature_keys() -> None:
    params = {
        "callerKey": "AKIDEXAMPLE",
        "pipelineName": "SetupPrepaid",
        "returnURL": "https://shop.example/return?x=1",
        "signatureVersion": "2",
        "Signature": "kept",  # only the lower-case key is left out of the string
    }
    host, path = "authorize.payments-sandbox.amazon.com", "/cobranded-ui/actions/start"
    keys = {"signature_key": "signature", "signature_method_key": "signatureMethod"}
    signed = sign_query(params, "secretkey", host=host, path=path, **keys)
    expected_string = (
        "GET\nauthorize.payments-sandbox.amazon.com\n/cobranded-ui/actions/start\n"
        "Signature=kept&callerKey=AKIDEXAMPLE&pipelineName=SetupPrepaid"
        "&returnURL=https%3A%2F%2Fshop.example%2Freturn%3Fx%3D1&signatureMethod=HmacSHA256&signatureVersion=2"
    )
    assert signed["signatureMethod"] == "HmacSHA256"
    assert signed["signature"] == b64_hmac("secretkey", expected_string)
    assert verify_query(signed, "secretkey", method="GET", host_header=host, path=path, **keys)
    without_upper = {name: value for name, value in signed.items() if name != "Signature"}
    assert not verify_query(without_upper, "secretkey", method="GET", host_header=host, path=path, **keys)


# --- Timestamps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "now"),
    [
        ("2026-11-27T20:50:47Z", NOW),
        ("2026-11-27T20:50:47.000Z", NOW),
        ("2026-11-27T13:50:47+00:00", NOW - timedelta(hours=7)),
        ("2009-10-05T22:50:08.010-07:00", datetime(2009, 10, 6, 5, 50, 8, tzinfo=UTC)),
        ("2026-11-27T21:04:47Z", NOW),
        ("2026-11-27T20:36:47Z", NOW),
    ],
)
def test_timestamps_accepted(timestamp: str, now: datetime) -> None:
    check_timestamp({"Timestamp": timestamp}, now)


@pytest.mark.parametrize("timestamp", ["2026-11-27T21:06:47Z", "2026-11-27T20:34:47Z"])
def test_timestamp_16_minutes_off_is_expired(timestamp: str) -> None:
    with pytest.raises(RequestExpired, match=f"Timestamp date is {timestamp}"):
        check_timestamp({"Timestamp": timestamp}, NOW)


def test_expires() -> None:
    check_timestamp({"Expires": "2026-11-27T20:51:00Z"}, NOW)
    with pytest.raises(RequestExpired):
        check_timestamp({"Expires": "2026-11-27T20:50:46Z"}, NOW)
    with pytest.raises(RequestExpired):
        check_timestamp({"Timestamp": "2026-11-27T20:50:40Z", "Expires": "2026-11-27T20:50:46Z"}, NOW)


@pytest.mark.parametrize("expires", ["2099-01-01T00:00:00Z", "2026-11-27T21:06:47Z"])
def test_expires_more_than_15_minutes_ahead_is_refused(expires: str) -> None:
    """A far Expires and no Timestamp would leave a captured request replayable until then."""
    with pytest.raises(RequestExpired, match="more than 15 minutes ahead"):
        check_timestamp({"Expires": expires}, NOW)
    check_timestamp({"Expires": "2026-11-27T21:05:47Z"}, NOW)  # 15 minutes ahead, the most allowed


@pytest.mark.parametrize(
    "timestamp",
    ["yesterday", "2026-11-27", "2026-11-27T20:50:47", "20261127T205047Z", "2026-13-27T20:50:47Z", ""],
)
def test_malformed_timestamp_is_invalid_parameter_value(timestamp: str) -> None:
    expected = f"Value ({timestamp}) for parameter Timestamp is invalid. Must be in ISO8601 format."
    with pytest.raises(InvalidParameterValue) as raised:
        check_timestamp({"Timestamp": timestamp}, NOW)
    assert raised.value.message == expected


def test_timestamp_or_expires_is_required() -> None:
    with pytest.raises(MissingParameter):
        check_timestamp({"Action": "Pay"}, NOW)


def test_utc_timestamp() -> None:
    offset = datetime.fromisoformat("2026-11-27T13:50:47.123456-07:00")
    assert utc_timestamp(offset) == "2026-11-27T20:50:47Z"


# --- Outbound RSA signatures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("fps.test")


def return_params(signature_method: str = "RSA-SHA1") -> dict[str, str]:
    return {
        "status": "SA",
        "tokenID": "T 1/ü",
        "signatureMethod": signature_method,
        "signatureVersion": "2",
        "certificateUrl": "https://fps.test/certs/1/PKICert.pem",
    }


def test_generated_certificate() -> None:
    generated = SigningKey.generate("fps.example.com")
    cert = x509.load_pem_x509_certificate(generated.certificate_pem)
    assert cert.subject.rfc4514_string() == "CN=fps.example.com"
    assert cert.issuer == cert.subject
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(days=3640)
    assert generated.private_key.key_size == 2048


def test_return_url_signature_over_the_https_default_port(key: SigningKey) -> None:
    params = return_params()
    url = "https://Shop.Example:443/orders/re turn"
    expected_string = (
        "GET\nshop.example\n/orders/re%20turn\n"
        "certificateUrl=https%3A%2F%2Ffps.test%2Fcerts%2F1%2FPKICert.pem&signatureMethod=RSA-SHA1"
        "&signatureVersion=2&status=SA&tokenID=T%201%2F%C3%BC"
    )
    assert outbound_string_to_sign("GET", url, params) == expected_string
    signature = key.sign_outbound(params, method="GET", url_endpoint=url)
    public_key = x509.load_pem_x509_certificate(key.certificate_pem).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(  # raises unless the signature covers exactly the hand-written string
        base64.b64decode(signature), expected_string.encode(), padding.PKCS1v15(), hashes.SHA1()
    )
    signed = {**params, "signature": signature}
    assert verify_outbound(signed, method="GET", url_endpoint=url, certificate_pem=key.certificate_pem)
    assert verify_outbound(
        signed,
        method="GET",
        url_endpoint="https://shop.example/orders/re turn",
        certificate_pem=key.certificate_pem,
    )


def test_ipn_signature_keeps_a_non_default_port(key: SigningKey) -> None:
    params = return_params("RSA-SHA256")
    url = "http://127.0.0.1:8080/ipn"
    assert outbound_string_to_sign("POST", url, params).startswith("POST\n127.0.0.1:8080\n/ipn\n")
    signed = {
        **params,
        "signature": key.sign_outbound(
            params, method="POST", url_endpoint=url, signature_method="RSA-SHA256"
        ),
    }
    assert verify_outbound(signed, method="POST", url_endpoint=url, certificate_pem=key.certificate_pem)
    assert not verify_outbound(
        signed, method="POST", url_endpoint="http://127.0.0.1/ipn", certificate_pem=key.certificate_pem
    )
    assert not verify_outbound(signed, method="GET", url_endpoint=url, certificate_pem=key.certificate_pem)


def test_outbound_tampering_other_cert_and_bad_input_are_false(key: SigningKey) -> None:
    params = return_params()
    url = "https://shop.example/return"
    signed = {**params, "signature": key.sign_outbound(params, method="GET", url_endpoint=url)}
    pem = key.certificate_pem
    other_pem = SigningKey.generate("other").certificate_pem

    def verify(candidate: dict[str, str], certificate_pem: bytes = pem) -> bool:
        return verify_outbound(candidate, method="GET", url_endpoint=url, certificate_pem=certificate_pem)

    assert verify(signed)
    assert not verify({**signed, "status": "SE"})
    assert not verify(signed, other_pem)
    assert not verify({**signed, "signatureVersion": "1"})
    assert not verify({name: value for name, value in signed.items() if name != "signatureVersion"})
    assert not verify({**signed, "signatureMethod": "RSA-SHA256"})
    assert not verify({**signed, "signatureMethod": "HmacSHA256"})
    assert not verify({name: value for name, value in signed.items() if name != "signature"})
    assert not verify({**signed, "signature": "not base64!"})
    assert not verify(signed, b"not a certificate")
    assert not verify_outbound(
        signed, method="GET", url_endpoint="https://shop.example:99999/", certificate_pem=pem
    )


def test_sign_outbound_requires_a_matching_signature_method_param(key: SigningKey) -> None:
    with pytest.raises(ValueError):
        key.sign_outbound(
            return_params(), method="GET", url_endpoint="https://a/", signature_method="RSA-SHA256"
        )
    with pytest.raises(ValueError):
        key.sign_outbound(
            return_params("RSA-MD5"), method="GET", url_endpoint="https://a/", signature_method="RSA-MD5"
        )


def test_pem_round_trip_and_mismatch(key: SigningKey) -> None:
    key_pem, cert_pem = key.to_pem()
    loaded = SigningKey.from_pem(key_pem, cert_pem)
    assert loaded.certificate_pem == key.certificate_pem
    params = return_params()
    signature = loaded.sign_outbound(params, method="GET", url_endpoint="https://a/")
    assert verify_outbound(
        {**params, "signature": signature}, method="GET", url_endpoint="https://a/", certificate_pem=cert_pem
    )
    with pytest.raises(ValueError):
        SigningKey.from_pem(key_pem, SigningKey.generate("other").certificate_pem)


def test_outbound_signature_does_not_depend_on_param_order(key: SigningKey) -> None:
    """PKCS#1 v1.5 is deterministic, and the params are sorted before signing."""
    params = return_params()
    first = key.sign_outbound(params, method="GET", url_endpoint="https://a/")
    assert first == key.sign_outbound(dict(reversed(params.items())), method="GET", url_endpoint="https://a/")


def test_a_changed_secret_counts_at_once() -> None:
    signed = sign_query({"Action": "Pay"}, "old-secret", method="POST", host="h", path="/")
    assert verify_query(signed, "old-secret", method="POST", host_header="h", path="/")
    assert not verify_query(signed, "new-secret", method="POST", host_header="h", path="/")
    resigned = sign_query({"Action": "Pay"}, "new-secret", method="POST", host="h", path="/")
    assert verify_query(resigned, "new-secret", method="POST", host_header="h:8080", path="/")
    assert not verify_query(resigned, "old-secret", method="POST", host_header="h:8080", path="/")
