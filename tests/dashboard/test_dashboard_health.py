"""The back office asks fpscore's merchant side, never the processor: the health call behind the Health
page checks the ledger only when the processor is embedded and says so, and the pages import no processor
module."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from fpscore.merchant import health
from fpscore.merchant.roles import Actor, Forbidden
from fpscore.merchant.schema import AuditEvent
from fpscore.processor.schema import LedgerAccount

ROOT = Path(__file__).resolve().parents[2]
TROUBLESHOOTER = Actor.staff("theo", "troubleshooter")


def imported_modules(path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path", sorted((ROOT / "pages").glob("*.py")) + sorted((ROOT / "dashboard").glob("*.py"))
)
def test_the_back_office_imports_no_processor_module(path):
    assert not {name for name in imported_modules(path) if name.startswith("fpscore.processor")}


def test_health_checks_the_ledger_when_the_processor_is_embedded_and_finds_a_wrong_balance(seeded, book):
    result = health.check(book, TROUBLESHOOTER)
    assert result.ok and result.ledger_checked and result.differences == [] and not result.rollup
    accounts = LedgerAccount.__table__
    with book.processor_engine.begin() as conn:
        account_id = conn.execute(select(accounts.c.id).where(accounts.c.kind == "fees")).scalar_one()
        conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(balance_cents=accounts.c.balance_cents + 1)
        )
    result = health.check(book, TROUBLESHOOTER)
    assert result.ledger_checked and result.ledger_problems and not result.ok


def test_health_says_the_ledger_is_not_checked_when_the_processor_runs_elsewhere(seeded, book):
    steps: list[str] = []
    result = health.check(dataclasses.replace(book, processor_engine=None), TROUBLESHOOTER, steps.append)
    assert not result.ledger_checked and result.ledger_problems == []
    assert result.differences == [] and result.ok  # reconciliation still compares both sides
    assert (
        not any(step.startswith("Ledger") for step in steps) and "Fee rollup: adding up the records" in steps
    )


def test_health_is_refused_without_the_reconcile_permission_and_the_refusal_recorded(seeded, book):
    with pytest.raises(Forbidden):
        health.check(book, Actor.staff("ana", "analyst"))
    events = AuditEvent.__table__
    with book.engine.connect() as conn:
        refused = conn.execute(
            select(events.c.actor, events.c.subject).where(
                events.c.outcome == "Refused", events.c.action == "reconcile"
            )
        ).all()
    assert [tuple(row) for row in refused] == [("ana", "health")]


def test_what_the_back_office_imports_from_fpscore_loads_no_processor_module():
    """Not only the pages' own imports: nothing they import from fpscore pulls the processor in (the
    embedded processor is loaded by `connect` only when it runs in this process)."""
    wanted = sorted(
        {
            name
            for folder in ("pages", "dashboard")
            for path in (ROOT / folder).glob("*.py")
            for name in imported_modules(path)
            if name.startswith("fpscore")
        }
    )
    probe = "import importlib, sys\n" + "".join(f"importlib.import_module({name!r})\n" for name in wanted)
    probe += "print(sorted(m for m in sys.modules if m.startswith('fpscore.processor')))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert wanted and loaded.stdout.strip() == "[]"
