"""The previewer's video mode: a storyboard or a native clip, stage progress, keyframes, the MP4 inline."""

from __future__ import annotations

import base64
import html
import threading
from typing import Any

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
from widgets.parts import Report, encode, installed_models, parse_seed, thumbnail


class VideoMode:
    """Controls, stage-by-stage progress, keyframe thumbnails and the finished video for `video.generate`."""

    name = "video"
    tasks = (TEXT_TO_VIDEO, TEXT_TO_IMAGE)  # native text-to-video, or a storyboard from an image model
    thumbnail_px = 96  # the size of gallery and keyframe thumbnails

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
        strip_item = w.Image(value=encode(thumbnail(picture, self.thumbnail_px), "PNG"), format="png")
        self.keyframes.children = (*self.keyframes.children, strip_item)

    def show_result(self, result: video.VideoResult) -> None:
        self.keyframes.children = [
            w.Image(value=encode(thumbnail(picture, self.thumbnail_px), "PNG"), format="png")
            for picture in result.keyframes
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
