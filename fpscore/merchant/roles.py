"""Who may do what: the staff roles and each one's permissions, the one definition of both.

finance settles; support writes off and refunds; analysts and troubleshooters only read; admins manage
staff. Everything else derives from ROLE_PERMISSIONS: the staff table's role constraint
(`fpscore.merchant.schema`), the `fpscore staff add --role` choices, and the dashboard's navigation (each
page names the permission it needs, `dashboard.nav`). Actions are checked here in fpscore with `require`,
whatever the UI shows: every refusal raises `Forbidden` and is recorded as an audit event. READ_FEES and
READ_AUDIT choose who gets the Fees saved and Audit pages; the reads behind them ask for READ.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpscore.merchant.audit import AuditLog


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
    READ_FEES = "read_fees"  # the fees saved analysis
    READ_AUDIT = "read_audit"  # the FPS calls made and what staff did


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "finance": frozenset(
        {
            Permission.READ,
            Permission.SETTLE,
            Permission.FUND,
            Permission.RECONCILE,
            Permission.RECOVER,
            Permission.READ_FEES,
        }
    ),
    "support": frozenset({Permission.READ, Permission.WRITE_OFF, Permission.REFUND, Permission.CANCEL_TOKEN}),
    "analyst": frozenset({Permission.READ, Permission.READ_FEES}),
    "troubleshooter": frozenset({Permission.READ, Permission.RECONCILE, Permission.READ_AUDIT}),
    "admin": frozenset({Permission.READ, Permission.MANAGE_STAFF, Permission.READ_AUDIT}),
}
ROLES: tuple[str, ...] = tuple(ROLE_PERMISSIONS)  # every staff role, in the order they are offered


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


def require(
    audit: AuditLog,
    actor: Actor,
    permission: Permission,
    subject: str | None = None,
    action: str | None = None,
) -> None:
    """Refuse, and record the refusal as `action` (the permission's name unless given), unless `actor` may
    do `permission`."""
    if not actor.may(permission):
        error = Forbidden(actor, permission)
        audit.record_event(actor.name, action or permission.value, "Refused", subject, str(error))
        raise error
