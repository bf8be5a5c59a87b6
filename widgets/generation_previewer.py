"""The generation previewer: pick a model, set parameters, generate, watch the result arrive.

A view over the engine: each Generate is one `creator_kit.text.stream` call that a notebook cell
could make itself ("Copy parameters as code" writes that call). Generation runs in a worker thread
so the kernel stays responsive; Stop sets the cancel event and the engine stops after the current
token. Modes (text now; image and video later) supply their controls, output and engine call.

    GenerationPreviewer()                 # in a notebook cell
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

import ipywidgets as w

from creator_kit import CreatorKitError, Event, InvalidInputError, ModelStore, Progress, runtime, text

TEXT_TASK = "text-generation"


class TextMode:
    """Controls, output and engine call for text generation."""

    name = "text"

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.model = w.Dropdown(description="Model")
        self.prompt = w.Textarea(description="Prompt", placeholder="Once upon a time", layout={"width": "100%"})
        self.preset = w.Dropdown(description="Preset", options=list(text.PRESETS), value="balanced")
        defaults = text.GenerationParams()
        self.params: dict[str, w.ValueWidget] = {
            "max_new_tokens": w.BoundedIntText(defaults.max_new_tokens, min=1, max=text.MAX_NEW_TOKENS),
            "do_sample": w.Checkbox(defaults.do_sample, indent=False),
            "temperature": w.FloatSlider(defaults.temperature, min=0.05, max=2.0, step=0.05),
            "top_k": w.IntSlider(defaults.top_k, min=0, max=200),
            "top_p": w.FloatSlider(defaults.top_p, min=0.05, max=1.0, step=0.01),
            "repetition_penalty": w.FloatSlider(defaults.repetition_penalty, min=0.5, max=2.0, step=0.05),
        }
        for name, control in self.params.items():
            control.description = name.replace("_", " ")
        self.stop_strings = w.Text(description="Stop at", placeholder="comma-separated strings")
        self.seed = w.Text(description="Seed", placeholder="random")
        self.output = w.Textarea(layout={"width": "100%", "height": "12em"}, disabled=True)
        self.preset.observe(lambda change: self.apply_preset(change["new"]), "value")
        self.controls = w.VBox(
            [
                self.model,
                self.prompt,
                w.HBox([self.preset, self.seed, self.stop_strings]),
                w.GridBox(list(self.params.values()), layout={"grid_template_columns": "repeat(3, 1fr)"}),
            ]
        )
        self.refresh_models()
        self.apply_preset(self.preset.value)

    def refresh_models(self) -> None:
        """List installed text models with their status (loaded, downloaded, custom...)."""
        loaded = set(runtime.loaded())
        models = [m for m in self.store.installed() if m.task == TEXT_TASK and m.status != "incomplete"]
        current = self.model.value
        self.model.options = [
            (f"{m.repo_id} ({'loaded' if m.repo_id in loaded else m.status})", m.repo_id) for m in models
        ]
        ids = [m.repo_id for m in models]
        self.model.value = current if current in ids else (ids[0] if ids else None)

    def apply_preset(self, name: str) -> None:
        """Set the parameter controls to the values of preset `name`."""
        values = text.resolve_params(name)
        for key, control in self.params.items():
            control.value = getattr(values, key)

    def request(self) -> dict[str, Any]:
        """The engine call's arguments, read from the controls."""
        if not self.model.value:
            raise InvalidInputError(
                "No text model is installed. Run `creator-kit models download distilbert/distilgpt2`, then refresh."
            )
        seed = self.seed.value.strip()
        if seed and not seed.isdigit():
            raise InvalidInputError(f"The seed must be a whole number (or empty for random), not {seed!r}.")
        return {
            "prompt": self.prompt.value,
            "model": self.model.value,
            "preset": None,
            **{key: control.value for key, control in self.params.items()},
            "stop": [s for s in (part.strip() for part in self.stop_strings.value.split(",")) if s],
            "seed": int(seed) if seed else None,
        }

    def start(self, request: dict[str, Any], cancel: threading.Event, on_event: Any) -> text.TextStream:
        """Check the parameters and load the model; the returned stream yields the text pieces."""
        arguments = dict(request)
        return text.stream(arguments.pop("prompt"), cancel=cancel, on_event=on_event, **arguments)

    def reset_output(self) -> None:
        self.output.value = ""

    def show(self, piece: str) -> None:
        self.output.value += piece

    def show_result(self, result: text.TextResult) -> None:
        self.output.value = result.text

    @staticmethod
    def describe(result: text.TextResult) -> str:
        parameters = result.manifest.parameters
        return (
            f"{result.manifest.model} · seed {result.manifest.seed} · T={parameters['temperature']} · "
            f"{result.new_tokens} tokens · {result.text[:40]!r}"
        )

    @staticmethod
    def code(result: text.TextResult) -> str:
        """The engine call that reproduces `result` (same model revision, parameters and seed)."""
        parameters = result.manifest.parameters
        arguments = [repr(parameters["prompt"]), f"model={result.manifest.model!r}", "preset=None"]
        arguments += [f"chat={parameters['chat']!r}", f"quantize={parameters['quantize']!r}"]
        arguments += [f"{name}={parameters[name]!r}" for name in text.PARAMETER_NAMES]
        lines = ",\n    ".join(arguments)
        return f"from creator_kit import text\n\nresult = text.generate(\n    {lines},\n)\nprint(result.text)\n"


MODES = {"text": TextMode}


class GenerationPreviewer(w.VBox):
    """The panel. `history` holds the results of this session, newest last."""

    def __init__(self, mode: str = "text", *, store: ModelStore | None = None) -> None:
        if mode not in MODES:
            raise InvalidInputError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
        self.mode = MODES[mode](store or ModelStore())
        self.history: list[Any] = []
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self.generate_button = w.Button(description="Generate", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.refresh_button = w.Button(description="Refresh models", icon="refresh")
        self.status = w.HTML()
        self.history_list = w.Select(description="History", options=[], rows=5, layout={"width": "100%"})
        self.copy_button = w.Button(description="Copy parameters as code", icon="code", disabled=True)
        self.code = w.Textarea(layout={"width": "100%", "height": "10em", "display": "none"})
        self.generate_button.on_click(lambda _: self.generate())
        self.stop_button.on_click(lambda _: self.stop())
        self.refresh_button.on_click(lambda _: self.mode.refresh_models())
        self.copy_button.on_click(lambda _: self.copy_code())
        self.history_list.observe(lambda change: self._select(change["new"]), "value")
        super().__init__(
            [
                self.mode.controls,
                w.HBox([self.generate_button, self.stop_button, self.refresh_button]),
                self.status,
                self.mode.output,
                self.history_list,
                self.copy_button,
                self.code,
            ]
        )

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def generate(self) -> None:
        """Start a generation from the controls' values in a worker thread (Generate button)."""
        if self.running:
            return
        try:
            request = self.mode.request()
        except CreatorKitError as error:
            self._error(error)
            return
        self._cancel = threading.Event()
        self.generate_button.disabled, self.stop_button.disabled = True, False
        self.mode.reset_output()
        self._set_status("Loading the model…")
        self._worker = threading.Thread(target=self._run, args=(request, self._cancel), daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Ask the running generation to stop after the current token (Stop button)."""
        self._cancel.set()
        self.stop_button.disabled = True
        self._set_status("Stopping…")

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running generation ends (for scripts and tests; the panel never needs it)."""
        if self._worker is not None:
            self._worker.join(timeout)

    def copy_code(self) -> None:
        """Show the engine call that reproduces the selected result (Copy parameters as code button)."""
        index = self.history_list.value
        if index is None:
            return
        self.code.value = self.mode.code(self.history[index])
        self.code.layout.display = None

    def _run(self, request: dict[str, Any], cancel: threading.Event) -> None:
        start = time.perf_counter()

        def on_event(event: Event) -> None:
            if isinstance(event, Progress):
                elapsed = time.perf_counter() - start
                self._set_status(
                    f"Generating… {event.completed:.0f} tokens · {elapsed:.1f} s · "
                    f"{event.completed / elapsed:.1f} tokens/s"
                )

        try:
            stream = self.mode.start(request, cancel, on_event)
            self.mode.refresh_models()
            start = time.perf_counter()
            for piece in stream:
                self.mode.show(piece)
            result = stream.result
        except CreatorKitError as error:
            self._error(error)
        except Exception as error:  # shown in the panel: a widget callback must never dump a traceback
            self._error(error, unexpected=True)
        else:
            self.mode.show_result(result)
            self.history.append(result)
            self.history_list.options = [(self.mode.describe(r), i) for i, r in enumerate(self.history)]
            self.history_list.value = len(self.history) - 1
            self.copy_button.disabled = False
            note = " (stopped)" if result.finish_reason == "cancelled" else ""
            self._set_status(
                f"{result.new_tokens} tokens in {result.elapsed_s:.2f} s · {result.tokens_per_s:.1f} tokens/s · "
                f"seed {result.manifest.seed}{note}"
            )
        finally:
            self.generate_button.disabled, self.stop_button.disabled = False, True

    def _select(self, index: int | None) -> None:
        if index is not None:
            self.mode.show_result(self.history[index])
            if self.code.layout.display is None:
                self.copy_code()

    def _set_status(self, message: str) -> None:
        self.status.value = f"<span>{html.escape(message)}</span>"

    def _error(self, error: Exception, unexpected: bool = False) -> None:
        prefix = f"Unexpected {type(error).__name__}: " if unexpected else ""
        self.status.value = f"<span style='color:#b00020'>{html.escape(prefix + str(error))}</span>"
