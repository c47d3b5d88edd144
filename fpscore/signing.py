"""FPS signatures: Signature Version 2 (HMAC) on query-API and CBUI requests, and RSA on outbound messages.

Both sides share these: the client signs with them; the processor verifies with them, tolerating the host
and verb variants that real SDKs sign (protocol reference "Decisions for this project", §3, §10), and signs
return URLs and IPN posts with its own RSA key and self-signed certificate (§11).
"""

from __future__ import annotations

import base64
import functools
import hmac
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from fpscore.errors import InvalidParameterValue, InvalidParams, MissingParameter, RequestExpired

_HMAC_DIGESTS = {"HmacSHA256": "sha256", "HmacSHA1": "sha1"}
# FPS itself signed with SHA-1, which clients verify; SHA-256 is offered alongside (see "Decisions").
_RSA_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "RSA-SHA1": hashes.SHA1,
    "RSA-SHA256": hashes.SHA256,
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what RFC 3986 encoding leaves as it is
_HOST_WITH_PORT = re.compile(r"(\[[^\]]*\]|[^:]*):[0-9]+")
_ISO8601 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
MAX_CLOCK_SKEW = timedelta(minutes=15)
CERTIFICATE_VALIDITY = timedelta(days=3650)


def rfc3986_quote(value: str) -> str:
    """Percent-encode UTF-8 `value` leaving only `A-Za-z0-9-_.~` literal (uppercase hex, space = %20)."""
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")


def canonical_query(params: Mapping[str, str], exclude: Collection[str] = ("Signature",)) -> str:
    """`name=value` pairs, RFC 3986 encoded, sorted by name, joined by `&`; `exclude` names are left out."""
    # Code-point order of str is the byte order of their UTF-8 encodings, which is what PHP's strcmp sorts by.
    names = sorted(name for name in params if name not in exclude)
    return "&".join(f"{rfc3986_quote(name)}={rfc3986_quote(params[name])}" for name in names)


def _canonical_path(path: str) -> str:
    return "/".join(rfc3986_quote(segment) for segment in path.split("/")) or "/"


def string_to_sign(
    method: str, host: str, path: str, params: Mapping[str, str], exclude: Collection[str] = ("Signature",)
) -> str:
    """The Signature Version 2 string: verb, lowercase host, encoded path, canonical query, one per line."""
    return _joined(method, host, _canonical_path(path), canonical_query(params, exclude))


def _joined(method: str, host: str, canonical_path: str, query: str) -> str:
    return "\n".join((method.upper(), host.lower(), canonical_path, query))


@functools.lru_cache(maxsize=1024)
def _keyed(secret: str, digest: str) -> hmac.HMAC:
    """An HMAC keyed with `secret`, copied for each message: a key is prepared once, not per request."""
    return hmac.new(secret.encode("utf-8"), digestmod=digest)


def _hmac_digest(secret: str, string: str, signature_method: str) -> bytes:
    digest = _HMAC_DIGESTS.get(signature_method)
    if digest is None:
        raise InvalidParams(f"SignatureMethod {signature_method!r} is not supported; use HmacSHA256/HmacSHA1")
    mac = _keyed(secret, digest).copy()
    mac.update(string.encode("utf-8"))
    return mac.digest()


def hmac_signature(secret: str, string: str, method: str) -> str:
    """Base64 HMAC of `string` keyed with `secret`; `method` HmacSHA256 or HmacSHA1, else InvalidParams."""
    return base64.b64encode(_hmac_digest(secret, string, method)).decode("ascii")


def sign_query(
    params: Mapping[str, str],
    secret: str,
    *,
    method: str = "GET",
    host: str,
    path: str = "/",
    signature_method: str = "HmacSHA256",
    signature_key: str = "Signature",
    signature_method_key: str = "SignatureMethod",
) -> dict[str, str]:
    """`params` plus the signature method and the signature (CBUI: `signature`, `signatureMethod` keys)."""
    signed = {**params, signature_method_key: signature_method}
    string = string_to_sign(method, host, path, signed, exclude=(signature_key,))
    signed[signature_key] = hmac_signature(secret, string, signature_method)
    return signed


def _host_variants(*hosts: str | None) -> list[str]:
    """Each host without its port (what most clients sign, so tried first) and as given, lowercased,
    without repeats."""
    variants: dict[str, None] = {}
    for host in filter(None, hosts):
        name = host.strip().lower()
        if match := _HOST_WITH_PORT.fullmatch(name):
            variants[match.group(1)] = None
        variants[name] = None
    return list(variants)


def verify_query(
    params: Mapping[str, str],
    secret: str,
    *,
    method: str,
    host_header: str,
    path: str,
    public_host: str | None = None,
    signature_key: str = "Signature",
    signature_method_key: str = "SignatureMethod",
) -> bool:
    """Whether `params` carry a valid SigV2 signature for any host and verb a known client signs with.

    Hosts: the Host header with and without its port (boto signs without, PHP with), and `public_host`.
    Verbs: the one used, and POST (the PHP SDKs sign POST). A missing or garbled signature is False; an
    unsupported signature method is InvalidParams, a missing one MissingParameter.
    """
    provided = params.get(signature_key)
    if not provided:
        return False
    signature_method = params.get(signature_method_key)
    if signature_method is None:
        raise MissingParameter(f"{signature_method_key} is required")
    if signature_method not in _HMAC_DIGESTS:
        raise InvalidParams(f"{signature_method_key} {signature_method!r} is not supported")
    try:
        provided_digest = base64.b64decode(provided, validate=True)
        # The canonical query and path are the same for every variant: encoded once.
        query, canonical_path = canonical_query(params, exclude=(signature_key,)), _canonical_path(path)
        for verb in dict.fromkeys((method.upper(), "POST")):
            for host in _host_variants(host_header, public_host):
                string = _joined(verb, host, canonical_path, query)
                if hmac.compare_digest(_hmac_digest(secret, string, signature_method), provided_digest):
                    return True
    except ValueError:  # not base64, or text that cannot be UTF-8 encoded (lone surrogates)
        return False
    return False


def _parse_iso8601(params: Mapping[str, str], name: str) -> datetime:
    value = params[name]
    try:
        if not _ISO8601.fullmatch(value):
            raise ValueError(value)
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameterValue(
            f"Value ({value}) for parameter {name} is invalid. Must be in ISO8601 format."
        ) from None


def check_timestamp(params: Mapping[str, str], now: datetime, skew: timedelta = MAX_CLOCK_SKEW) -> None:
    """Refuse a request whose Timestamp is more than `skew` from `now` (aware), or whose Expires has passed
    or lies more than `skew` ahead (a far Expires would make a captured request replayable until then)."""
    if "Timestamp" not in params and "Expires" not in params:
        raise MissingParameter("Timestamp or Expires is required")
    if "Timestamp" in params and abs(now - _parse_iso8601(params, "Timestamp")) > skew:
        raise RequestExpired(f"Request has expired. Timestamp date is {params['Timestamp']}")
    if "Expires" in params:
        expires = _parse_iso8601(params, "Expires")
        if expires < now:
            raise RequestExpired(f"Request has expired. Expires date is {params['Expires']}")
        if expires - now > skew:
            raise RequestExpired(
                f"Expires date {params['Expires']} is more than {skew.total_seconds() / 60:g} minutes ahead"
            )


def utc_timestamp(now: datetime) -> str:
    """`now` (aware) in UTC as FPS clients send it: `2026-11-27T20:50:47Z`."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def outbound_string_to_sign(method: str, url_endpoint: str, params: Mapping[str, str]) -> str:
    """The string RSA-signed on a return URL or IPN: verb, host[:non-default port], encoded path, params.

    `url_endpoint` is scheme://host[:port]/path of the receiving page; every param except `signature` counts.
    """
    parts = urlsplit(url_endpoint)
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{parts.port}"
    query = canonical_query(params, exclude=("signature",))
    return "\n".join((method.upper(), host, _canonical_path(parts.path), query))


@dataclass(frozen=True)
class SigningKey:
    """The processor's RSA key and the self-signed certificate it publishes for outbound signatures."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, common_name: str) -> SigningKey:
        """A new RSA 2048 key with a self-signed certificate for `common_name`, valid about ten years."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))  # a verifier's clock may run a little behind
            .not_valid_after(now + CERTIFICATE_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes) -> SigningKey:
        """Load an unencrypted RSA key and its certificate; ValueError if they do not belong together."""
        key = serialization.load_pem_private_key(key_pem, password=None)
        certificate = x509.load_pem_x509_certificate(cert_pem)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the signing key must be an RSA key")
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if certificate.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
            raise ValueError("the certificate does not match the signing key")
        return cls(key, certificate)

    def to_pem(self) -> tuple[bytes, bytes]:
        """(key PEM, certificate PEM), the inverse of `from_pem`."""
        key_pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return key_pem, self.certificate_pem

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign_outbound(
        self, params: Mapping[str, str], *, method: str, url_endpoint: str, signature_method: str = "RSA-SHA1"
    ) -> str:
        """Base64 PKCS#1 v1.5 signature of `params`, which must already carry `signatureMethod`."""
        if params.get("signatureMethod") != signature_method or signature_method not in _RSA_HASHES:
            raise ValueError(f"params must carry signatureMethod={signature_method} (RSA-SHA1 or RSA-SHA256)")
        string = outbound_string_to_sign(method, url_endpoint, params).encode("utf-8")
        raw = self.private_key.sign(string, padding.PKCS1v15(), _RSA_HASHES[signature_method]())
        return base64.b64encode(raw).decode("ascii")


def verify_outbound(
    params: Mapping[str, str], *, method: str, url_endpoint: str, certificate_pem: bytes
) -> bool:
    """Whether `params` carry a valid signatureVersion 2 RSA signature by the key of `certificate_pem`.

    Never raises on bad input: anything missing, unsupported or garbled is False.
    """
    algorithm = _RSA_HASHES.get(params.get("signatureMethod", ""))
    if algorithm is None or params.get("signatureVersion") != "2" or "signature" not in params:
        return False
    try:
        public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return False
        string = outbound_string_to_sign(method, url_endpoint, params).encode("utf-8")
        raw = base64.b64decode(params["signature"], validate=True)
        public_key.verify(raw, string, padding.PKCS1v15(), algorithm())
    except (ValueError, InvalidSignature):
        return False
    return True
