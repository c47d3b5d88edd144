"""Roles are defined once (fpscore.merchant.roles): the staff table's constraint, the CLI's choices and the
dashboard's navigation all derive from that definition."""

from __future__ import annotations

import pytest

from dashboard import nav
from fpscore import cli
from fpscore.merchant import schema
from fpscore.merchant.roles import ROLE_PERMISSIONS, ROLES


def _role_choices() -> list[str]:
    staff = next(a for a in cli.build_parser()._actions if a.dest == "command").choices["staff"]
    add = next(a for a in staff._actions if a.dest == "staff_command").choices["add"]
    return list(next(a for a in add._actions if a.dest == "role").choices)


def test_the_schema_and_the_cli_take_the_roles_from_roles_py():
    assert ROLES == tuple(ROLE_PERMISSIONS)
    assert schema.ROLES is ROLES
    (check,) = [c for c in schema.Staff.__table__.constraints if c.name == "ck_staff_role"]
    assert str(check.sqltext) == f"role IN {ROLES}"  # the DDL the first migration created, unchanged
    assert _role_choices() == list(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_a_role_gets_the_pages_its_permissions_allow(role):
    granted = ROLE_PERMISSIONS[role]
    assert nav.pages_for(role) == [spec for spec in nav.PAGES if spec.permission in granted]


def test_every_page_is_reachable_by_some_role_and_an_unknown_role_gets_none():
    assert {spec.url_path for role in ROLES for spec in nav.pages_for(role)} == set(nav.BY_PATH)
    assert nav.pages_for("job") == [] and nav.pages_for("") == []
