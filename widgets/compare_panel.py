"""The compare panel: several models on the same prompts side by side, and a blind arena with a leaderboard.

A view over `creator_kit.compare` and `creator_kit.arena`: Run is one ``compare.run(prompts, models=...)``
call (columns fill in as each model finishes, metrics beneath); in arena mode, Run is one ``arena.match``
(two anonymous outputs), A / B / Tie is one ``arena.vote`` (the names are revealed), and the leaderboard
is ``arena.leaderboard()`` of every vote kept in ``outputs/arena.jsonl``.

    ComparePanel("text")          # in a notebook cell; "image" for text-to-image models
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as w

import creator_kit as ck
from creator_kit import TEXT_GENERATION, TEXT_TO_IMAGE, CreatorKitError, Event, InvalidInputError, ModelStore, Preview
from widgets.parts import model_options, parse_seed
from widgets.shared.background import BackgroundRun
from widgets.shared.fields import fill_tooltips
from widgets.shared.messages import error_message
from widgets.shared.snapshot import Snapshot
from widgets.shared.style import style_panel, text_html

TASKS = {"text": TEXT_GENERATION, "image": TEXT_TO_IMAGE}


class ComparePanel(Snapshot, BackgroundRun, w.VBox):
    """The panel. `comparison` holds the last comparison; `match`, the arena match waiting for its vote."""

    snapshot_title = "Compare models"

    def __init__(self, task: str = "text", *, store: ModelStore | None = None) -> None:
        if task not in TASKS:
            raise InvalidInputError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")
        self.task, self.store = TASKS[task], store or ModelStore()
        self.comparison: ck.compare.Comparison | None = None
        self.match: ck.arena.Match | None = None
        self.models = w.SelectMultiple(description="Models", layout={"width": "auto"}, rows=4)
        self.prompts = w.Textarea(description="Prompts", placeholder="one prompt per line", layout={"width": "auto"})
        self.seed = w.Text("0", description="Seed", placeholder="random")
        self.arena_mode = w.Checkbox(False, description="Arena: two anonymous outputs, then your vote", indent=False)
        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.votes = [w.Button(description=label, disabled=True) for label in ("A is better", "Tie", "B is better")]
        self.status = w.HTML()
        self.columns = w.HBox(layout={"flex_flow": "row wrap"})
        self.board = w.HTML()
        self.run_button.on_click(lambda _: self.run())
        for button, choice in zip(self.votes, ("a", "tie", "b"), strict=True):
            button.on_click(lambda _, choice=choice: self.vote(choice))
        self.observe(lambda _: self._say(), ["message", "error"])
        super().__init__(
            [
                w.HBox([self.models, w.VBox([self.prompts, w.HBox([self.seed, self.arena_mode])])]),
                w.HBox([self.run_button, *self.votes]),
                self.status,
                self.columns,
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
        self.error, self.match, self.columns.children = None, None, ()
        self.run_button.disabled, self.working = True, True
        target = self._play if self.arena_mode.value else self._run_comparison
        self._worker = threading.Thread(target=target, args=(prompts, models, seed), daemon=True)
        self._worker.start()

    def vote(self, choice: str) -> None:
        """Keep the vote for the match shown ("a", "b" or "tie"), reveal the models, update the leaderboard."""
        if self.match is None:
            return
        a, b = ck.arena.vote(self.match, choice)
        for column, name in zip(self.columns.children, (a, b), strict=True):
            column.children[0].value = f"<b>{html.escape(name)}</b>"
        for button in self.votes:
            button.disabled = True
        self.match, self.message = None, f"Kept your vote: {a} (A) against {b} (B)."
        self.show_leaderboard()

    def show_leaderboard(self) -> None:
        """The arena's leaderboard from every vote kept, as a table."""
        standings = ck.arena.leaderboard()
        rows = "".join(
            f"<tr><td>{html.escape(s.model)}</td><td>{s.rating:.0f}</td><td>{s.votes}</td>"
            f"<td>{s.wins}/{s.ties}/{s.losses}</td></tr>"
            for s in standings
        )
        header = "<tr><th>model</th><th>rating</th><th>votes</th><th>won/tied/lost</th></tr>"
        self.board.value = f"<table>{header}{rows}</table>" if standings else ""

    def _run_comparison(self, prompts: list[str], models: list[str], seed: int | None) -> None:
        def on_event(event: Event) -> None:
            if isinstance(event, Preview):
                item = event.value
                self.columns.children = (*self.columns.children, self._column(item.model, item.output, item.metrics))
                self.message = f"{len(self.columns.children)} of {len(models) * len(prompts)} done"

        self._background(lambda: ck.compare.run(prompts, models=models, seed=seed, store=self.store, on_event=on_event))

    def _play(self, prompts: list[str], models: list[str], seed: int | None) -> None:
        def play() -> ck.arena.Match:
            match = ck.arena.match(prompts[0], models=models, seed=seed)
            self.columns.children = [
                self._column(side, output) for side, output in zip("AB", match.outputs, strict=True)
            ]
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

    def _column(self, title: str, output: str, metrics: dict[str, float] | None = None) -> w.VBox:
        """One output under its title (a model's name, or A / B), with its metrics beneath when given."""
        if self.task == TEXT_GENERATION:
            view = w.HTML(f"<pre class='ck-output'>{html.escape(output)}</pre>")
        else:
            view = w.Image(value=Path(output).read_bytes(), format="png")  # an image output is its PNG's path
        parts = [w.HTML(f"<b>{html.escape(title)}</b>"), view]
        if metrics:
            parts.append(
                w.HTML(f"<small>{html.escape(' · '.join(f'{k} {v:.3g}' for k, v in metrics.items()))}</small>")
            )
        return w.VBox(parts, layout={"width": "48%"})

    def _say(self) -> None:
        self.status.value = text_html(self.message, error=self.error is not None)
