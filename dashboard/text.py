"""Data is text: every value from outside (a customer's name or email, a product description, a staff
display name, a CallerReference, a query parameter, a processor's error message) goes through `md` before
it is interpolated into anything Streamlit renders as markdown: `st.markdown`, titles and captions,
`st.info` / `st.warning` / `st.error` / `st.success`, toasts, metrics, dialogs, labels and help texts.

Markdown, Streamlit's directives (`:red[…]`, `:material/…:`, emoji shortcodes) and LaTeX (`$…$`) are all
started by ASCII punctuation, and CommonMark lets a backslash make any ASCII punctuation literal, so
escaping every one of them leaves nothing that can open a link, an image, HTML, a code span or a
directive. Line breaks become spaces, so a value cannot start a block of its own (a heading, a list, a
link reference definition). Inside a code span backslashes are literal, so values are never put between
backticks: `md` them instead.

Escapes are not enough for GFM's literal autolinks: Streamlit's renderer finds a bare `https://x.y`,
`www.x.y` or `name@x.y` in the text after the escapes are resolved, and links it. Each of those needs a
dot right after a letter or digit of the domain, so a word joiner (U+2060, zero width, invisible) goes
before every dot: the text reads the same, and no domain is recognised.
"""

from __future__ import annotations

import string

WORD_JOINER = "\u2060"
_ESCAPES = {ord(char): "\\" + char for char in string.punctuation} | {ord("."): WORD_JOINER + "\\."}


def md(value: object) -> str:
    """`value` as literal text inside markdown: every ASCII punctuation escaped, a word joiner before every
    dot (no autolinks), whitespace runs as one space (so no line breaks)."""
    return " ".join(str(value).split()).translate(_ESCAPES)
