"""The generation previewer: pick a model, set parameters, generate, watch the result arrive.

A view over the engine: each Generate is one engine call (`text.stream`, `image.generate`) that a
notebook cell could make itself ("Copy parameters as code" writes that call). Generation runs in a
worker thread so the kernel stays responsive; Stop sets the cancel event and the engine stops after
the current token or sampling step. Modes supply their controls, output and engine call.

    GenerationPreviewer()                 # in a notebook cell
"""

from __future__ import annotations

import base64
import html
import io
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

import creator_kit as ck
from creator_kit import (
    TEXT_GENERATION,
    TEXT_TO_IMAGE,
    TEXT_TO_VIDEO,
    CreatorKitError,
    Eta,
    Event,
    InvalidInputError,
    Log,
    Metric,
    ModelStore,
    Preview,
    Progress,
    image,
    manifest,
    runtime,
    storyboard,
    text_params,
    validate,
    video,
)
from widgets.background import BackgroundRun

if TYPE_CHECKING:
    from creator_kit import TextResult

Report = Callable[[str], None]


def installed_models(dropdown: w.Dropdown, store: ModelStore, task: str) -> None:
    """Fill `dropdown` with the installed models of `task` and their status, keeping the selection."""
    loaded = set(runtime.loaded())
    models = [m for m in store.installed(task=task) if m.status != "incomplete"]
    current = dropdown.value
    dropdown.options = [(f"{m.repo_id} ({'loaded' if m.repo_id in loaded else m.status})", m.repo_id) for m in models]
    ids = [m.repo_id for m in models]
    dropdown.value = current if current in ids else (ids[0] if ids else None)


def parse_seed(value: str) -> int | None:
    """The seed typed in a seed box: a whole number, or None (random) when empty."""
    value = value.strip()
    if value and not value.isdigit():
        raise InvalidInputError(f"The seed must be a whole number (or empty for random), not {value!r}.")
    return int(value) if value else None


class TextMode:
    """Controls, output and engine call for text generation."""

    name = "text"
    tasks = (TEXT_GENERATION,)

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.model = w.Dropdown(description="Model")
        self.prompt = w.Textarea(description="Prompt", placeholder="Once upon a time", layout={"width": "auto"})
        self.preset = w.Dropdown(description="Preset", options=list(text_params.PRESETS), value="balanced")
        defaults = text_params.GenerationParams()
        self.params: dict[str, w.ValueWidget] = {
            "max_new_tokens": w.BoundedIntText(defaults.max_new_tokens, min=1, max=text_params.MAX_NEW_TOKENS),
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
        self.output = w.Textarea(layout={"width": "auto", "height": "12em"}, disabled=True)
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
        installed_models(self.model, self.store, TEXT_GENERATION)

    def apply_preset(self, name: str) -> None:
        """Set the parameter controls to the values of preset `name`."""
        values = text_params.resolve_params(name)
        for key, control in self.params.items():
            control.value = getattr(values, key)

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
            "preset": None,
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
                    f"Generating… {event.completed:.0f} tokens · {elapsed:.1f} s · "
                    f"{event.completed / elapsed:.1f} tokens/s"
                )

        stream = ck.text.stream(arguments.pop("prompt"), cancel=cancel, on_event=on_event, **arguments)
        self.refresh_models()
        start = time.perf_counter()
        for piece in stream:
            self.output.value += piece
        return stream.result

    def show_result(self, result: TextResult) -> None:
        self.output.value = result.text

    @staticmethod
    def describe(result: TextResult) -> str:
        parameters = result.manifest.parameters
        return (
            f"{result.manifest.model} · seed {result.manifest.seed} · T={parameters['temperature']:g} · "
            f"{result.new_tokens} tokens · {result.text[:40]!r}"
        )

    @staticmethod
    def summary(result: TextResult) -> str:
        note = " (stopped)" if result.finish_reason == "cancelled" else ""
        return (
            f"{result.new_tokens} tokens in {result.elapsed_s:.2f} s · {result.tokens_per_s:.1f} tokens/s · "
            f"seed {result.manifest.seed}{note}"
        )

    @staticmethod
    def code(result: TextResult) -> str:
        """The engine call that reproduces `result` (same model revision, parameters and seed)."""
        return manifest.python_call("text", ck.text.call_from(result.manifest), "print(result.text)")


class ImageMode:
    """Controls, live preview, gallery and engine call for text-to-image."""

    name = "image"
    tasks = (TEXT_TO_IMAGE,)
    thumbnail = 96

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.model = w.Dropdown(description="Model")
        self.prompt = w.Textarea(description="Prompt", placeholder="a lighthouse at dawn", layout={"width": "auto"})
        self.negative_prompt = w.Text(
            description="Negative", placeholder="blurry, low quality", layout={"width": "auto"}
        )
        defaults = image.ImageParams(prompt="")
        self.width = w.BoundedIntText(0, min=0, max=image.MAX_SIZE, step=8, description="Width")
        self.height = w.BoundedIntText(0, min=0, max=image.MAX_SIZE, step=8, description="Height")
        self.steps = w.BoundedIntText(defaults.steps, min=1, max=image.MAX_STEPS, description="Steps")
        self.guidance = w.FloatSlider(defaults.guidance, min=0.0, max=20.0, step=0.5, description="Guidance")
        self.scheduler = w.Dropdown(description="Scheduler", options=[("model default", "")], value="")
        self.seed = w.Text(description="Seed", placeholder="random")
        self.dice = w.Button(icon="dice", tooltip="a random seed", layout={"width": "3em"})
        self.reuse_seed = w.Button(description="Reuse seed", tooltip="the seed of the selected result")
        self.output = w.Image(format="png", layout={"max_width": "512px"})
        self.gallery = w.HBox(layout={"flex_flow": "row wrap"})
        self.results: list[image.ImageResult] = []
        self.dice.on_click(lambda _: setattr(self.seed, "value", str(validate.random_seed())))
        self.reuse_seed.on_click(
            lambda _: self.results and setattr(self.seed, "value", str(self.results[-1].manifest.seed))
        )
        self.model.observe(lambda change: self.refresh_schedulers(), "value")
        self.controls = w.VBox(
            [
                self.model,
                self.prompt,
                self.negative_prompt,
                w.HBox([self.width, self.height, self.steps]),
                w.HBox([self.guidance, self.scheduler]),
                w.HBox([self.seed, self.dice, self.reuse_seed]),
            ]
        )
        self.refresh_models()

    def refresh_models(self) -> None:
        """List installed text-to-image models with their status."""
        installed_models(self.model, self.store, TEXT_TO_IMAGE)

    def refresh_schedulers(self) -> None:
        """Offer the schedulers the selected model can use (read from its files, without loading it)."""
        names = image.schedulers(self.model.value, store=self.store) if self.model.value else []
        self.scheduler.options = [("model default", ""), *((name, name) for name in names)]

    def request(self) -> dict[str, Any]:
        """The engine call's arguments, read from the controls."""
        if not self.model.value:
            raise InvalidInputError(
                "No text-to-image model is installed. Run `creator-kit models download segmind/tiny-sd`, then refresh."
            )
        return {
            "prompt": self.prompt.value,
            "model": self.model.value,
            "negative_prompt": self.negative_prompt.value,
            "width": self.width.value or None,
            "height": self.height.value or None,
            "steps": self.steps.value,
            "guidance": self.guidance.value,
            "scheduler": self.scheduler.value or None,
            "seed": parse_seed(self.seed.value),
        }

    def run(self, request: dict[str, Any], cancel: threading.Event, report: Report) -> image.ImageResult:
        """Render, showing each step's preview with a step counter and ETA; returns the result."""
        arguments = dict(request)
        report("Loading the model…")

        def on_event(event: Event) -> None:
            if isinstance(event, Preview):
                self.output.format, self.output.value = "jpeg", _encode(event.value, "JPEG")
            elif isinstance(event, Progress):
                left = eta.update(event.completed, event.total)
                elapsed = time.perf_counter() - start
                report(f"Step {event.completed:.0f}/{event.total:.0f} · {elapsed:.1f} s · ETA {left or 0:.1f} s")

        loaded = image.load_model(arguments.pop("model"))
        self.refresh_models()
        start, eta = time.perf_counter(), Eta()  # the rate counts from the first step, not the load
        return image.generate(arguments.pop("prompt"), model=loaded, cancel=cancel, on_event=on_event, **arguments)

    def show_result(self, result: image.ImageResult) -> None:
        self.output.format, self.output.value = "png", _encode(result.image, "PNG")
        if result not in self.results:
            self.results.append(result)
            self.gallery.children = (*self.gallery.children, self._gallery_item(result))

    def use_all(self, result: image.ImageResult) -> None:
        """Put every parameter of `result` back into the controls ("use all" under a gallery image)."""
        parameters = result.manifest.parameters
        if result.manifest.model in [repo_id for _, repo_id in self.model.options]:
            self.model.value = result.manifest.model
        self.prompt.value, self.negative_prompt.value = parameters["prompt"], parameters["negative_prompt"]
        self.width.value, self.height.value = parameters["width"], parameters["height"]
        self.steps.value, self.guidance.value = parameters["steps"], parameters["guidance"]
        self.refresh_schedulers()
        self.scheduler.value = parameters["scheduler"] or ""
        self.seed.value = str(result.manifest.seed)

    def _gallery_item(self, result: image.ImageResult) -> w.VBox:
        thumbnail = _thumb(result.image, self.thumbnail)
        use = w.Button(description="use all", tooltip="restore every parameter of this image", layout={"width": "96px"})
        use.on_click(lambda _: self.use_all(result))
        return w.VBox([w.Image(value=_encode(thumbnail, "PNG"), format="png"), use])

    @staticmethod
    def describe(result: image.ImageResult) -> str:
        parameters = result.manifest.parameters
        return (
            f"{result.manifest.model} · seed {result.manifest.seed} · {parameters['width']}x{parameters['height']} · "
            f"{parameters['steps']} steps · {parameters['prompt'][:40]!r}"
        )

    @staticmethod
    def summary(result: image.ImageResult) -> str:
        parameters = result.manifest.parameters
        return f"{parameters['steps']} steps in {result.elapsed_s:.1f} s · seed {result.manifest.seed}"

    @staticmethod
    def code(result: image.ImageResult) -> str:
        """The engine call that reproduces `result` (same model revision, parameters and seed)."""
        return manifest.python_call("image", image.call_from(result.manifest), "result.image")


def _encode(picture: Any, kind: str) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=kind)
    return buffer.getvalue()


class VideoMode:
    """Controls, stage-by-stage progress, keyframe thumbnails and the finished video for `video.generate`."""

    name = "video"
    tasks = (TEXT_TO_VIDEO, TEXT_TO_IMAGE)  # native text-to-video, or a storyboard from an image model
    thumbnail = 96

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.model = w.Dropdown(description="Model", tooltip="text-to-video (native) or text-to-image (storyboard)")
        self.text_model = w.Dropdown(description="Writer", tooltip="a text model that writes scenes from the idea")
        self.idea = w.Text(description="Idea", placeholder="a fox crossing a snowy forest", layout={"width": "auto"})
        self.scenes = w.Textarea(
            description="Scenes", placeholder="one scene prompt per line (empty: made from the idea)",
            layout={"width": "auto", "height": "6em"},
        )  # fmt: skip
        self.n_scenes = w.BoundedIntText(3, min=1, max=video.MAX_SCENES, description="Scenes from idea")
        self.quality = w.Dropdown(description="Quality", options=list(video.QUALITIES), value="draft")
        self.duration = w.BoundedFloatText(4.0, min=0.1, max=video.MAX_DURATION, step=0.5, description="Seconds")
        self.fps = w.BoundedIntText(0, min=0, max=video.MAX_FPS, description="FPS", tooltip="0: the quality's")
        self.width = w.BoundedIntText(0, min=0, max=video.MAX_SIZE, step=8, description="Width")
        self.height = w.BoundedIntText(0, min=0, max=video.MAX_SIZE, step=8, description="Height")
        self.captions = w.Checkbox(False, description="Captions", indent=False)
        self.seed = w.Text(description="Seed", placeholder="random")
        self.story: storyboard.Story | None = None  # the last storyboard file loaded
        self.keyframes = w.HBox(layout={"flex_flow": "row wrap"})
        self.player = w.Video(format="mp4", autoplay=True, loop=True, controls=True, layout={"max_width": "512px"})
        self.download = w.HTML()
        self.output = w.VBox([self.keyframes, self.player, self.download])
        self.controls = w.VBox(
            [
                w.HBox([self.model, self.text_model]),
                self.idea,
                self.scenes,
                w.HBox([self.n_scenes, self.quality, self.captions]),
                w.HBox([self.duration, self.fps, self.seed]),
                w.HBox([self.width, self.height]),
            ]
        )
        self.refresh_models()

    def refresh_models(self) -> None:
        """List installed video and image models, and text models for writing scenes."""
        videos, images = w.Dropdown(), w.Dropdown()
        installed_models(videos, self.store, TEXT_TO_VIDEO)
        installed_models(images, self.store, TEXT_TO_IMAGE)
        current = self.model.value
        self.model.options = [*videos.options, *images.options]
        ids = [repo_id for _, repo_id in self.model.options]
        self.model.value = current if current in ids else (ids[0] if ids else None)
        writer = self.text_model.value
        installed_models(self.text_model, self.store, TEXT_GENERATION)
        self.text_model.options = [("none", ""), *self.text_model.options]
        self.text_model.value = writer if writer in [v for _, v in self.text_model.options] else ""

    def load_storyboard(self, path: str) -> None:
        """Fill the idea, scenes, captions and length from a storyboard file (what ``--storyboard`` reads).

        Its per-scene seconds and captions are used while the scenes stay as loaded.
        """
        self.story = storyboard.read_file(path)
        self.idea.value, self.scenes.value = self.story.idea, "\n".join(self.story.scenes)
        self.captions.value = bool(self.story.caption_texts)
        if self.story.scene_seconds:
            self.duration.value = sum(self.story.scene_seconds)

    def request(self) -> dict[str, Any]:
        """The engine call's arguments, read from the controls (0 sizes and fps: the quality's)."""
        if not self.model.value:
            raise InvalidInputError(
                "No video or image model is installed. Run `creator-kit models download segmind/tiny-sd`, then refresh."
            )
        scenes = [line.strip() for line in self.scenes.value.splitlines() if line.strip()]
        story = self.story if self.story is not None and list(self.story.scenes) == scenes else storyboard.Story()
        return {
            "scene_seconds": story.scene_seconds,
            "caption_texts": story.caption_texts,
            "prompt": self.idea.value,
            "model": self.model.value,
            "text_model": None if scenes else self.text_model.value or None,
            "scenes": scenes,
            "n_scenes": None if scenes else self.n_scenes.value,
            "quality": self.quality.value,
            "duration": self.duration.value,
            "fps": self.fps.value or None,
            "width": self.width.value or None,
            "height": self.height.value or None,
            "captions": self.captions.value,
            "seed": parse_seed(self.seed.value),
        }

    def run(self, request: dict[str, Any], cancel: threading.Event, report: Report) -> video.VideoResult:
        """Make the video, reporting each stage's progress with the overall ETA and showing keyframes as they come."""
        arguments = dict(request)
        self.keyframes.children, self.download.value = (), ""
        state = {"stage": "starting", "eta": ""}

        def on_event(event: Event) -> None:
            if isinstance(event, Log) and event.operation == "video":
                state["stage"] = event.message
                report(event.message)
            elif isinstance(event, Metric) and event.operation == "video":
                state["eta"] = f" · ETA {event.values['eta_s']:.0f} s"
            elif isinstance(event, Progress) and event.operation == "video" and event.stage is not None:
                report(f"{event.stage}: {event.completed:.0f}/{event.total:.0f} {event.unit}s{state['eta']}")
            elif isinstance(event, Preview) and event.operation == "video":
                self.add_thumbnail(event.value)

        result = video.generate(arguments.pop("prompt"), cancel=cancel, on_event=on_event, **arguments)
        self.refresh_models()
        return result

    def add_thumbnail(self, picture: Any) -> None:
        """A keyframe (or a sampling preview) as a thumbnail in the strip."""
        thumbnail = w.Image(value=_encode(_thumb(picture, self.thumbnail), "PNG"), format="png")
        self.keyframes.children = (*self.keyframes.children, thumbnail)

    def show_result(self, result: video.VideoResult) -> None:
        self.keyframes.children = [
            w.Image(value=_encode(_thumb(picture, self.thumbnail), "PNG"), format="png") for picture in result.keyframes
        ]
        self.player.value = result.path.read_bytes()
        data = base64.b64encode(self.player.value).decode("ascii")
        self.download.value = (
            f"<a download='{html.escape(result.path.name)}' href='data:video/mp4;base64,{data}'>"
            f"Download {html.escape(result.path.name)}</a> · saved to {html.escape(str(result.path))}"
        )

    @staticmethod
    def describe(result: video.VideoResult) -> str:
        parameters = result.manifest.parameters
        return (
            f"{result.manifest.model} · seed {result.manifest.seed} · {parameters['width']}x{parameters['height']} · "
            f"{result.duration_s:g} s · {len(result.scenes)} scenes · {result.scenes[0][:30]!r}"
        )

    @staticmethod
    def summary(result: video.VideoResult) -> str:
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in result.stage_seconds.items())
        return f"{len(result.frames)} frames in {result.elapsed_s:.1f} s ({stages}) · seed {result.manifest.seed}"

    @staticmethod
    def code(result: video.VideoResult) -> str:
        """The engine call that reproduces `result` (same models, scenes, parameters and seed)."""
        return manifest.python_call("video", video.call_from(result.manifest), "result.path")


def _thumb(picture: Any, size: int) -> Any:
    thumbnail = picture.copy()
    thumbnail.thumbnail((size, size))
    return thumbnail


MODES = {"text": TextMode, "image": ImageMode, "video": VideoMode}


class GenerationPreviewer(BackgroundRun, w.VBox):
    """The panel. `history` holds the results of this session, newest last; `error`, the last run's failure."""

    def __init__(self, mode: str = "text", *, store: ModelStore | None = None) -> None:
        if mode not in MODES:
            raise InvalidInputError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
        self.mode = MODES[mode](store or ModelStore())
        self.history: list[Any] = []
        self.error: Exception | None = None  # why the last generation failed, if it did
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self.generate_button = w.Button(description="Generate", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.refresh_button = w.Button(description="Refresh models", icon="refresh")
        self.status = w.HTML()
        self.history_list = w.Select(description="History", options=[], rows=5, layout={"width": "auto"})
        self.copy_button = w.Button(
            description="Copy parameters as code", icon="code", disabled=True, layout={"width": "max-content"}
        )
        self.code = w.Textarea(layout={"width": "auto", "height": "10em", "display": "none"})
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
                *([self.mode.gallery] if hasattr(self.mode, "gallery") else []),
                self.history_list,
                self.copy_button,
                self.code,
            ]
        )

    def generate(self) -> None:
        """Start a generation from the controls' values in a worker thread (Generate button)."""
        if self.running:
            return
        try:
            request = self.mode.request()
        except CreatorKitError as error:
            self._error(error)
            return
        self._cancel, self.error = threading.Event(), None
        self.generate_button.disabled, self.stop_button.disabled = True, False
        self._worker = threading.Thread(target=self._run, args=(request, self._cancel), daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Ask the running generation to stop after the current token (Stop button)."""
        self._cancel.set()
        self.stop_button.disabled = True
        self._set_status("Stopping…")

    def latest_result(self) -> Any:
        """The newest result of this session (what `wait` and `finish` return)."""
        return self.history[-1] if self.history else None

    def copy_code(self) -> None:
        """Show the engine call that reproduces the selected result (Copy parameters as code button)."""
        index = self.history_list.value
        if index is None:
            return
        self.code.value = self.mode.code(self.history[index])
        self.code.layout.display = None

    def _run(self, request: dict[str, Any], cancel: threading.Event) -> None:
        try:
            result = self.mode.run(request, cancel, self._set_status)
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
            self._set_status(self.mode.summary(result))
        finally:
            self.generate_button.disabled, self.stop_button.disabled = False, True

    def _select(self, index: int | None) -> None:
        if index is not None:
            self.mode.show_result(self.history[index])
            self._set_status(self.mode.summary(self.history[index]))
            if self.code.layout.display is None:
                self.copy_code()

    def _set_status(self, message: str) -> None:
        self.status.value = f"<span>{html.escape(message)}</span>"

    def _error(self, error: Exception, unexpected: bool = False) -> None:
        self.error = error
        prefix = f"Unexpected {type(error).__name__}: " if unexpected else ""
        self.status.value = f"<span style='color:#b00020'>{html.escape(prefix + str(error))}</span>"
