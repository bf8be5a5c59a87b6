"""The panels' look: one stylesheet of JupyterLab's `--jp-*` colours, and the classes and HTML pieces that use it.

Colours come only from JupyterLab's CSS variables, so the panels follow the Light and Dark themes and a
live switch between them. Each semantic tone (`--ck-error`, `--ck-ok`, ...) is the `--jp-*` shade that keeps
WCAG AA contrast (4.5:1) on the panel's background in that theme: the darker shades (…-color0) on Light,
the lighter ones (…-color2) on Dark. Panels include the stylesheet once (`stylesheet()`, a hidden HTML
widget shared by all of them) and mark their parts with `add_class`; the static snapshots (`snapshot.py`)
carry the same stylesheet, so an exported notebook looks the same.

After a kernel restart a panel's widgets are dead (ipywidgets 8 marks every view whose model lost its comm
`jupyter-widgets-disconnected`, with a broken-chain icon): the stylesheet then hides the panel and shows its
snapshot in its place, headed by the line that says to run the cell again (`RERUN`); a panel shown inside
another widget, with no snapshot after it, stays, unclickable, under that line instead of the icons.
"""

from __future__ import annotations

import html

import ipywidgets as w

#: Plots are drawn dark on a transparent background; on a dark theme they are inverted (hues kept).
PLOT_CSS = "[data-jp-theme-light='false'] .ck-plot { filter: invert(1) hue-rotate(180deg); }"

#: What a dead panel says after a kernel restart, above its snapshot (or over the panel shown inside another widget).
RERUN = "The kernel restarted, so this panel stopped: run this cell again to use it. Below, the panel as it was."

CSS = (
    """
.ck-panel, .ck-snapshot {
  --ck-muted: var(--jp-ui-font-color2);
  --ck-error: var(--jp-error-color0);
  --ck-ok: var(--jp-success-color0);
  --ck-busy: var(--jp-brand-color0);
  --ck-info: var(--jp-info-color0);
  --ck-warn: var(--jp-warn-color2);
  --ck-on-tone: var(--jp-ui-inverse-font-color0);
  --ck-on-warn: var(--jp-ui-font-color0);
  --ck-plot-train: var(--jp-brand-color0);
  --ck-plot-validation: var(--jp-warn-color0);
  --ck-plot-best: var(--jp-error-color0);
  --ck-plot-accuracy: var(--jp-success-color0);
  --ck-plot-perplexity: var(--jp-info-color0);
  color: var(--jp-ui-font-color1);
  max-width: 100%;
  box-sizing: border-box;
}
[data-jp-theme-light='false'] .ck-panel, [data-jp-theme-light='false'] .ck-snapshot {
  --ck-error: var(--jp-error-color2);
  --ck-ok: var(--jp-success-color2);
  --ck-busy: var(--jp-brand-color2);
  --ck-info: var(--jp-info-color2);
  --ck-on-warn: var(--jp-ui-inverse-font-color0);
  --ck-plot-train: var(--jp-brand-color2);
  --ck-plot-validation: var(--jp-warn-color2);
  --ck-plot-best: var(--jp-error-color2);
  --ck-plot-accuracy: var(--jp-success-color2);
  --ck-plot-perplexity: var(--jp-info-color2);
}
.ck-muted { color: var(--ck-muted); }
.ck-error { color: var(--ck-error); }
.ck-panel ::placeholder, .ck-snapshot .ck-placeholder { color: var(--ck-muted); font-style: italic; opacity: 1; }
.ck-panel textarea:disabled { opacity: 1; color: var(--jp-ui-font-color1); }
.ck-badge {
  display: inline-block; margin-left: 0.5em; padding: 0 0.6em; border-radius: 1em; white-space: nowrap;
  font-size: var(--jp-ui-font-size0); font-weight: 600; line-height: 1.7;
  background: var(--jp-layout-color2); color: var(--jp-ui-font-color1);
}
.ck-tone-ok { background: var(--ck-ok); color: var(--ck-on-tone); }
.ck-tone-busy { background: var(--ck-busy); color: var(--ck-on-tone); }
.ck-tone-info { background: var(--ck-info); color: var(--ck-on-tone); }
.ck-tone-error { background: var(--ck-error); color: var(--ck-on-tone); }
.ck-tone-warn { background: var(--ck-warn); color: var(--ck-on-warn); }
.ck-card {
  background: var(--jp-layout-color1); border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 4px; padding: 4px 8px; min-width: 0;
}
.ck-card .widget-html-content { overflow-wrap: anywhere; line-height: 1.45; }
.ck-card .ck-muted { white-space: nowrap; }
.ck-heading { grid-column: 1 / -1; font-size: var(--jp-ui-font-size2); margin-top: 0.4em; }
.ck-section { font-size: var(--jp-ui-font-size3); font-weight: 600; margin-top: 0.4em; }
.ck-metric { margin-right: 1.5em; white-space: nowrap; }
.jp-OutputArea-child:has(.ck-panel) + .jp-OutputArea-child:has(.ck-snapshot) { display: none; }
.ck-snapshot .ck-rerun { display: none; font-weight: 600; }
.jp-OutputArea-child:has(.ck-panel.jupyter-widgets-disconnected):has(+ .jp-OutputArea-child .ck-snapshot) {
  display: none;
}
.jp-OutputArea-child:has(.ck-panel.jupyter-widgets-disconnected) + .jp-OutputArea-child:has(.ck-snapshot) {
  display: flex;
}
.jp-OutputArea-child:has(.ck-panel.jupyter-widgets-disconnected) + .jp-OutputArea-child .ck-rerun { display: block; }
.jp-OutputArea-child:has(.ck-panel.jupyter-widgets-disconnected) + .jp-OutputArea-child .ck-title { display: none; }
.ck-panel.jupyter-widgets-disconnected { pointer-events: none; }
.ck-panel.jupyter-widgets-disconnected::before {
  content: "RERUN_TEXT"; font: 600 var(--jp-ui-font-size1) var(--jp-ui-font-family);
  color: var(--ck-error); padding: 4px 0;
}
.ck-panel .jupyter-widgets-disconnected::before, .ck-progress.jupyter-widgets-disconnected::before,
.ck-progress .jupyter-widgets-disconnected::before { content: none; }
.ck-snapshot { padding: 4px 0; font-size: var(--jp-ui-font-size1); }
.ck-snapshot .ck-row { display: flex; flex-flow: row wrap; gap: 2px 16px; align-items: baseline; }
.ck-snapshot .ck-column { display: flex; flex-direction: column; gap: 2px; }
.ck-snapshot .ck-grid { display: grid; gap: 6px; }
.ck-snapshot .ck-label { color: var(--ck-muted); margin-right: 0.4em; }
.ck-snapshot pre, .ck-panel pre.ck-output {
  white-space: pre-wrap; margin: 2px 0; font-family: var(--jp-code-font-family);
}
.ck-snapshot img { max-width: 100%; }
.ck-snapshot .ck-title { color: var(--ck-muted); font-style: italic; }
.ck-curves > .widget-html-content, .ck-snapshot .ck-curves { display: flex; flex-flow: row wrap; gap: 4px 16px; }
.ck-chart { flex: 1 1 340px; max-width: 520px; min-width: 0; margin: 0; line-height: 1.6; }
.ck-chart figcaption { display: flex; flex-flow: row wrap; gap: 0 1em; font-size: var(--jp-ui-font-size1); }
.ck-chart svg { display: block; width: 100%; height: auto; overflow: visible; }
.ck-chart text { fill: currentColor; color: var(--ck-muted); font-size: 11px; font-family: var(--jp-ui-font-family); }
.ck-chart .ck-frame { fill: none; stroke: var(--jp-border-color1); }
.ck-chart .ck-gridline { stroke: var(--jp-border-color2); stroke-dasharray: 2 3; }
.ck-chart polyline { fill: none; stroke: var(--ck-series); stroke-width: 1.8; stroke-linejoin: round; }
.ck-chart .ck-faint { stroke-width: 1; opacity: 0.3; }
.ck-chart .ck-dashed { stroke-dasharray: 5 3; }
.ck-chart .ck-marker { fill: var(--ck-series); stroke: none; }
.ck-chart text[class*='ck-series'] { color: var(--ck-series); }
.ck-key { white-space: nowrap; }
.ck-key::before {
  content: ''; display: inline-block; width: 1.4em; margin-right: 0.3em; vertical-align: middle;
  border-top: 2px solid var(--ck-series);
}
.ck-key.ck-dashed::before { border-top-style: dashed; }
.ck-key.ck-star::before { content: '★'; width: auto; border: 0; color: var(--ck-series); }
.ck-series-train { --ck-series: var(--ck-plot-train); }
.ck-series-validation { --ck-series: var(--ck-plot-validation); }
.ck-series-best { --ck-series: var(--ck-plot-best); }
.ck-series-accuracy { --ck-series: var(--ck-plot-accuracy); }
.ck-series-perplexity { --ck-series: var(--ck-plot-perplexity); }
.ck-series-lr { --ck-series: var(--ck-muted); }
"""
    + PLOT_CSS
).replace("RERUN_TEXT", RERUN)

#: Each status a panel shows, and the tone of its badge.
TONES = {
    "available": "",
    "not downloaded": "",
    "downloading": "busy",
    "incomplete": "warn",
    "downloaded": "ok",
    "loaded": "busy",
    "custom": "info",
    "starter": "info",
    "unsafe weights": "error",
    "fits": "ok",
    "tight": "warn",
    "won't fit": "error",
}

_stylesheet: w.HTML | None = None


def stylesheet() -> w.HTML:
    """The hidden HTML widget holding the `<style>` block; one for the kernel, a child of every panel."""
    global _stylesheet
    if _stylesheet is None:
        _stylesheet = w.HTML(f"<style>{CSS}</style>", layout={"display": "none"})
    return _stylesheet


def style_panel(panel: w.Box, name: str) -> None:
    """Mark `panel` as a Creator Kit panel called `name` and put the stylesheet in it."""
    panel.add_class("ck-panel").add_class(f"ck-{name}")
    panel.children = (stylesheet(), *panel.children)


def text_html(text: str, *, error: bool = False, small: bool = False) -> str:
    """`text` escaped, in the error tone when `error`, smaller when `small` ('' stays '')."""
    if not text:
        return ""
    tag = "small" if small else "span"
    tone = " class='ck-error'" if error else ""
    return f"<{tag}{tone}>{html.escape(text)}</{tag}>"


def badge_html(label: str, tooltip: str = "") -> str:
    """A status badge: `label` in a pill coloured by its tone (see TONES; 'downloading 40%' is 'downloading')."""
    tone = TONES.get(label, TONES.get(label.split(" ")[0], ""))
    classes = f"ck-badge ck-tone-{tone}" if tone else "ck-badge"
    title = f" title='{html.escape(tooltip)}'" if tooltip else ""
    return f"<span class='{classes}'{title}>{html.escape(label)}</span>"


def card_grid() -> w.GridBox:
    """A grid of cards: as many columns as fit, each at least 22em wide."""
    return w.GridBox(layout={"grid_template_columns": "repeat(auto-fill, minmax(22em, 1fr))", "grid_gap": "6px"})


def grid_heading(value: str) -> w.HTML:
    """A heading (HTML `value`) across the whole width of a grid of cards."""
    return w.HTML(value).add_class("ck-heading")


def section_heading(title: str) -> w.HTML:
    """The heading of a panel's section."""
    return w.HTML(html.escape(title)).add_class("ck-section")
