"""The Staff page's role selector: it shows the chosen account's role, and "Change role" waits until a
different role is picked."""

from __future__ import annotations

from dashapp import as_signed_in, no_exceptions, shown


def test_the_role_selector_follows_the_chosen_account(seeded):
    at = as_signed_in("ada", "staff")
    no_exceptions(at)
    assert at.selectbox(key="staff_chosen").value == "ada"
    assert at.selectbox(key="staff_role").value == "admin"
    at.selectbox(key="staff_chosen").select("sam").run()
    assert at.selectbox(key="staff_role").value == "support"
    assert at.button(key="staff_change_role").disabled
    at.selectbox(key="staff_role").select("analyst").run()
    assert not at.button(key="staff_change_role").disabled
    at.selectbox(key="staff_role").select("support").run()
    assert at.button(key="staff_change_role").disabled


def test_a_role_picked_for_one_account_is_not_proposed_for_another(seeded):
    at = as_signed_in("ada", "staff")
    at.selectbox(key="staff_chosen").select("ana").run()
    at.selectbox(key="staff_role").select("finance").run()
    at.selectbox(key="staff_chosen").select("theo").run()
    assert at.selectbox(key="staff_role").value == "troubleshooter"
    assert at.button(key="staff_change_role").disabled
    at.selectbox(key="staff_role").select("support").run()
    at.button(key="staff_change_role").click().run()
    assert "**Role:** troubleshooter → **support**" in "\n".join(shown(at.markdown))


def test_after_a_change_the_selector_shows_the_new_role(seeded):
    at = as_signed_in("ada", "staff")
    at.selectbox(key="staff_chosen").select("sam").run()
    at.selectbox(key="staff_role").select("analyst").run()
    at.button(key="staff_change_role").click().run()
    at.button(key="fps_confirm").click().run()
    assert shown(at.success) == ["sam is now analyst."]
    assert at.selectbox(key="staff_role").value == "analyst"
    assert at.button(key="staff_change_role").disabled
    at.selectbox(key="staff_chosen").select("ada").run()
    assert at.selectbox(key="staff_role").value == "admin"


def label_sent(at) -> str:  # type: ignore[no-untyped-def]
    """The Account option's label a browser sends back for the chosen account (it remembers the label)."""
    chosen = at.selectbox(key="staff_chosen")
    return chosen.options[chosen.index]


def still_chosen(at, username: str, label: str) -> None:  # type: ignore[no-untyped-def]
    """`username` is chosen, and the label the browser kept from choosing it still names it."""
    no_exceptions(at)
    chosen = at.selectbox(key="staff_chosen")
    assert chosen.value == username
    assert label_sent(at) == label


def test_the_chosen_account_stays_chosen_after_its_role_changes(seeded):
    at = as_signed_in("ada", "staff")
    at.selectbox(key="staff_chosen").select("sam").run()
    label = label_sent(at)
    at.selectbox(key="staff_role").select("analyst").run()
    at.button(key="staff_change_role").click().run()
    at.button(key="fps_confirm").click().run()
    assert shown(at.success) == ["sam is now analyst."]
    still_chosen(at, "sam", label)
    assert at.selectbox(key="staff_role").value == "analyst"
    assert "Role analyst · Active" in shown(at.caption)


def test_the_chosen_account_stays_chosen_after_it_is_disabled_and_enabled(seeded):
    at = as_signed_in("ada", "staff")
    at.selectbox(key="staff_chosen").select("sam").run()
    label = label_sent(at)
    at.button(key="staff_toggle").click().run()
    at.button(key="fps_confirm").click().run()
    still_chosen(at, "sam", label)
    assert at.button(key="staff_toggle").label == "Enable"
    assert "Role support · Disabled" in shown(at.caption)
    at.button(key="staff_toggle").click().run()
    at.button(key="fps_confirm").click().run()
    still_chosen(at, "sam", label)
    assert at.button(key="staff_toggle").label == "Disable"
