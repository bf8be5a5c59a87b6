"""The panels' look: colours from JupyterLab's variables with AA contrast, full labels, "auto" fields, snapshots.

The browser test measures the rendered panels in Chromium; these tests hold the same promises without a
browser: the stylesheet against JupyterLab's own theme files, the widgets' labels and tooltips, and the static
snapshot an executed notebook keeps (run by a real kernel, exported by nbconvert).
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from PIL import Image

from creator_kit import ModelStore, TrainingConfig
from creator_kit.core.events import Metric
from widgets import GenerationPreviewer, ModelBrowser, TrainingMonitor
from widgets.model_card import INSTALLED, NOT_INSTALLED
from widgets.shared.fields import AutoInt
from widgets.shared.snapshot import render
from widgets.shared.style import CSS, TONES

WIDGETS = Path(__file__).parent.parent / "widgets"
THEMES = Path(sys.prefix) / "share" / "jupyter" / "lab" / "themes" / "@jupyterlab"
AA_CONTRAST = 4.5


@pytest.fixture
def empty_store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "models", offline=True, user_cache=tmp_path / "hf-cache")


def theme_variables(name: str) -> dict[str, str]:
    """The CSS variables a JupyterLab theme defines (its index.css), `var()` references resolved."""
    path = THEMES / f"theme-{name}-extension" / "index.css"
    if not path.exists():
        pytest.skip(f"JupyterLab's {name} theme is not installed at {path}")
    found = dict(re.findall(r"(--[\w-]+)\s*:\s*([^;}]+)", path.read_text()))
    return {name: resolve(value, found) for name, value in found.items()}


def resolve(value: str, variables: dict[str, str]) -> str:
    """`value` with every `var(--name, fallback)` replaced by the variable's value (or the fallback)."""
    while match := re.search(r"var\((--[\w-]+)(?:,\s*([^()]+))?\)", value):
        name, fallback = match.groups()
        value = value[: match.start()] + variables.get(name, fallback or "").strip() + value[match.end() :]
    return value.strip()


def rgb(colour: str, behind: tuple[float, ...] = (255, 255, 255)) -> tuple[float, ...]:
    """A CSS colour (#rgb, #rrggbb, white, black, rgb(), rgba()) as RGB, composited over `behind`."""
    colour = {"white": "#fff", "black": "#000"}.get(colour, colour)
    if colour.startswith("#"):
        digits = colour[1:] if len(colour) > 4 else "".join(c * 2 for c in colour[1:])
        return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))
    numbers = [float(number) for number in re.findall(r"[\d.]+", colour)]
    alpha = numbers[3] if len(numbers) > 3 else 1.0
    return tuple(c * alpha + b * (1 - alpha) for c, b in zip(numbers[:3], behind, strict=True))


def contrast(foreground: tuple[float, ...], background: tuple[float, ...]) -> float:
    """The WCAG 2.1 contrast ratio of two RGB colours."""

    def luminance(colour: tuple[float, ...]) -> float:
        linear = [(c / 255) / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in colour]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def tones(theme: str) -> dict[str, str]:
    """The stylesheet's --ck-* tones in `theme` ("light" or "dark"), as JupyterLab's variables there make them."""
    blocks = re.findall(r"([^{}]+)\{([^}]*)\}", CSS)
    values: dict[str, str] = {}
    for selector, body in blocks:
        dark_only = "data-jp-theme-light='false'" in selector
        if "--ck-" in body and (not dark_only or theme == "dark"):
            values.update(re.findall(r"(--ck-[\w-]+)\s*:\s*([^;]+)", body))
    return {name: resolve(value, theme_variables(theme)) for name, value in values.items()}


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_tone_keeps_aa_contrast_in_both_themes(theme):
    variables, tone = theme_variables(theme), tones(theme)
    backgrounds = [rgb(variables["--jp-layout-color0"]), rgb(variables["--jp-layout-color1"])]  # page, cards
    for name in ("--ck-muted", "--ck-error"):
        for background in backgrounds:
            assert contrast(rgb(tone[name], background), background) >= AA_CONTRAST, (theme, name, background)
    for kind in ("ok", "busy", "info", "error"):  # a badge: the tone behind the text in the colour on it
        assert contrast(rgb(tone["--ck-on-tone"]), rgb(tone[f"--ck-{kind}"])) >= AA_CONTRAST, (theme, kind)
    assert contrast(rgb(tone["--ck-on-warn"]), rgb(tone["--ck-warn"])) >= AA_CONTRAST, theme
    plain = rgb(variables["--jp-layout-color2"])  # the badge of a status without a tone, like "available"
    assert contrast(rgb(variables["--jp-ui-font-color1"], plain), plain) >= AA_CONTRAST, theme


def test_colours_come_only_from_jupyterlab_variables():
    declarations = re.findall(r"(color|background|border[\w-]*|fill|stroke)\s*:\s*([^;}]+)", CSS)
    assert declarations
    for prop, value in declarations:
        for colour in re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|\b(?:white|black|red|gray|grey)\b", value):
            pytest.fail(f"{prop}: {value} is a colour of its own ({colour}), not a --jp-* variable")
    for path in WIDGETS.rglob("*.py"):
        if path.name != "style.py":
            found = re.search(r"colou?r\s*:|#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", path.read_text())
            assert not found, (
                f"{path.name} sets a colour itself ({found[0]}): use the classes of widgets/shared/style.py"
            )
    assert set(INSTALLED) | set(NOT_INSTALLED) | {"downloading", "incomplete"} <= set(TONES)


def test_labelled_controls_show_their_whole_label_and_no_tooltip_that_repeats_it(empty_store):
    panels = [GenerationPreviewer(mode, store=empty_store) for mode in ("text", "image", "video")]
    panels.append(TrainingMonitor(TrainingConfig(model="tiny/gpt2", data="x.txt"), store=empty_store))
    panels.append(ModelBrowser(empty_store))
    try:
        for widget in (child for root in panels for child in walk(root)):
            if getattr(widget, "description", "") and hasattr(widget, "tooltip") and not hasattr(widget, "icon"):
                name = f"{type(widget).__name__} {widget.description!r}"
                assert widget.tooltip is not None, f"{name} has no tooltip: ipywidgets shows 'null'"
                assert widget.tooltip.lower() != widget.description.lower(), f"{name}: its tooltip repeats its label"
        text = panels[0].mode.params
        assert text["repetition_penalty"].style.description_width and text["top_k"].tooltip != "top k"
        image = panels[1].mode
        assert image.negative_prompt.placeholder.startswith("optional") and image.prompt.placeholder.startswith("e.g.")
    finally:
        for root in panels:
            root.close()


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def test_auto_fields_show_auto_for_none_and_read_whole_numbers():
    width = AutoInt("Width", "pixels; empty: the model's own size")
    assert width.value is None and width.box.value == "" and width.box.placeholder == "auto"
    width.value = 64
    assert width.box.value == "64"
    width.box.value = "32"
    assert width.value == 32
    width.box.value = "wide"  # not a number: put back as it was
    assert width.value == 32 and width.box.value == "32"
    width.value = 0  # what "default" used to be: auto
    assert width.value is None and width.box.value == ""
    width.box.value = "auto"
    assert width.value is None and width.box.value == ""


def test_the_monitor_draws_themed_svg_curves_and_saves_a_white_figure(tmp_path):
    monitor = TrainingMonitor(TrainingConfig(model="tiny/gpt2", data="x.txt", name="look"))
    for step in (1, 2):
        monitor.handle(Metric("train", step, {"train_loss": 2.0 / step, "learning_rate": 1e-3}))
    monitor.refresh()
    assert "ck-curves" in monitor.plot._dom_classes and "<polyline class='ck-series-train'" in monitor.plot.value
    assert not re.search(r"(fill|stroke|color)\s*[:=]", monitor.plot.value)  # the stylesheet colours it, by theme
    assert ".ck-series-train { --ck-series: var(--ck-plot-train); }" in CSS
    saved = Image.open(monitor.save_curves(tmp_path / "curves.png")).convert("RGBA")
    assert saved.getpixel((0, 0)) == (255, 255, 255, 255)
    themed = Image.open(io.BytesIO(monitor._figure().png(transparent=True)))  # what show_curves shows, inverted on Dark
    assert themed.mode == "RGBA" and themed.getpixel((0, 0))[3] == 0


def test_a_snapshot_is_static_html_of_what_the_panel_shows(empty_store):
    panel = GenerationPreviewer("image", store=empty_store)
    panel.mode.prompt.value = "a lighthouse <at> dawn"
    panel.mode.width.value = 256
    snapshot = panel.snapshot_html()
    assert "Generation previewer, image mode" in snapshot and "a lighthouse &lt;at&gt; dawn" in snapshot
    assert "Width</span>256" in snapshot and "Height</span><span class='ck-placeholder'>auto" in snapshot
    assert "<script" not in snapshot and not re.search(r"(src|href)=['\"]https?:", snapshot)
    assert render(panel.generate_button) == ""  # buttons do nothing in a snapshot: left out
    panel.close()


def test_an_executed_notebook_keeps_each_panels_final_state_and_exports_it_without_widgets(tmp_path):
    """A real kernel runs the cells (as papermill does): the snapshot after the panel follows its state."""
    code = [
        "import creator_kit as ck\nfrom widgets import GenerationPreviewer\n"
        f"panel = GenerationPreviewer('text', store=ck.ModelStore({str(tmp_path / 'models')!r}, offline=True))\npanel",
        "panel.mode.prompt.value = 'the final state of the prompt'\npanel.generate()",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in code])
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()

    outputs = notebook.cells[0].outputs
    assert "application/vnd.jupyter.widget-view+json" in outputs[0]["data"]
    assert outputs[0]["data"]["text/plain"].startswith("Generation previewer, text mode")
    snapshot = outputs[1]["data"]["text/html"]
    assert "the final state of the prompt" in snapshot and "No text model is installed" in snapshot
    exported, _ = HTMLExporter().from_notebook_node(notebook)
    body = exported.split("<body", 1)[1]
    assert "the final state of the prompt" in body.split("application/vnd.jupyter.widget-state+json")[0]
