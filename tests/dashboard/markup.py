"""One checker for "data is text": every string an AppTest run hands Streamlit to render as markdown
(bodies of markdown, captions, titles, alerts, toasts; labels and help texts of widgets, metrics,
expanders, tabs and dialogs; progress and status texts), and whether any of it would render as a link, an
image or HTML that the app did not mean.

Strict by design: after escaped punctuation is set aside, any `](`, `![`, `][`, `]:` or `<` is markup,
except the app's own deep links `[text](./page?…)`. And the text as rendered (escapes resolved) must hold
nothing GFM links by itself: `http(s)://` or `www.` before a dotted name, or `name@domain.` (a superset of
what Streamlit's renderer links). The browser test checks the same with the real renderer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from streamlit.testing.v1 import AppTest

from dashboard.text import WORD_JOINER

MARKDOWN_FIELDS = frozenset({"body", "label", "help", "title", "text"})
PLAIN_ELEMENTS = frozenset({"code", "json", "text", "exception"})  # shown as typed, never as markdown

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_MEANT_LINK = re.compile(r"\[[^\[\]]*\]\(\./[^()\s]*\)")
_MARKUP = re.compile(r"\]\(|!\[|\]\[|\]:|<")
_AUTOLINK = re.compile(r"https?://[-.\w]*\.|www\.|[-.\w+]+@[-\w]+\.", re.IGNORECASE | re.ASCII)


def unintended(source: str) -> list[str]:
    """What in this markdown source would become a link, an image or HTML the app did not mean."""
    syntax = _MEANT_LINK.sub(" ", _ESCAPED.sub("  ", source))
    rendered = _ESCAPED.sub(r"\1", source)
    return [m.group() for m in _MARKUP.finditer(syntax)] + [m.group() for m in _AUTOLINK.finditer(rendered)]


def plain(source: str) -> str:
    """A markdown source as it reads once rendered: escapes resolved, word joiners gone."""
    return _ESCAPED.sub(r"\1", source).replace(WORD_JOINER, "")


def _strings(proto: Any) -> Iterator[str]:
    for field, value in proto.ListFields():
        if field.message_type is not None:
            for message in value if field.is_repeated else [value]:
                yield from _strings(message)
        elif field.name in MARKDOWN_FIELDS and isinstance(value, str):
            yield value


def sources(at: AppTest) -> list[str]:
    """Every markdown source of the last run: main, sidebar, dialogs and toasts (AppTest's whole tree)."""
    found = []
    for node in at._tree:  # the public `main` and `sidebar` leave out toasts
        proto = getattr(node, "proto", None)
        if proto is not None and node.type not in PLAIN_ELEMENTS:
            found.extend(_strings(proto))
    return found


def assert_only_text(at: AppTest) -> None:
    """No markdown source of the last run renders a link, an image or HTML the app did not mean."""
    bad = {source: found for source in sources(at) if (found := unintended(source))}
    assert not bad, bad
