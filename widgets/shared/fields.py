"""Controls the panels share: full labels with real tooltips, and a whole number that may be "auto".

ipywidgets shows a control's `tooltip` on its label, and the text "null" when there is none; `labelled`
gives a control its label, the width the label needs and a tooltip that says what the value does, and
`fill_tooltips` gives every other labelled control an empty one: no hover text rather than its label again.

    width = AutoInt("Width", "pixels, a multiple of 8; empty: the model's own size")
    width.value            # None (auto) until a number is typed
"""

from __future__ import annotations

from typing import TypeVar

import ipywidgets as w
from ipywidgets.widgets.widget_description import DescriptionWidget
from traitlets import Int, observe, validate

#: The label width of a group of controls with long labels: enough for "repetition penalty".
LABEL_WIDTH = "9.5em"

Control = TypeVar("Control", bound=DescriptionWidget)


def labelled(control: Control, label: str, tooltip: str, width: str | None = None) -> Control:
    """`control` with `label` and `tooltip` on hover; its label `width` wide if given (for a long label, or a
    group of them: LABEL_WIDTH), else as wide as ipywidgets makes labels. Returns `control`."""
    control.description, control.tooltip = label, tooltip
    if width is not None:
        control.style.description_width = width
    return control


def fill_tooltips(root: w.Widget) -> None:
    """Give every labelled control under `root` that has no tooltip an empty one: no hover text, rather than "null"
    or its label repeated."""
    for child in getattr(root, "children", ()):
        fill_tooltips(child)
    if isinstance(root, DescriptionWidget) and root.description and root.tooltip is None:
        root.tooltip = ""


class AutoInt(w.HBox):
    """A whole number or None ("auto"): a text box whose empty value reads "auto" and means None.

    `value` is the number (0 means auto too); the box shows it, and typing in the box sets it once the
    typing is done (Enter or leaving the box). Text that is not a whole number is put back as it was.
    """

    value = Int(None, allow_none=True, help="the number, or None for auto")

    def __init__(self, label: str, tooltip: str, value: int | None = None) -> None:
        self.box = labelled(w.Text(placeholder="auto", continuous_update=False), label, tooltip)
        super().__init__([self.box])
        self.box.observe(lambda change: self._read(change["new"]), "value")
        self.value = value

    @validate("value")
    def _auto_for_zero(self, proposal: dict) -> int | None:
        return proposal["value"] or None

    @observe("value")
    def _show(self, change: dict) -> None:
        self.box.value = "" if change["new"] is None else str(change["new"])

    def _read(self, text: str) -> None:
        text = text.strip()
        if text.lower() in ("", "auto"):
            self.value = None
        elif text.isdigit():
            self.value = int(text)
        self.box.value = "" if self.value is None else str(self.value)
