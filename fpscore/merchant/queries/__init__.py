"""Typed read models for the back office: each function takes the merchant's engine and returns frozen
dataclasses, never rows. One module per read model:

- `paging`: the Page of a list and the hard limits every query keeps;
- `instrument_list`: the Instruments page;
- `one_instrument`: the Instrument page (its history with running balances, refundable purchases);
- `movement_list`: the Settlements and Write-offs pages;
- `call_log`: the Audit page's FPS calls and the record of one request;
- `audit_trail`: the Audit page's staff events, and a purchase's timeline;
- `search`: the sidebar's search box, and the read-only record of one movement it opens.

Filtering, sorting, paging and totals happen in SQL, and every query has a hard limit (`paging`). The
pages use them as `queries.<name>`: this package re-exports each module's public names, so that a page
needs one import whichever module a read model lives in; READ_MODULES names the modules whose functions
the dashboard may call as cached read models (`dashboard.resources.read`).
"""

from fpscore.merchant.queries import (
    audit_trail,
    call_log,
    instrument_list,
    movement_list,
    one_instrument,
    search,
)
from fpscore.merchant.queries.audit_trail import (
    AuditEventFilter,
    AuditEventRow,
    TimelineStep,
    audit_events,
    audit_events_export,
)
from fpscore.merchant.queries.call_log import (
    MAX_ATTEMPTS_SHOWN,
    MONEY_ACTIONS,
    ApiAttempt,
    ApiCallFilter,
    ApiCallRow,
    CallRecord,
    MovementSummary,
    OrderSummary,
    action_names,
    api_calls,
    api_calls_export,
    call_record,
)
from fpscore.merchant.queries.instrument_list import (
    INSTRUMENT_SORTS,
    KINDS,
    STATUSES,
    InstrumentFilter,
    InstrumentList,
    InstrumentRow,
    InstrumentTotals,
    instruments,
    instruments_export,
)
from fpscore.merchant.queries.movement_list import (
    MOVEMENT_KINDS,
    MovementFilter,
    MovementList,
    MovementRow,
    movements,
    movements_export,
    staff_names,
)
from fpscore.merchant.queries.one_instrument import (
    MAX_HISTORY_POINTS,
    MAX_REFUNDABLE,
    BalancePoint,
    HistoryEntry,
    InstrumentDetail,
    InstrumentView,
    RefundablePurchase,
    instrument_detail,
    instrument_history,
    instrument_view,
    refundable_purchases,
)
from fpscore.merchant.queries.paging import MAX_COUNT, MAX_EXPORT_ROWS, MAX_OFFSET, MAX_PAGE_SIZE, Page
from fpscore.merchant.queries.search import (
    MAX_HITS,
    HitKind,
    MovementRecord,
    SearchHit,
    SearchResult,
    find,
    movement_record,
)

READ_MODULES = frozenset(
    module.__name__
    for module in (instrument_list, one_instrument, movement_list, call_log, audit_trail, search)
)

__all__ = [
    "INSTRUMENT_SORTS", "KINDS", "MAX_ATTEMPTS_SHOWN", "MAX_COUNT", "MAX_EXPORT_ROWS", "MAX_HISTORY_POINTS",
    "MAX_HITS", "MONEY_ACTIONS",
    "MAX_OFFSET", "MAX_PAGE_SIZE", "MAX_REFUNDABLE", "MOVEMENT_KINDS", "READ_MODULES", "STATUSES",
    "ApiAttempt", "ApiCallFilter", "ApiCallRow", "AuditEventFilter", "AuditEventRow", "BalancePoint",
    "CallRecord", "HistoryEntry", "InstrumentDetail", "InstrumentFilter", "InstrumentList", "InstrumentRow",
    "InstrumentTotals", "InstrumentView", "MovementFilter", "MovementList", "MovementRow", "MovementSummary",
    "OrderSummary", "Page", "RefundablePurchase", "action_names", "api_calls", "api_calls_export",
    "audit_events", "audit_events_export", "call_record", "instrument_detail", "instrument_history",
    "instrument_view", "instruments", "instruments_export", "movements", "movements_export",
    "refundable_purchases", "staff_names", "HitKind", "MovementRecord", "SearchHit", "SearchResult",
    "TimelineStep", "find", "movement_record",
]  # fmt: skip
