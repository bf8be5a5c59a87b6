"""The previewer's text mode: the model, prompt, preset and sampling controls, the text streaming in."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as w

import creator_kit as ck
from creator_kit import TEXT_GENERATION, Event, InvalidInputError, ModelStore, Progress, manifest, text_params
from widgets.parts import Report, installed_models, parse_seed, seconds
from widgets.shared.fields import LABEL_WIDTH, labelled

if TYPE_CHECKING:
    from pathlib import Path

    from creator_kit import Manifest, Output, TextResult

#: Each sampling control's label.
PARAM_LABELS = {
    "max_new_tokens": "Max new tokens",
    "do_sample": "Sample",
    "temperature": "Temperature",
    "top_k": "Top-k",
    "top_p": "Top-p",
    "repetition_penalty": "Repetition penalty",
}

#: What each sampling control does, shown on hover over its label.
PARAM_TOOLTIPS = {
    "max_new_tokens": "the most tokens to generate",
    "do_sample": "sample each token (varied text); off: always the likeliest token (greedy)",
    "temperature": "how random the sampling is: lower is more predictable, higher more varied",
    "top_k": "sample among the k likeliest tokens only (0: no limit)",
    "top_p": "sample among the likeliest tokens that together reach this probability",
    "repetition_penalty": "above 1 makes repeating the same words less likely",
}


class TextMode:
    """Controls, output and engine call for text generation."""

    name = "text"
    tasks = (TEXT_GENERATION,)

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.model = w.Dropdown(description="Model")
        self.prompt = w.Textarea(description="Prompt", placeholder="e.g. Once upon a time", layout={"width": "auto"})
        self.preset = w.Dropdown(description="Preset", options=list(text_params.PRESETS), value="balanced")
        defaults = text_params.GenerationParams()
        self.params: dict[str, w.ValueWidget] = {
            "max_new_tokens": w.BoundedIntText(defaults.max_new_tokens, min=1, max=text_params.MAX_NEW_TOKENS),
            "do_sample": w.Checkbox(defaults.do_sample),
            "temperature": w.FloatSlider(defaults.temperature, min=0.05, max=2.0, step=0.05),
            "top_k": w.IntSlider(defaults.top_k, min=0, max=200),
            "top_p": w.FloatSlider(defaults.top_p, min=0.05, max=1.0, step=0.01),
            "repetition_penalty": w.FloatSlider(defaults.repetition_penalty, min=0.5, max=2.0, step=0.05),
        }
        for name, control in self.params.items():
            labelled(control, PARAM_LABELS[name], PARAM_TOOLTIPS[name], LABEL_WIDTH).layout.width = "auto"
        self.stop_strings = labelled(
            w.Text(placeholder="optional: comma-separated"), "Stop at", "the text ends before the first of these"
        )
        self.seed = w.Text(description="Seed", placeholder="empty: random")
        self.output = w.Textarea(layout={"width": "auto", "height": "12em"}, disabled=True)
        self.preset.observe(lambda change: self.apply_preset(change["new"]), "value")
        self.model.observe(lambda change: self.apply_model_defaults(), "value")
        self.controls = w.VBox(
            [
                self.model,
                self.prompt,
                w.HBox([self.preset, self.seed, self.stop_strings]),
                w.GridBox(
                    list(self.params.values()),
                    layout={"grid_template_columns": "repeat(auto-fill, minmax(25em, 1fr))", "grid_gap": "0 12px"},
                ),
            ]
        )
        self.refresh_models()
        self.apply_preset(self.preset.value)

    def refresh_models(self) -> None:
        """List installed text models with their status (loaded, downloaded, custom...)."""
        installed_models(self.model, self.store, TEXT_GENERATION)

    def apply_preset(self, name: str) -> None:
        """Set the parameter controls to the values of preset `name`; the length stays unless the preset sets it."""
        length = text_params.PRESETS[name].get("max_new_tokens", self.params["max_new_tokens"].value)
        values = text_params.resolve_params(name, max_new_tokens=length)
        for key, control in self.params.items():
            control.value = getattr(values, key)

    def apply_model_defaults(self) -> None:
        """Put the selected model's catalog settings the preset leaves unset in the controls (a chat model's longer
        answers; `text_params.with_model_defaults`); the length goes back to the generic one for other models."""
        own = text_params.with_model_defaults(self.model.value, self.preset.value, {})
        own.setdefault("max_new_tokens", text_params.GenerationParams().max_new_tokens)
        for key, value in own.items():
            if key in self.params:
                self.params[key].value = value

    def request(self) -> dict[str, Any]:
        """The engine call's arguments, read from the controls."""
        if not self.model.value:
            raise InvalidInputError(
                "No text model is installed. Run `creator-kit models download distilbert/distilgpt2`, then refresh."
            )
        seed = parse_seed(self.seed.value)
        return {
            "prompt": self.prompt.value,
            "model": self.model.value,
            "preset": self.preset.value,
            **{key: control.value for key, control in self.params.items()},
            "stop": [s for s in (part.strip() for part in self.stop_strings.value.split(",")) if s],
            "seed": seed,
        }

    def run(self, request: dict[str, Any], cancel: threading.Event, report: Report) -> TextResult:
        """Stream the text into the output, reporting tokens/s; returns the result."""
        arguments = dict(request)
        self.output.value = ""
        report("Loading the model…")
        start = time.perf_counter()

        def on_event(event: Event) -> None:
            if isinstance(event, Progress):
                elapsed = time.perf_counter() - start
                report(
                    f"Generating… {ck.counted(int(event.completed), 'token')} in {seconds(elapsed)} · "
                    f"{event.completed / elapsed:.1f} tokens/s",
                    event.completed / event.total if event.total else None,
                )

        stream = ck.text.stream(arguments.pop("prompt"), cancel=cancel, on_event=on_event, **arguments)
        start = time.perf_counter()
        for piece in stream:
            self.output.value += piece
        return stream.result

    def show_result(self, result: TextResult) -> None:
        self.output.value = result.text

    @staticmethod
    def save(result: TextResult) -> Path:
        """Save `result` to the outputs folder with its manifest in a sidecar; returns the path."""
        return result.save()

    def clear(self) -> None:
        self.output.value = ""

    def open(self, output: Output) -> None:
        """Show a saved text and put the settings that made it in the controls."""
        self.output.value = output.read_text()
        self.restore(output.manifest)

    def restore(self, record: Manifest) -> None:
        """Put every setting of `record` in the controls: model (if installed), preset, parameters, stop, seed."""
        stored = record.parameters
        if record.model in [repo_id for _, repo_id in self.model.options]:
            self.model.value = record.model  # first: a new model puts its own defaults in the parameters
        if stored.get("preset") in text_params.PRESETS:
            self.preset.value = stored["preset"]  # before the parameters, which it would overwrite
        for key, control in self.params.items():
            control.value = stored[key]
        self.prompt.value, self.stop_strings.value = stored["prompt"], ", ".join(stored["stop"])
        self.seed.value = "" if record.seed is None else str(record.seed)

    @staticmethod
    def summary(result: TextResult) -> str:
        done = "Stopped after" if result.finish_reason == "cancelled" else "Done:"
        return (
            f"{done} {ck.counted(result.new_tokens, 'token')} in {seconds(result.elapsed_s)} · "
            f"{result.tokens_per_s:.1f} tokens/s · seed {result.manifest.seed}"
        )

    @staticmethod
    def code(result: TextResult) -> str:
        """The engine call that reproduces `result` (same model revision, parameters and seed), with its preset."""
        call = {**ck.text.call_from(result.manifest), "preset": result.manifest.parameters.get("preset")}
        return manifest.python_call("text", call, "print(result.text)")
