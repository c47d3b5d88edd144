"""The FPS back office's entry script (configuration from FPS_* variables), served with its security
headers by `streamlit run dashboard/serve.py`.

Each run: who is this (the session cookie, a trusted SSO header or OIDC; dashboard.auth), the page list
for their role (`st.navigation`, so a page outside the role is not found even by URL), the page runs, then
any action it proposed is confirmed in a dialog. Signed out, the page asked for (with its query
parameters) goes to the sign-in page as `next`, which leads back to it. The root is a hidden page of its
own that opens the role's landing page, so that every real page keeps its address.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts dashboard/ on the path, not the root
    sys.path.insert(0, str(ROOT))

import altair  # noqa: E402, F401  (the chart library loads with the app, not on the first chart shown)
import streamlit as st  # noqa: E402
from streamlit.navigation.page import StreamlitPage  # noqa: E402

from dashboard import actions, auth, components, nav, search, sign_in, viewer  # noqa: E402
from dashboard.text import md  # noqa: E402

HOME = "home"  # the root page's own url_path (never shown: the root's address is "/")

st.set_page_config(
    page_title="FPS Back Office",
    page_icon=":material/account_balance:",
    layout="wide",
    initial_sidebar_state="expanded",
)


def _pages(specs: list[nav.PageSpec] | tuple[nav.PageSpec, ...]) -> dict[str, StreamlitPage]:
    """The pages of `specs` for st.navigation, by url_path."""
    return {
        spec.url_path: st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path)
        for spec in specs
    }


def _home(opens: Callable[[], None]) -> StreamlitPage:
    """The app's root, a hidden page that `opens` another. Streamlit serves its default page at the root
    and gives it no address of its own (its url_path is ""), so no real page is the default: each keeps
    its address (a deep link, a `next` after sign-in, the page an ended session was on)."""
    return st.Page(opens, title="FPS Back Office", url_path=HOME, default=True, visibility="hidden")


def _key(pages: dict[str, StreamlitPage], page: StreamlitPage) -> str:
    return next(key for key, candidate in pages.items() if candidate is page)


def _signed_out() -> None:
    # Every page is registered (hidden) so that the URL a visitor came with is recognised and kept; none
    # of them runs until sign-in.
    pages = _pages(nav.PAGES)
    home = _home(st.stop)
    current = st.navigation([home, *pages.values()], position="hidden")
    # The root names no page: after sign-in the role's landing page opens.
    auth.sign_in_prompt("" if current is home else _key(pages, current), st.query_params.to_dict())


def _note_unavailable(member_role: str) -> None:
    """Say so when sign-in led here instead of to a page outside the role (dashboard.sign_in)."""
    asked = st.query_params.get(sign_in.UNAVAILABLE_PARAM)
    if asked is None:
        return
    del st.query_params[sign_in.UNAVAILABLE_PARAM]
    if asked in nav.BY_PATH:
        title = nav.BY_PATH[asked].title
        components.flash(
            "warning", f"The {md(title)} page is not available to your role ({md(member_role)})."
        )


def _sidebar(member_name: str, role: str) -> None:
    with st.sidebar:
        st.markdown(f"**{md(member_name)}**  \n:gray[{md(role)}]")
        search.search_box()
        if not auth.signs_out_here():
            st.caption("Signed in by single sign-on.")
        elif st.button("Sign out", icon=":material/logout:", key="fps_sign_out"):
            auth.sign_out()
            st.query_params.clear()
            st.rerun()
        viewer.time_zone_control()


def _open(page: StreamlitPage) -> None:
    """Go on to `page` with this address's query parameters (sign-in's note on a page not available)."""
    st.switch_page(page, query_params=st.query_params.to_dict())


def main() -> None:
    member = auth.current()
    if member is None:
        _signed_out()
        return
    specs = nav.pages_for(member.role)
    pages = _pages(specs)
    landing = pages[nav.landing_page(member.role)]
    home = _home(lambda: _open(landing))
    sections: dict[str, list[StreamlitPage]] = {"": [home]}
    for spec in specs:
        sections.setdefault(spec.section, []).append(pages[spec.url_path])
    current = st.navigation(sections, expanded=True)
    if current is home:
        home.run()  # on to the landing page (st.switch_page ends this run)
    current_key = _key(pages, current)
    st.session_state["fps_pages"] = pages
    st.session_state["fps_page"] = current_key
    _note_unavailable(member.role)
    _sidebar(member.display_name, member.role)
    current.run()
    actions.confirm_pending(current_key)


main()
