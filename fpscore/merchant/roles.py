"""Who may do what: each staff role's permissions, checked here in fpscore, whatever the UI shows.

finance settles; support writes off and refunds; analysts and troubleshooters only read; admins manage
staff. Every refusal raises `Forbidden` and is recorded as an audit event by the flow that checked it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    READ = "read"
    OPEN_INSTRUMENT = "open_instrument"
    PURCHASE = "purchase"
    FUND = "fund"
    SETTLE = "settle"
    WRITE_OFF = "write_off"
    REFUND = "refund"
    CANCEL_TOKEN = "cancel_token"
    RECONCILE = "reconcile"
    RECOVER = "recover"  # resend movements left in flight (their requests were authorised when made)
    MANAGE_STAFF = "manage_staff"


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "finance": frozenset(
        {Permission.READ, Permission.SETTLE, Permission.FUND, Permission.RECONCILE, Permission.RECOVER}
    ),
    "support": frozenset({Permission.READ, Permission.WRITE_OFF, Permission.REFUND, Permission.CANCEL_TOKEN}),
    "analyst": frozenset({Permission.READ}),
    "troubleshooter": frozenset({Permission.READ, Permission.RECONCILE}),
    "admin": frozenset({Permission.READ, Permission.MANAGE_STAFF}),
}


class Forbidden(Exception):
    """A staff member asked for something their role does not allow."""

    def __init__(self, actor: Actor, permission: Permission):
        super().__init__(f"{actor.name} ({actor.role}) may not {permission.value.replace('_', ' ')}")
        self.actor = actor
        self.permission = permission


@dataclass(frozen=True, slots=True)
class Actor:
    """Who causes a call: a signed-in staff member (with a role) or a job (with every permission it is
    given, e.g. the demo or the storefront's purchase path)."""

    name: str
    role: str
    permissions: frozenset[Permission] | None = None

    @classmethod
    def staff(cls, username: str, role: str) -> Actor:
        if role not in ROLE_PERMISSIONS:
            raise ValueError(f"unknown role {role!r}")
        return cls(username, role)

    @classmethod
    def job(cls, name: str, *permissions: Permission) -> Actor:
        return cls(name, "job", frozenset(permissions))

    def may(self, permission: Permission) -> bool:
        granted = self.permissions if self.permissions is not None else ROLE_PERMISSIONS[self.role]
        return permission in granted
