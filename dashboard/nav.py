"""The pages and who gets them: each page names the permission it needs (`fpscore.merchant.roles`), and a
role gets the pages its permissions allow. `app.py` registers only those with `st.navigation`, so a page
left out is "not found" by URL too. That is convenience, not security: every action is checked again in
fpscore, whatever the UI shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fpscore.merchant.roles import ROLE_PERMISSIONS, Permission

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / "pages"


@dataclass(frozen=True, slots=True)
class PageSpec:
    url_path: str  # also the file name in pages/, and the deep link: /instrument?instrument=ID
    title: str
    icon: str
    section: str
    permission: Permission  # a role gets the page when its permissions include this one

    @property
    def path(self) -> Path:
        return PAGES_DIR / f"{self.url_path}.py"


PAGES: tuple[PageSpec, ...] = (
    PageSpec("instruments", "Instruments", ":material/credit_card:", "Book", Permission.READ),
    PageSpec("instrument", "Instrument", ":material/account_balance_wallet:", "Book", Permission.READ),
    PageSpec("record", "Record", ":material/receipt_long:", "Book", Permission.READ),
    PageSpec("settlements", "Settlements", ":material/payments:", "Money", Permission.SETTLE),
    PageSpec("write_offs", "Write-offs", ":material/money_off:", "Money", Permission.WRITE_OFF),
    PageSpec("fees", "Fees saved", ":material/savings:", "Insight", Permission.READ_FEES),
    PageSpec("audit", "Audit", ":material/manage_search:", "Insight", Permission.READ_AUDIT),
    PageSpec("health", "Health", ":material/monitor_heart:", "Insight", Permission.RECONCILE),
    PageSpec("staff", "Staff", ":material/group:", "Admin", Permission.MANAGE_STAFF),
)
BY_PATH = {spec.url_path: spec for spec in PAGES}
DEFAULT_PAGE = "instruments"  # the book: where a role opens unless LANDING names its own page
# The page a role opens on (the app's root, and after sign-in without a deep link), when it is not the
# book: the fees analysis is the analyst's work; every other role's work starts from an instrument.
LANDING: dict[str, str] = {"analyst": "fees"}


def pages_for(role: str) -> list[PageSpec]:
    """The pages `role` gets (none for a role that does not exist)."""
    granted = ROLE_PERMISSIONS.get(role, frozenset())
    return [spec for spec in PAGES if spec.permission in granted]


def landing_page(role: str) -> str:
    """The page `role` opens on: its LANDING page when its permissions give it that page, else the book."""
    landing = LANDING.get(role, DEFAULT_PAGE)
    return landing if any(spec.url_path == landing for spec in pages_for(role)) else DEFAULT_PAGE
