"""The compare panel, driven through its widgets: a grid of prompts by models in people's units, the arena."""

from __future__ import annotations

import html
import re

from conftest import TINY_GPT2

from creator_kit import arena, compare
from widgets.compare_panel import ComparePanel

WAIT_S = 120
COPY = "local/gpt2-copy"
RAW_NAMES = re.compile(r"_s\b|_bytes|tokens_per|\de[+-]\d")  # field names and exponents are not for people


def text_of(widget) -> str:
    """The HTML a grid cell shows (its output and its metrics)."""
    return "".join(text_of(child) for child in widget.children) if hasattr(widget, "children") else widget.value


def tick(panel: ComparePanel, *models: str) -> None:
    """Tick the models' check boxes, as a person would."""
    for model in models:
        panel.models.boxes[model].value = True


def test_the_grid_has_prompts_down_models_across_and_people_s_units(installed_store):
    installed_store.register_local("gpt2-copy", installed_store.get(TINY_GPT2).path, task="text-generation")
    panel = ComparePanel("text", store=installed_store)
    assert {TINY_GPT2, COPY} <= set(panel.models.boxes)  # check boxes: no Ctrl-click to choose several
    tick(panel, TINY_GPT2, COPY)
    assert panel.models.value == tuple(m for m in panel.models.boxes if m in (TINY_GPT2, COPY))
    long_prompt = "The sea rolled over the grey stones of the harbour wall at night"  # over 60 characters
    panel.prompts.value = f"Once upon a time\n{long_prompt}"
    panel.seed.value = "5"
    panel.run_button.click()
    shown = panel.finish(WAIT_S)

    models = list(panel.models.value)
    assert len(panel.results.children) == 3 * (1 + len(models))  # a header row and a row per prompt
    headers = panel.headers()
    assert [re.sub("<[^>]+>", "", header).replace("fastest", "").strip() for header in headers] == models
    assert sum("fastest" in header for header in headers) == 1 and "fastest" in headers[models.index(shown.fastest())]
    row_headers = [panel.results.children[(1 + len(models)) * row].value for row in (1, 2)]
    assert ">Once upon a time<" in row_headers[0]
    shortened = re.search(r">([^<]*)</b>", row_headers[1]).group(1)
    assert shortened.endswith("…") and long_prompt.startswith(shortened[:-1]) and len(shortened) <= 60
    assert long_prompt[len(shortened) - 1] == " ", "the prompt is cut at a word boundary"
    engine = compare.run(["Once upon a time", long_prompt], models=models, seed=5)
    for item in engine.items:
        cell = text_of(panel.cell(engine.prompts.index(item.prompt), models.index(item.model)))
        assert cell.startswith(f"<pre class='ck-output'>{html.escape(item.output)}</pre>")
        assert "tokens/s" in cell and " MB" in cell and re.search(r"\d ms|\d s\b|loaded already", cell)
        assert not RAW_NAMES.search(re.sub("<[^>]+>", " ", cell)), cell
    assert "compare-" in panel.status.value


def test_arena_mode_hides_the_names_until_the_vote_and_keeps_it(installed_store):
    installed_store.register_local("gpt2-copy", installed_store.get(TINY_GPT2).path, task="text-generation")
    panel = ComparePanel("text", store=installed_store)
    tick(panel, TINY_GPT2, COPY)
    panel.prompts.value = "Once upon a time"
    panel.arena_mode.value = True
    panel.run_button.click()
    match = panel.finish(WAIT_S)

    assert [re.sub("<[^>]+>", "", h) for h in panel.headers()] == ["A", "B"]
    assert not any(button.disabled for button in panel.votes)
    assert all(html.escape(output) in text_of(panel.cell(0, i)) for i, output in enumerate(match.outputs))
    panel.votes[0].click()  # A is better
    assert [re.sub("<[^>]+>", "", h) for h in panel.headers()] == [f"{match.models[0]} (A)", f"{match.models[1]} (B)"]
    assert arena.read_votes()[-1]["winner"] == "a" and match.models[0] in panel.board.value


def test_the_arena_label_and_the_model_hint_are_whole(installed_store):
    panel = ComparePanel("text", store=installed_store)
    assert panel.arena_mode.layout.width == "auto" and panel.arena_mode.tooltip != panel.arena_mode.description
    assert "tick 2 to 6" in panel.snapshot_html()


def test_bad_choices_are_said_in_the_panel_before_anything_runs(installed_store):
    panel = ComparePanel("text", store=installed_store)
    tick(panel, TINY_GPT2)
    panel.prompts.value = "Once"
    panel.run_button.click()
    assert panel.wait(WAIT_S) is None and "2 to 6 different models" in panel.status.value
