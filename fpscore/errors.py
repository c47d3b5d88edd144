"""FPS errors: one exception class per FPS error code, grouped in families that fix the HTTP status.

Every refused request raises one of these before anything moves. The wire layer renders them as the FPS
error document; the client maps a received `<Code>` back to the same class with `error_class(code)`.

`retriable` is the one answer to "may a client resend this request by itself?": yes exactly for the
service faults (ServiceError), which are transient and, the CallerReference being the same, can only
end in the original result. A business refusal is not, even where waiting could change the answer
(InsufficientBalance succeeds once the buyer funds more): resending the same request at once meets the
same refusal, and what to do next is the caller's decision.
"""

from __future__ import annotations


class FpsError(Exception):
    """An FPS error: `code` is the FPS error code, `message` says what was wrong."""

    code = "InternalError"
    http_status = 400
    retriable = False  # see the module docstring: True for the ServiceError family alone

    def __init__(self, message: str, *, request_id: str | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        if http_status is not None:
            self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class RequestError(FpsError):
    """The request itself is malformed or names something that does not exist (HTTP 400)."""


class BusinessError(FpsError):
    """The request is well formed but the payment rules refuse it (HTTP 400)."""


class AuthError(FpsError):
    """The request could not be authenticated (HTTP 403)."""

    http_status = 403


class ServiceError(FpsError):
    """A transient fault of the service: safe to retry with the same CallerReference (HTTP 503)."""

    http_status = 503
    retriable = True


_CLASSES: dict[str, type[FpsError]] = {}


def _define(code: str, family: type[FpsError]) -> type[FpsError]:
    cls = type(code, (family,), {"code": code, "__doc__": f"FPS error {code}."})
    _CLASSES[code] = cls
    return cls


InternalError = _define("InternalError", ServiceError)
Throttling = _define("Throttling", ServiceError)
ConcurrentModification = _define("ConcurrentModification", ServiceError)
# Client side: the processor could not be reached or gave no FPS answer, after every retry.
ServiceUnavailable = _define("ServiceUnavailable", ServiceError)

SignatureDoesNotMatch = _define("SignatureDoesNotMatch", AuthError)
InvalidClientTokenId = _define("InvalidClientTokenId", AuthError)
RequestExpired = _define("RequestExpired", AuthError)
AuthFailure = _define("AuthFailure", AuthError)

InvalidParams = _define("InvalidParams", RequestError)
InvalidParameterValue = _define("InvalidParameterValue", RequestError)
MissingParameter = _define("MissingParameter", RequestError)
InvalidAction = _define("InvalidAction", RequestError)
InvalidVersion = _define("InvalidVersion", RequestError)
InvalidDateRange = _define("InvalidDateRange", RequestError)
InvalidTransactionId = _define("InvalidTransactionId", RequestError)
InvalidTokenId = _define("InvalidTokenId", RequestError)
InvalidTokenId_Sender = _define("InvalidTokenId_Sender", RequestError)
InvalidTokenId_Recipient = _define("InvalidTokenId_Recipient", RequestError)
InvalidCallerReference = _define("InvalidCallerReference", RequestError)
InvalidTokenType = _define("InvalidTokenType", RequestError)
IncompatibleTokens = _define("IncompatibleTokens", RequestError)
DuplicateRequest = _define("DuplicateRequest", RequestError)

AmountOutOfRange = _define("AmountOutOfRange", BusinessError)
InsufficientBalance = _define("InsufficientBalance", BusinessError)
PrepaidFundingLimitExceeded = _define("PrepaidFundingLimitExceeded", BusinessError)
SettleAmountGreaterThanDebt = _define("SettleAmountGreaterThanDebt", BusinessError)
RefundAmountExceeded = _define("RefundAmountExceeded", BusinessError)
TransactionFullyRefundedAlready = _define("TransactionFullyRefundedAlready", BusinessError)
TransactionTypeNotRefundable = _define("TransactionTypeNotRefundable", BusinessError)
InvalidTransactionState = _define("InvalidTransactionState", BusinessError)
InactiveInstrument = _define("InactiveInstrument", BusinessError)
InstrumentExpired = _define("InstrumentExpired", BusinessError)
InstrumentAccessDenied = _define("InstrumentAccessDenied", BusinessError)
TokenNotActive = _define("TokenNotActive", BusinessError)
TokenNotActive_Sender = _define("TokenNotActive_Sender", BusinessError)
TokenAccessDenied = _define("TokenAccessDenied", BusinessError)
TokenUsageError = _define("TokenUsageError", BusinessError)
TransactionDenied = _define("TransactionDenied", BusinessError)


def error_class(code: str) -> type[FpsError]:
    """The class for an FPS error code; an unknown code gets a new class of the generic family."""
    cls = _CLASSES.get(code)
    if cls is None:
        cls = _define(code, FpsError)
    return cls
