"""The previewer's image mode: the controls, the live sampling preview, the gallery and "Use all"."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from creator_kit import (
    TEXT_TO_IMAGE,
    CreatorKitError,
    Eta,
    Event,
    InvalidInputError,
    ModelStore,
    Preview,
    Progress,
    counted,
    image,
    manifest,
    text_fit,
    validate,
)
from widgets.parts import (
    Report,
    encode,
    installed_models,
    labelled_thumbnail,
    on_new_selection,
    parse_seed,
    seconds,
    set_options,
    shown_once_set,
)
from widgets.shared.fields import AutoInt, labelled

if TYPE_CHECKING:
    from creator_kit import Output

#: What "Use all" under a gallery picture calls: its manifest and the picture.
UseAll = Callable[[manifest.Manifest, Any], None]
SEED_TOOLTIP = "the same seed, model and settings make the same picture"


class GalleryItem(w.VBox):
    """One picture of the gallery: its thumbnail, a short label (seed, steps, the prompt's start) and "Use all"."""

    def __init__(self, picture: Any, record: manifest.Manifest, path: Path | None, size: int, use_all: UseAll) -> None:
        self.record, self.path = record, path
        parameters = record.parameters
        prompt = text_fit.shorten(parameters["prompt"], 16)
        label = f"seed {record.seed} · {counted(parameters['steps'], 'step')} · {prompt}"
        use = w.Button(description="Use all", tooltip="put every setting of this picture in the controls")
        use.layout.width = f"{size}px"
        use.on_click(lambda _: use_all(record, picture))
        super().__init__(labelled_thumbnail(picture, size, label, use).children)


class ImageMode:
    """Controls, live preview, gallery and engine call for text-to-image."""

    name = "image"
    tasks = (TEXT_TO_IMAGE,)
    thumbnail_px = 96  # the size of gallery and keyframe thumbnails
    restored = 12  # saved images of earlier sessions the gallery shows when the panel opens

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.model = w.Dropdown(description="Model")
        self.prompt = w.Textarea(
            description="Prompt", placeholder="e.g. a lighthouse at dawn", layout={"width": "auto"}
        )
        self.negative_prompt = w.Text(
            description="Negative", placeholder="optional: what to avoid, e.g. blurry", layout={"width": "auto"}
        )
        defaults = image.ImageParams(prompt="")
        self.width = AutoInt("Width", "pixels, a multiple of 8; empty: the model's own size")
        self.height = AutoInt("Height", "pixels, a multiple of 8; empty: the model's own size")
        self.steps = labelled(
            w.BoundedIntText(defaults.steps, min=1, max=image.MAX_STEPS), "Steps", "sampling steps: more is slower"
        )
        self.guidance = labelled(
            w.FloatSlider(defaults.guidance, min=0.0, max=20.0, step=0.5),
            "Guidance",
            "how closely to keep to the prompt",
        )
        self.scheduler = labelled(
            w.Dropdown(options=[("model default", "")], value=""), "Scheduler", "the sampler that removes the noise"
        )
        self.decoder = w.Dropdown(
            description="Decode",
            options=[
                ("full VAE", "full"),
                ("tiny autoencoder (fast draft)", "tiny"),
                ("tiny where installed, else full", "auto"),
            ],
            value=defaults.decoder,
            tooltip="what turns the last step into the picture; a tiny autoencoder (TAESD) is several times faster",
        )
        self.seed = labelled(w.Text(placeholder="empty: random"), "Seed", SEED_TOOLTIP)
        self.dice = w.Button(icon="dice", tooltip="a random seed", layout={"width": "3em"})
        self.reuse_seed = w.Button(description="Reuse seed", tooltip="the seed of the newest picture")
        self.output = shown_once_set(w.Image(format="png", layout={"max_width": "512px"}))
        self.gallery = w.HBox(layout={"flex_flow": "row wrap"})
        self.results: list[image.ImageResult] = []  # this session's, in the gallery
        self.dice.on_click(lambda _: setattr(self.seed, "value", str(validate.random_seed())))
        self.reuse_seed.on_click(
            lambda _: self.results and setattr(self.seed, "value", str(self.results[-1].manifest.seed))
        )
        on_new_selection(self.model, lambda _: self.model_changed())
        self.controls = w.VBox(
            [
                self.model,
                self.prompt,
                self.negative_prompt,
                w.HBox([self.width, self.height, self.steps]),
                w.HBox([self.guidance, self.scheduler, self.decoder]),
                w.HBox([self.seed, self.dice, self.reuse_seed]),
            ]
        )
        self.refresh_models()

    def refresh_models(self) -> None:
        """List installed text-to-image models with their status."""
        installed_models(self.model, self.store, TEXT_TO_IMAGE)

    def model_changed(self) -> None:
        """Offer the new model's schedulers and put its settings in the controls (`image.defaults`: the catalog's
        for a curated model, else the generic ones)."""
        self.refresh_schedulers()
        if not self.model.value:
            return
        settings = image.defaults(self.model.value)
        self.width.value, self.height.value = settings["width"], settings["height"]
        self.steps.value, self.guidance.value = settings["steps"], settings["guidance"]
        offered = [name for _, name in self.scheduler.options]
        self.scheduler.value = settings["scheduler"] if settings["scheduler"] in offered else ""

    def refresh_schedulers(self) -> None:
        """Offer the schedulers the selected model can use (read from its files, without loading it)."""
        names = image.schedulers(self.model.value, store=self.store) if self.model.value else []
        set_options(self.scheduler, [("model default", ""), *((name, name) for name in names)])

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
            "decoder": self.decoder.value,
            "seed": parse_seed(self.seed.value),
        }

    def run(self, request: dict[str, Any], cancel: threading.Event, report: Report) -> image.ImageResult:
        """Render, showing each step's preview with a step counter and ETA; returns the result."""
        arguments = dict(request)
        report("Loading the model…")

        def on_event(event: Event) -> None:
            if isinstance(event, Preview):
                self.output.format, self.output.value = "jpeg", encode(event.value, "JPEG")
            elif isinstance(event, Progress):
                left = eta.update(event.completed, event.total)
                elapsed = time.perf_counter() - start
                report(
                    f"Step {event.completed:.0f}/{event.total:.0f} in {seconds(elapsed)} · ETA {seconds(left or 0)}",
                    event.completed / event.total,
                )

        loaded = image.load_model(arguments.pop("model"))
        start, eta = time.perf_counter(), Eta()  # the rate counts from the first step, not the load
        return image.generate(arguments.pop("prompt"), model=loaded, cancel=cancel, on_event=on_event, **arguments)

    def show_result(self, result: image.ImageResult) -> None:
        self.output.format, self.output.value = "png", encode(result.image, "PNG")
        if result not in self.results:
            self.results.append(result)
            path = result.paths[0] if result.paths else None
            self.gallery.children = (*self.gallery.children, self._gallery_item(result.image, result.manifest, path))

    def clear(self) -> None:
        self.output.value = b""

    def forget(self, paths: list[Path]) -> None:
        """Take the deleted pictures at `paths` out of the gallery."""
        self.gallery.children = [item for item in self.gallery.children if item.path not in paths]

    @staticmethod
    def save(result: image.ImageResult) -> Path:
        """Save `result` as PNG with its manifest embedded in the outputs folder; returns the (first) path."""
        return result.save()[0]

    def open(self, output: Output) -> None:
        """Show a saved image and put the settings that made it in the controls."""
        self.use_all(output.manifest, output.read_image())

    def restore_gallery(self, saved: list[Output]) -> None:
        """Put the newest of the `saved` images (newest first) in the gallery, oldest first, before this session's."""
        items = []
        for output in reversed(saved[: self.restored]):
            try:
                items.append(self._gallery_item(output.read_image(), output.manifest, output.path))
            except CreatorKitError:
                continue  # a damaged file: the outputs list still names it, and Open says what is wrong
        self.gallery.children = (*items, *self.gallery.children)

    def use_all(self, record: manifest.Manifest, picture: Any) -> None:
        """Put every parameter of `record` back into the controls and show its `picture` ("use all" under a
        gallery image)."""
        self.output.format, self.output.value = "png", encode(picture, "PNG")
        parameters = record.parameters
        if record.model in [repo_id for _, repo_id in self.model.options]:
            self.model.value = record.model
        self.prompt.value, self.negative_prompt.value = parameters["prompt"], parameters["negative_prompt"]
        self.width.value, self.height.value = parameters["width"], parameters["height"]
        self.steps.value, self.guidance.value = parameters["steps"], parameters["guidance"]
        self.refresh_schedulers()
        offered = [name for _, name in self.scheduler.options]
        self.scheduler.value = parameters["scheduler"] if parameters["scheduler"] in offered else ""
        self.decoder.value = "tiny" if parameters.get("decoder") == "tiny" else "full"
        self.seed.value = str(record.seed)

    def _gallery_item(self, picture: Any, record: manifest.Manifest, path: Path | None) -> GalleryItem:
        return GalleryItem(picture, record, path, self.thumbnail_px, self.use_all)

    @staticmethod
    def summary(result: image.ImageResult) -> str:
        steps = counted(result.manifest.parameters["steps"], "step")
        return f"Done: {steps} in {seconds(result.elapsed_s)} · seed {result.manifest.seed}"

    @staticmethod
    def code(result: image.ImageResult) -> str:
        """The engine call that reproduces `result` (same model revision, parameters and seed)."""
        return manifest.python_call("image", image.call_from(result.manifest), "result.image")
