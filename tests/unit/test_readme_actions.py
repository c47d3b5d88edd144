"""The README's table of FPS actions is the wire catalogue's: the actions answered, with their parameters,
and those refused with InvalidAction, with the FPS product each belongs to. On a difference the test
prints the section as the catalogue makes it, to paste over the README's."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpscore.errors import InvalidAction
from fpscore.wire import ACTIONS, VERSIONS, Kind, Param, action_and_version
from fpscore.wire.catalogue import REFUSED_ACTIONS

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- actions: made from fpscore/wire/catalogue.py; tests/unit/test_readme_actions.py checks it -->"
END = "<!-- end of actions -->"


def _name(param: Param) -> str:
    shown = {Kind.AMOUNT: f"`{param.name}` (amount)", Kind.LIST: f"`{param.name}.N`"}
    text = shown.get(param.kind, f"`{param.name}`")
    if param.kind is Kind.UNSUPPORTED:
        text += " (refused: no marketplace)"
    elif param.kwarg is None:
        text += " (checked, no effect here)"
    elif param.since != VERSIONS[0]:
        text += f" ({param.since})"
    return text


def _names(params: list[Param]) -> str:
    return ", ".join(_name(param) for param in params) or "—"


def actions_section() -> str:
    """The README's actions section between its markers, as the catalogue makes it."""
    answered = [
        f"| `{spec.name}` | {spec.summary} | {_names([p for p in spec.params if p.required])} | "
        f"{_names([p for p in spec.params if not p.required])} |"
        for spec in ACTIONS.values()
    ]
    by_product: dict[str, list[str]] = {}
    for action, product in REFUSED_ACTIONS.items():
        by_product.setdefault(product, []).append(f"`{action}`")
    refused = [f"| {', '.join(actions)} | {product} |" for product, actions in by_product.items()]
    return "\n".join(
        [
            BEGIN,
            "| action | what it does | required | optional |",
            "|---|---|---|---|",
            *answered,
            "",
            "| refused with InvalidAction | it belongs to |",
            "|---|---|",
            *refused,
            END,
        ]
    )


def test_the_readme_table_is_the_catalogue():
    text = README.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "the README lost its actions markers"
    in_readme = text[text.index(BEGIN) : text.index(END) + len(END)]
    expected = actions_section()
    assert in_readme == expected, f"README.md's actions section should read:\n\n{expected}\n"


def test_every_refused_action_is_refused_naming_its_product_and_none_is_also_answered():
    assert not set(REFUSED_ACTIONS) & set(ACTIONS)
    for action, product in REFUSED_ACTIONS.items():
        with pytest.raises(InvalidAction) as refused:
            action_and_version({"Action": action, "Version": VERSIONS[-1]})
        assert product in refused.value.message and action in refused.value.message


def test_what_the_issue_names_is_refused():
    groups = {
        "reserve and capture": {"Reserve", "Settle", "Cancel"},
        "subscriptions": {
            "GetSubscriptionDetails",
            "GetTransactionsForSubscription",
            "CancelSubscriptionAndRefund",
        },
        "recipient verification": {"GetRecipientVerificationStatus"},
        "payment instructions": {"InstallPaymentInstruction", "GetPaymentInstruction"},
    }
    for product, actions in groups.items():
        assert {action for action in actions if REFUSED_ACTIONS[action].startswith(product)} == actions
