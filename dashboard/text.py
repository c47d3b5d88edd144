"""Data is text: every value from outside (a customer's name or email, a product description, a staff
display name, a CallerReference, a query parameter, a processor's error message) goes through `md` before
it is interpolated into anything Streamlit renders as markdown: `st.markdown`, captions, `st.info` /
`st.warning` / `st.error` / `st.success`, toasts, dialog titles, labels and help texts.

Markdown, Streamlit's directives (`:red[…]`, `:material/…:`, emoji shortcodes) and LaTeX (`$…$`) are all
started by ASCII punctuation, and CommonMark lets a backslash make any ASCII punctuation literal, so
escaping every one of them leaves nothing that can open a link, an image, HTML, a code span or a
directive. Line breaks become spaces, so a value cannot start a block of its own (a heading, a list, a
link reference definition). Inside a code span backslashes are literal, so values are never put between
backticks: `md` them instead.
"""

from __future__ import annotations

import string

_ESCAPES = {ord(char): "\\" + char for char in string.punctuation}


def md(value: object) -> str:
    """`value` as literal text inside markdown: every ASCII punctuation escaped, whitespace runs as one
    space (so no line breaks)."""
    return " ".join(str(value).split()).translate(_ESCAPES)
