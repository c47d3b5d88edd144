"""FPS response documents: rendering (processor side) and hardened parsing (client side).

Success: `<ActionResponse xmlns="http://fps.amazonaws.com/doc/<Version>/">`, then `<ActionResult>`
(none for CancelToken), then `ResponseMetadata/RequestId`; default namespace, no prefixes, no whitespace
anywhere (boto keeps leaf text verbatim). Errors: the live FPS shape, compact on one line after the XML
declaration, because the PHP SDKs read it with single-line regexes. A result is `Fields`, an ordered list of
(element name, value); a value of None is left out, an Amount becomes `CurrencyCode` + `Value`, a datetime
ISO 8601 UTC, a nested list child elements. Parsing uses defusedxml (no DTD, no entities), ignores
namespaces, and also reads the SDK mock error shape `<ErrorResponse>`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TypeAlias
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from fpscore.errors import FpsError, error_class
from fpscore.money import Amount
from fpscore.wire.catalogue import namespace

Value: TypeAlias = "str | int | Amount | datetime | Fields | None"
Fields: TypeAlias = list[tuple[str, Value]]

DECLARATION = b'<?xml version="1.0"?>\n'
# Characters XML 1.0 cannot carry; stored text that holds one (it never comes from the API) is masked.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def wire_datetime(moment: datetime) -> str:
    """An aware datetime as responses print it: ISO 8601 UTC with microseconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: str) -> str:
    """`value` as XML character data: masked where XML cannot carry it, `&`, `<` and `>` escaped."""
    return _NOT_XML.sub("\ufffd", value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _elements(fields: Fields, out: list[str]) -> None:
    """Append the elements of `fields` to `out`, as text. Element names are ours, never a client's."""
    for name, value in fields:
        if value is None:
            continue
        if isinstance(value, list):
            out.append(f"<{name}>")
            _elements(value, out)
        elif isinstance(value, Amount):
            out.append(f"<{name}>")
            _elements([("CurrencyCode", value.currency), ("Value", value.wire())], out)
        elif isinstance(value, datetime):
            out.append(f"<{name}>{wire_datetime(value)}")
        else:
            out.append(f"<{name}>{_text(str(value))}")
        out.append(f"</{name}>")


def _document(root: str, fields: Fields, attributes: str = "") -> bytes:
    out = [f"<{root}{attributes}>"]
    _elements(fields, out)
    out.append(f"</{root}>")
    return DECLARATION + "".join(out).encode("utf-8")


def render_success(action: str, version: str, result: Fields | None, request_id: str) -> bytes:
    """`<ActionResponse>` in the namespace of `version`; `result` None leaves out `<ActionResult>`."""
    fields: Fields = [(f"{action}Result", result)] if result is not None else []
    fields.append(("ResponseMetadata", [("RequestId", request_id)]))
    xmlns = _text(namespace(version)).replace('"', "&quot;")
    return _document(f"{action}Response", fields, f' xmlns="{xmlns}"')


def render_error(error: FpsError, request_id: str) -> bytes:
    """The FPS error document for `error`, on one line after the declaration."""
    message = " ".join(error.message.split())  # one line, whatever the message held
    error_fields: Fields = [("Code", error.code), ("Message", message)]
    return _document("Response", [("Errors", [("Error", error_fields)]), ("RequestID", request_id)])


def _parse(body: bytes) -> Element:
    try:
        root: Element = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException) as exc:
        raise ValueError(f"not an acceptable XML document: {exc}") from None
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def _error(root: Element, http_status: int | None) -> FpsError | None:
    if root.tag not in ("Response", "ErrorResponse"):
        return None
    error = root.find("Errors/Error") if root.tag == "Response" else root.find("Error")
    code = error.findtext("Code") if error is not None else None
    if error is None or not code:
        raise ValueError(f"<{root.tag}> without an error code")
    request_id = root.findtext("RequestID") or root.findtext("RequestId")
    return error_class(code)(error.findtext("Message") or "", request_id=request_id, http_status=http_status)


def parse_error(body: bytes, http_status: int | None = None) -> FpsError:
    """The error an FPS error document reports (ValueError if `body` is not one)."""
    error = _error(_parse(body), http_status)
    if error is None:
        raise ValueError("not an FPS error document")
    return error


def parse_response(body: bytes) -> tuple[str, Element | None, str]:
    """(action, `<ActionResult>` element or None, RequestId) of a success document, namespaces removed.

    An error document raises its FpsError; anything else is ValueError.
    """
    root = _parse(body)
    error = _error(root, None)
    if error is not None:
        raise error
    action = root.tag.removesuffix("Response")
    request_id = root.findtext("ResponseMetadata/RequestId")
    if action == root.tag or not request_id:
        raise ValueError(f"<{root.tag}> is not an FPS response")
    return action, root.find(f"{action}Result"), request_id


def parse_amount(element: Element | None, *, signed: bool = False) -> Amount:
    """The Amount of an element holding `CurrencyCode` and `Value`; ValueError when there is none.
    `signed`: the value may be below zero (a balance that can be, such as GetAccountBalance's total)."""
    if element is None:
        raise ValueError("amount element missing")
    value = element.findtext("Value") or ""
    negative = signed and value.startswith("-")
    amount = Amount.parse(
        value.removeprefix("-") if negative else value,
        element.findtext("CurrencyCode") or "",
        allow_zero=True,
    )
    return -amount if negative else amount
