"""Text a trader typed, a file gave or the broker said, shown as written where Qt guesses markup.

A tooltip (a widget's, a table cell's, a tree item's) is shown as rich text when
``Qt.mightBeRichText`` says it may be: a project named ``<b>alpha</b> & co`` read bold, an
unknown tag such as ``<script>`` hid the rest of the text. Labels have ``widgets.common.plain_label``;
a tooltip has no text format of its own, so its text is escaped instead. No dependencies beyond
Qt: the table models (below ``widgets.common``) take it too."""

from __future__ import annotations

import html
from typing import overload

from PySide6.QtGui import Qt


@overload
def plain_tooltip(text: str) -> str: ...
@overload
def plain_tooltip(text: None) -> None: ...
@overload
def plain_tooltip(text: str | None) -> str | None: ...
def plain_tooltip(text: str | None) -> str | None:
    """``text`` as a tooltip shows it as written: unchanged when Qt would take it for plain text
    (nothing to escape), else escaped and kept to its own lines (``white-space: pre``, as Qt
    lays out a plain tooltip: no wrapping of its own)."""
    if not text or not Qt.mightBeRichText(text):
        return text
    return f'<p style="white-space:pre">{html.escape(text, quote=False)}</p>'
