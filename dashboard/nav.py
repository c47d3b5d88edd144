"""The pages and who gets them. `app.py` registers only a role's pages with `st.navigation`, so a page
left out is "not found" by URL too. That is convenience, not security: every action is checked again by
role in fpscore, whatever the UI shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fpscore.merchant.schema import ROLES

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / "pages"
ALL_ROLES = frozenset(ROLES)


@dataclass(frozen=True, slots=True)
class PageSpec:
    url_path: str  # also the file name in pages/, and the deep link: /instrument?instrument=ID
    title: str
    icon: str
    section: str
    roles: frozenset[str]

    @property
    def path(self) -> Path:
        return PAGES_DIR / f"{self.url_path}.py"


PAGES: tuple[PageSpec, ...] = (
    PageSpec("instruments", "Instruments", ":material/credit_card:", "Book", ALL_ROLES),
    PageSpec("instrument", "Instrument", ":material/account_balance_wallet:", "Book", ALL_ROLES),
    PageSpec("settlements", "Settlements", ":material/payments:", "Money", frozenset({"finance"})),
    PageSpec("write_offs", "Write-offs", ":material/money_off:", "Money", frozenset({"support"})),
    PageSpec("fees", "Fees saved", ":material/savings:", "Insight", frozenset({"analyst", "finance"})),
    PageSpec("audit", "Audit", ":material/manage_search:", "Insight", frozenset({"troubleshooter", "admin"})),
    PageSpec(
        "health", "Health", ":material/monitor_heart:", "Insight", frozenset({"finance", "troubleshooter"})
    ),
    PageSpec("staff", "Staff", ":material/group:", "Admin", frozenset({"admin"})),
)
BY_PATH = {spec.url_path: spec for spec in PAGES}
DEFAULT_PAGE = "instruments"


def pages_for(role: str) -> list[PageSpec]:
    return [spec for spec in PAGES if role in spec.roles]


def allowed(role: str, url_path: str) -> bool:
    spec = BY_PATH.get(url_path)
    return spec is not None and role in spec.roles
