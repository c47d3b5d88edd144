"""The Co-Branded UI (reference §10): the pages where a buyer authorizes a merchant's prepaid balance or
credit line, and the signed return to the merchant.

Its modules, each depending only on those above it (no import cycle):
- `round_trips`: the round trip table: when a start URL was first opened, and its one end.
- `request`: the start request: its parameters (wire catalogue `Param`s) and rules, a `PipelineRequest`.
- `state`: the session between pages: the HMAC-sealed state the forms carry, and the nonce cookie.
- `pages`: the HTML, rendered from `templates/` by Jinja2 with autoescaping.
- `controller`: `CoBrandedUi`, which answers each step: verification, round trips, the signed return.
"""
