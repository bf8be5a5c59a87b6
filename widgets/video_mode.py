"""The previewer's video mode: a storyboard or a native clip, stage progress, keyframes, the MP4 inline."""

from __future__ import annotations

import base64
import html
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from creator_kit import (
    TEXT_GENERATION,
    TEXT_TO_IMAGE,
    TEXT_TO_VIDEO,
    Event,
    InvalidInputError,
    Log,
    Metric,
    ModelStore,
    Preview,
    Progress,
    manifest,
    storyboard,
    video,
)
from widgets.parts import Report, encode, model_options, on_new_selection, parse_seed, set_options, thumbnail
from widgets.shared.fields import LABEL_WIDTH, AutoInt, labelled

if TYPE_CHECKING:
    from creator_kit import Output


class VideoMode:
    """Controls, stage-by-stage progress, keyframe thumbnails and the finished video for `video.generate`."""

    name = "video"
    tasks = (TEXT_TO_VIDEO, TEXT_TO_IMAGE)  # native text-to-video, or a storyboard from an image model
    thumbnail_px = 96  # the size of gallery and keyframe thumbnails

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.model = w.Dropdown(description="Model", tooltip="text-to-video (native) or text-to-image (storyboard)")
        self.text_model = w.Dropdown(description="Writer", tooltip="a text model that writes scenes from the idea")
        self.idea = w.Text(
            description="Idea", placeholder="e.g. a fox crossing a snowy forest", layout={"width": "auto"}
        )
        self.scenes = w.Textarea(
            description="Scenes", placeholder="one scene prompt per line (empty: made from the idea)",
            layout={"width": "auto", "height": "6em"},
        )  # fmt: skip
        self.n_scenes = labelled(
            w.BoundedIntText(3, min=1, max=video.MAX_SCENES), "Scenes from idea", "scenes to write", LABEL_WIDTH
        )
        self.quality = w.Dropdown(description="Quality", options=list(video.QUALITIES), value="draft")
        self.duration = w.BoundedFloatText(4.0, min=0.1, max=video.MAX_DURATION, step=0.5, description="Seconds")
        self.fps = AutoInt("FPS", "frames per second; empty: the quality's")
        self.width = AutoInt("Width", "pixels, a multiple of 8; empty: the quality's")
        self.height = AutoInt("Height", "pixels, a multiple of 8; empty: the quality's")
        self.captions = w.Checkbox(False, description="Captions", indent=False)
        self.seed = w.Text(description="Seed", placeholder="empty: random")
        self.story: storyboard.Story | None = None  # the last storyboard file loaded
        self.keyframes = w.HBox(layout={"flex_flow": "row wrap"})
        self.player = w.Video(format="mp4", autoplay=True, loop=True, controls=True, layout={"max_width": "512px"})
        self.player.layout.display = "none"  # shown once there is a video
        self.player.observe(
            lambda change: setattr(self.player.layout, "display", None if change["new"] else "none"), "value"
        )
        self.download = w.HTML()
        self.scene_list = w.HTML()  # the scenes of the video shown (written by the text model, or given)
        self.output = w.VBox([self.keyframes, self.player, self.scene_list, self.download])
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
        on_new_selection(self.model, lambda _: self.model_changed())
        self.refresh_models()

    def model_changed(self) -> None:
        """Put the selected model's catalog settings (`video.defaults`) in the controls: a text-to-video model's
        size, fps and length (its frame count at its fps); auto (the quality's) where it has none."""
        settings = video.defaults(self.model.value) if self.model.value else {}
        self.width.value, self.height.value = settings.get("width"), settings.get("height")
        self.fps.value = settings.get("fps")
        if "frames" in settings and "fps" in settings:
            self.duration.value = settings["frames"] / settings["fps"]

    def refresh_models(self) -> None:
        """List installed video and image models, and text models for writing scenes."""
        set_options(self.model, [*model_options(self.store, TEXT_TO_VIDEO), *model_options(self.store, TEXT_TO_IMAGE)])
        set_options(self.text_model, [("none", ""), *model_options(self.store, TEXT_GENERATION)])

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
        """The engine call's arguments, read from the controls (sizes and fps left on auto: the quality's)."""
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
        self.keyframes.children, self.player.value, self.scene_list.value, self.download.value = (), b"", "", ""
        state = {"message": "Starting…", "eta": ""}

        def on_event(event: Event) -> None:
            if event.operation != "video":
                return
            if isinstance(event, Log):
                state["message"] = event.message
                report(event.message)
            elif isinstance(event, Metric):
                state["eta"] = f" · ETA {event.values['eta_s']:.0f} s"
            elif isinstance(event, Progress) and event.stage is not None:
                state["message"] = f"{event.stage}: {event.completed:.0f}/{event.total:.0f} {event.unit}s{state['eta']}"
                report(state["message"])
            elif isinstance(event, Progress):  # the whole video's progress, in work units
                report(state["message"], event.completed / event.total if event.total else None)
            elif isinstance(event, Preview):
                self.add_thumbnail(event.value)

        return video.generate(arguments.pop("prompt"), cancel=cancel, on_event=on_event, **arguments)

    def add_thumbnail(self, picture: Any) -> None:
        """A keyframe (or a sampling preview) as a thumbnail in the strip."""
        strip_item = w.Image(value=encode(thumbnail(picture, self.thumbnail_px), "PNG"), format="png")
        self.keyframes.children = (*self.keyframes.children, strip_item)

    def show_result(self, result: video.VideoResult) -> None:
        self.keyframes.children = [
            w.Image(value=encode(thumbnail(picture, self.thumbnail_px), "PNG"), format="png")
            for picture in result.keyframes
        ]
        self._play(result.path, result.scenes)

    @staticmethod
    def save(result: video.VideoResult) -> Path:
        """The video's path: the engine saved it, with its manifest beside it, as it was made."""
        return result.path

    def open(self, output: Output) -> None:
        """Play a saved video (its keyframes are in the sheet beside it)."""
        self.keyframes.children = ()
        self._play(output.path, list(output.manifest.parameters.get("scenes", ())))

    def _play(self, path: Path, scenes: list[str]) -> None:
        """Play the MP4 at `path`, list its scenes and offer it for download."""
        try:
            self.player.value = path.read_bytes()
        except OSError as error:
            raise InvalidInputError(f"Cannot read the video {path}: {error.strerror or error}.") from error
        items = "".join(f"<li>{html.escape(scene)}</li>" for scene in scenes)
        self.scene_list.value = f"<small><b>Scenes</b><ol style='margin:0'>{items}</ol></small>" if scenes else ""
        data = base64.b64encode(self.player.value).decode("ascii")
        self.download.value = (
            f"<a download='{html.escape(path.name)}' href='data:video/mp4;base64,{data}'>"
            f"Download {html.escape(path.name)}</a> · saved to {html.escape(str(path))}"
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
