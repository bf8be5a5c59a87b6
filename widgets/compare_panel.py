"""The compare panel: several models on the same prompts in a grid, and a blind arena with a leaderboard.

A view over `creator_kit.compare` and `creator_kit.arena`: Run is one ``compare.run(prompts, models=...)``
call. The results are a grid, prompts down and models across; each cell fills in as its model finishes,
the output with its metrics beneath in people's units, and at the end the fastest model is marked. In arena
mode, Run is one ``arena.match`` (two anonymous outputs, A and B), A / B / Tie is one ``arena.vote`` (the names
are revealed), and the leaderboard is ``arena.leaderboard()`` of every vote kept in ``outputs/arena.jsonl``.
The models are ticked in a list of check boxes.

    ComparePanel("text")          # in a notebook cell; "image" for text-to-image models
"""

from __future__ import annotations

import html
import itertools
import threading
from pathlib import Path
from typing import Any

import ipywidgets as w
from traitlets import List, Tuple

import creator_kit as ck
from creator_kit import TEXT_GENERATION, TEXT_TO_IMAGE, CreatorKitError, Event, InvalidInputError, ModelStore, Preview
from widgets.parts import model_options, parse_seed
from widgets.shared.background import BackgroundRun
from widgets.shared.fields import fill_tooltips
from widgets.shared.messages import error_message
from widgets.shared.snapshot import Snapshot
from widgets.shared.style import style_panel, text_html

TASKS = {"text": TEXT_GENERATION, "image": TEXT_TO_IMAGE}
PROMPT_HEADER_CHARS = 60  # a longer prompt heads its row shortened at a word boundary (whole on hover)
HEADER_STYLE = "display: block; line-height: 1.35; overflow-wrap: anywhere"  # wrapped, never cut or overflowing
CORNER = "<span class='ck-muted'>prompt ↓ · model →</span>"  # the grid's top left: how to read it
FASTEST = "<span class='ck-badge ck-tone-ok'>fastest</span>"
HIGHLIGHT = "2px solid var(--ck-ok)"  # the fastest model's cells


class ModelChecklist(w.VBox):
    """The models to compare as check boxes, so choosing several needs no Ctrl-click.

    `options` are (label, model id) pairs, as for a select box; `value` is the ticked ids, in the options' order.
    """

    options = List(help="(label, model id) pairs, one check box each")
    value = Tuple(help="the ids of the ticked models")
    _showing = False  # the boxes are being set from `value`: their changes are not the user's

    def __init__(self) -> None:
        super().__init__(layout={"min_width": "16em"})
        self.observe(lambda _: self._build(), "options")
        self.observe(lambda _: self._show(), "value")
        self._build()

    def _build(self) -> None:
        ids = [model for _, model in self.options]
        self.boxes = {
            model: w.Checkbox(
                model in self.value,
                description=label,
                indent=False,
                layout={"width": "auto"},
                tooltip="tick to put this model in the comparison",
            )
            for label, model in self.options
        }
        for box in self.boxes.values():
            box.observe(lambda _: self._read(), "value")
        empty = w.HTML("<span class='ck-muted'>no installed model of this task yet</span>")
        self.children = list(self.boxes.values()) or [empty]
        self.value = tuple(model for model in self.value if model in ids)

    def _read(self) -> None:
        if not self._showing:
            self.value = tuple(model for model, box in self.boxes.items() if box.value)

    def _show(self) -> None:
        self._showing = True
        try:
            for model, box in self.boxes.items():
                box.value = model in self.value
        finally:
            self._showing = False


class ComparePanel(Snapshot, BackgroundRun, w.VBox):
    """The panel. `comparison` holds the last comparison; `match`, the arena match waiting for its vote."""

    snapshot_title = "Compare models"

    def __init__(self, task: str = "text", *, store: ModelStore | None = None) -> None:
        if task not in TASKS:
            raise InvalidInputError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")
        self.task, self.store = TASKS[task], store or ModelStore()
        self.comparison: ck.compare.Comparison | None = None
        self.match: ck.arena.Match | None = None
        self.models = ModelChecklist()
        self.prompts = w.Textarea(
            description="Prompts",
            placeholder="one prompt per line",
            rows=4,
            layout={"width": "36em", "max_width": "100%"},
            tooltip="each model runs on every prompt: one row of the results per prompt",
        )
        self.seed = w.Text("0", description="Seed", placeholder="random", tooltip="the same seed for every model")
        self.arena_mode = w.Checkbox(
            False,
            description="Blind arena: vote on two unnamed outputs",
            indent=False,
            layout={"width": "auto"},
            tooltip="two of the ticked models, drawn at random, on the first prompt; their names show after your vote",
        )
        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.votes = [w.Button(description=label, disabled=True) for label in ("A is better", "Tie", "B is better")]
        self.status = w.HTML()
        self.results = w.GridBox(layout={"grid_gap": "6px 10px", "align_items": "flex-start", "overflow": "auto"})
        self.board = w.HTML()
        self._grid: list[list[w.Widget]] = []
        self.run_button.on_click(lambda _: self.run())
        for button, choice in zip(self.votes, ("a", "tie", "b"), strict=True):
            button.on_click(lambda _, choice=choice: self.vote(choice))
        self.observe(lambda _: self._say(), ["message", "error"])
        models_heading = w.HTML("<b>Models</b> <span class='ck-muted'>tick 2 to 6</span>")
        super().__init__(
            [
                w.HBox(
                    [w.VBox([models_heading, self.models]), w.VBox([self.prompts, self.seed, self.arena_mode])],
                    layout={"flex_flow": "row wrap", "grid_gap": "6px 24px"},
                ),
                w.HBox([self.run_button, *self.votes]),
                self.status,
                self.results,
                self.board,
            ]
        )
        style_panel(self, "compare")
        fill_tooltips(self)
        self.refresh_models()
        self.show_leaderboard()

    def refresh_models(self) -> None:
        """List the installed models of the panel's task."""
        self.models.options = model_options(self.store, self.task)

    def latest_result(self) -> Any:
        return self.match if self.arena_mode.value else self.comparison

    def run(self) -> None:
        """Compare the chosen models on the prompts, or play an arena match, in a worker thread (Run button)."""
        if self.running:
            return
        prompts = [line.strip() for line in self.prompts.value.splitlines() if line.strip()]
        try:
            seed = parse_seed(self.seed.value)
            models = list(self.models.value)
            ck.compare.check(prompts or [""], models, self.store)  # one clear error before any work
        except CreatorKitError as error:
            self.error, self.message = error, str(error)
            return
        self.error, self.match = None, None
        self.run_button.disabled, self.working = True, True
        if self.arena_mode.value:
            self._lay_out(prompts[:1], ["A", "B"])
            target = self._play
        else:
            self._lay_out(prompts, models)
            target = self._run_comparison
        self.message = "Running the first model…"
        self._worker = threading.Thread(target=target, args=(prompts, models, seed), daemon=True)
        self._worker.start()

    def vote(self, choice: str) -> None:
        """Keep the vote for the match shown ("a", "b" or "tie"), reveal the models, update the leaderboard."""
        if self.match is None:
            return
        a, b = ck.arena.vote(self.match, choice)
        for header, name, side in zip(self._grid[0][1:], (a, b), "AB", strict=True):
            header.value = _title_html(f"{name} ({side})")
        for button in self.votes:
            button.disabled = True
        self.match, self.message = None, f"Kept your vote: {a} (A) against {b} (B)."
        self.show_leaderboard()

    def show_leaderboard(self) -> None:
        """The arena's leaderboard from every vote kept, as a table."""
        standings = ck.arena.leaderboard()
        rows = "".join(
            f"<tr><td>{html.escape(s.model)}</td><td>{s.rating:.0f}</td><td>{s.votes}</td>"
            f"<td>{s.wins} / {s.ties} / {s.losses}</td></tr>"
            for s in standings
        )
        header = "<tr><th>model</th><th>rating</th><th>votes</th><th>won / tied / lost</th></tr>"
        heading = "<div class='ck-section'>Arena leaderboard</div>"
        self.board.value = f"{heading}<table>{header}{rows}</table>" if standings else ""

    def cell(self, prompt: int, column: int) -> w.Widget:
        """The result shown for prompt number `prompt` (from 0) in column `column` (a model, or A / B)."""
        return self._grid[prompt + 1][column + 1]

    def headers(self) -> list[str]:
        """The column headers' HTML: the models (or A / B), the fastest marked."""
        return [header.value for header in self._grid[0][1:]]

    def _lay_out(self, prompts: list[str], columns: list[str]) -> None:
        """An empty grid: a row per prompt, a column per model (or A / B), each cell waiting for its result."""
        waiting = "<span class='ck-muted'>waiting…</span>"
        self._grid = [
            [w.HTML(CORNER), *(w.HTML(_title_html(title)) for title in columns)],
            *([w.HTML(_prompt_html(prompt)), *(w.HTML(waiting) for _ in columns)] for prompt in prompts),
        ]
        self.results.layout.grid_template_columns = f"minmax(7em, 14em) repeat({len(columns)}, minmax(10em, 1fr))"
        self._show_grid()

    def _put(self, prompt: int, column: int, output: str, metrics: dict[str, float] | None = None) -> None:
        """Show `output` (text, or an image's path) and its metrics in the cell of `prompt` and `column`."""
        if self.task == TEXT_GENERATION:
            view = w.HTML(f"<pre class='ck-output'>{html.escape(output)}</pre>")
        else:
            picture = Path(output).read_bytes()  # an image output is its PNG's path; shown no larger than it is
            view = w.Image(value=picture, format="png", layout={"max_width": "100%", "height": "auto"})
        parts = [view]
        if metrics:
            shown = ck.compare.readable(metrics).items()
            spans = (
                f"<span class='ck-metric'><span class='ck-muted'>{name}</span> {value}</span>" for name, value in shown
            )
            parts.append(w.HTML(f"<small>{' '.join(spans)}</small>"))
        self._grid[prompt + 1][column + 1] = w.VBox(parts, layout={"min_width": "0"}).add_class("ck-card")
        self._show_grid()

    def _mark_fastest(self, model: str | None, models: list[str]) -> None:
        """Mark the column of `model` (None: none was measured against another) as the fastest."""
        if model is None:
            return
        column = models.index(model) + 1
        self._grid[0][column].value = _title_html(model, FASTEST)
        for row in self._grid[1:]:
            row[column].layout.border = HIGHLIGHT

    def _show_grid(self) -> None:
        self.results.children = tuple(itertools.chain.from_iterable(self._grid))

    def _run_comparison(self, prompts: list[str], models: list[str], seed: int | None) -> None:
        done = itertools.count()

        def on_event(event: Event) -> None:
            if isinstance(event, Preview):
                index = next(done)  # items come model by model, each on every prompt in turn
                model, prompt = divmod(index, len(prompts))
                self._put(prompt, model, event.value.output, event.value.metrics)
                self.message = f"{index + 1} of {len(models) * len(prompts)} done"

        def compare() -> ck.compare.Comparison:
            comparison = ck.compare.run(prompts, models=models, seed=seed, store=self.store, on_event=on_event)
            self._mark_fastest(comparison.fastest(), models)
            return comparison

        self._background(compare)

    def _play(self, prompts: list[str], models: list[str], seed: int | None) -> None:
        def play() -> ck.arena.Match:
            match = ck.arena.match(prompts[0], models=models, seed=seed)
            for column, output in enumerate(match.outputs):
                self._put(0, column, output)
            for button in self.votes:
                button.disabled = False
            return match

        self._background(play)

    def _background(self, call: Any) -> None:
        try:
            result = call()
        except CreatorKitError as error:
            self.error, self.message = error, str(error)
        except Exception as error:  # shown in the panel: a widget callback must never dump a traceback
            self.error, self.message = error, error_message(error, unexpected=True)
        else:
            if isinstance(result, ck.arena.Match):
                self.match, self.message = result, "Which is better? The names show after your vote."
            else:
                self.comparison, self.message = (
                    result,
                    "Done: the outputs and their manifests are in " + str(result.folder),
                )
        finally:
            self.run_button.disabled, self.working = False, False

    def _say(self) -> None:
        self.status.value = text_html(self.message, error=self.error is not None)


def _title_html(title: str, badge: str = "") -> str:
    """A column's header: a model's id (or A / B), broken anywhere rather than cut when the column is narrow,
    with `badge` (HTML) after it."""
    return f"<b style='{HEADER_STYLE}'>{' '.join(filter(None, [html.escape(title), badge]))}</b>"


def _prompt_html(prompt: str) -> str:
    """A row's header: its prompt, shortened at a word boundary when long, whole on hover."""
    shown = ck.text_fit.shorten(prompt, PROMPT_HEADER_CHARS)
    return f"<b title='{html.escape(prompt)}' style='{HEADER_STYLE}'>{html.escape(shown)}</b>"
