"""A panel's static snapshot: an HTML copy of what it shows, for wherever its widgets cannot render.

An executed notebook exported with `jupyter nbconvert --to html` needs the widget renderer from a CDN to
draw widgets, so offline its panels would be blank; a notebook reopened without its kernel has no widget
models either. So a panel displays itself as two outputs: the live widget, then a plain HTML snapshot of
its current state (the controls' values, messages, pictures, plots) that follows the panel through its
display id: after every cell (IPython's post_execute, so papermill and nbclient record the final state)
and every SNAPSHOT_INTERVAL_S while it changes (clicks in JupyterLab). While the live panel renders,
a rule of the stylesheet hides the snapshot after it; anywhere else the snapshot is what the reader sees. After a
kernel restart the dead panel is hidden and its snapshot shown, headed by the line that says to run the cell again.
"""

from __future__ import annotations

import base64
import html
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w

from widgets.shared.style import CSS, RERUN

SNAPSHOT_INTERVAL_S = 2.0


@dataclass
class _Shown:
    """Where a panel's snapshot is displayed, and the HTML sent last."""

    handles: list[Any] = field(default_factory=list)
    sent: str = ""


_shown: weakref.WeakKeyDictionary[Any, _Shown] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_poller: threading.Thread | None = None


class Snapshot:
    """Mixin for a panel (an ipywidgets Box): shown with its snapshot after it, kept up to date."""

    snapshot_title = "Creator Kit panel"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        bundle["text/plain"] = f"{self.snapshot_title} (a live panel; its snapshot follows)"
        display(bundle, raw=True)
        sent = self.snapshot_html()
        handle = display({"text/html": sent}, raw=True, display_id=True)
        with _lock:
            shown = _shown.setdefault(self, _Shown())
            shown.handles.append(handle)
            shown.sent = sent
        _follow()

    def snapshot_html(self) -> str:
        """The panel's current state as static HTML (styled by the same stylesheet, no scripts)."""
        title = f"{self.snapshot_title}: a snapshot of the panel (it is live in a notebook with its kernel running)"
        body = "".join(render(child) for child in self.children)
        heading = f"<div class='ck-title'>{html.escape(title)}</div><div class='ck-rerun'>{html.escape(RERUN)}</div>"
        return f"<div class='ck-snapshot'><style>{CSS}</style>{heading}{body}</div>"


def update_snapshots() -> None:
    """Send each shown panel's snapshot again where it changed (a closed panel is forgotten)."""
    with _lock:
        for panel, shown in list(_shown.items()):
            if panel.comm is None:
                del _shown[panel]
                continue
            try:
                current = panel.snapshot_html()
            except Exception:  # a panel in the middle of a change: the next round sends it
                continue
            if current != shown.sent:
                for handle in shown.handles:
                    handle.update({"text/html": current}, raw=True)
                shown.sent = current


def _follow() -> None:
    """Start following the shown panels: after every cell, and in a thread while the kernel is idle."""
    global _poller
    if _poller is not None:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.events.register("post_execute", update_snapshots)
    _poller = threading.Thread(target=_poll, name="creator-kit-snapshots", daemon=True)
    _poller.start()


def _poll() -> None:
    while True:
        time.sleep(SNAPSHOT_INTERVAL_S)
        update_snapshots()


def render(widget: w.Widget) -> str:
    """`widget` and what it holds as static HTML: boxes as rows, columns and grids, controls as "label value",
    pictures inline; buttons, players and hidden widgets leave nothing."""
    layout = getattr(widget, "layout", None)
    if layout is not None and (layout.display == "none" or layout.visibility == "hidden"):
        return ""
    classes = " ".join(name for name in getattr(widget, "_dom_classes", ()) if name != "ck-panel")
    style = _layout_style(layout)
    if isinstance(widget, w.Box):
        inner = "".join(render(child) for child in widget.children)
        kind = "ck-grid" if isinstance(widget, w.GridBox) else "ck-row" if isinstance(widget, w.HBox) else "ck-column"
        return f"<div class='{kind} {classes}'{style}>{inner}</div>" if inner else ""
    if isinstance(widget, w.HTML | w.HTMLMath):
        return f"<div class='{classes}'{style}>{widget.value}</div>" if widget.value else ""
    if isinstance(widget, w.Image):
        if not widget.value:
            return ""
        data = base64.b64encode(bytes(widget.value)).decode("ascii")
        return f"<img class='{classes}'{style} alt='' src='data:image/{widget.format};base64,{data}'>"
    value = _value_html(widget)
    if value is None:
        return ""
    label = getattr(widget, "description", "")
    label_html = f"<span class='ck-label'>{html.escape(label)}</span>" if label else ""
    return f"<div class='ck-field {classes}'>{label_html}{value}</div>"


def _value_html(widget: w.Widget) -> str | None:
    """The value a control shows, as HTML; None for widgets a snapshot leaves out."""
    if isinstance(widget, w.Button | w.Video | w.Audio) or not isinstance(widget, w.ValueWidget):
        return None
    if isinstance(widget, w.Textarea):
        return f"<pre>{html.escape(widget.value)}</pre>" if widget.value else _placeholder(widget)
    if isinstance(widget, w.Select | w.SelectMultiple):
        items = "".join(
            f"<li>{'<b>' if value in _selected(widget) else ''}{html.escape(str(label))}"
            f"{'</b>' if value in _selected(widget) else ''}</li>"
            for label, value in zip(widget._options_labels, widget._options_values, strict=True)
        )
        return f"<ul>{items}</ul>" if items else "<span class='ck-placeholder'>none yet</span>"
    if isinstance(widget, w.Dropdown):
        return html.escape(str(widget.label)) if widget.label is not None else _placeholder(widget)
    if isinstance(widget, w.Checkbox):
        return "yes" if widget.value else "no"
    if isinstance(widget, w.FloatProgress | w.IntProgress):
        return f"<progress value='{widget.value}' max='{widget.max}'></progress>"
    if isinstance(widget.value, str):
        return html.escape(widget.value) if widget.value else _placeholder(widget)
    readout = getattr(widget, "readout_format", "")
    number = isinstance(widget.value, int | float) and not isinstance(widget.value, bool)
    return html.escape(format(widget.value, readout) if readout and number else str(widget.value))


def _selected(widget: w.Select | w.SelectMultiple) -> tuple[Any, ...]:
    return widget.value if isinstance(widget.value, tuple) else (widget.value,)


def _placeholder(widget: w.Widget) -> str:
    return f"<span class='ck-placeholder'>{html.escape(getattr(widget, 'placeholder', '') or 'empty')}</span>"


def _layout_style(layout: w.Layout | None) -> str:
    """The layout settings that place a part (grid columns and areas, widths), as a style attribute."""
    if layout is None:
        return ""
    names = ("grid_template_columns", "grid_column", "max_width", "width")
    rules = [f"{name.replace('_', '-')}:{value}" for name in names if (value := getattr(layout, name))]
    return f" style='{html.escape(';'.join(rules))}'" if rules else ""
