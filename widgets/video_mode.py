"""The previewer's video mode: a storyboard or a native clip, stage progress, keyframes, the MP4 inline.

The controls follow the chosen model's kind: a text-to-video model renders the idea as one clip, so the
storyboard's controls (Writer, Scenes, Scenes from idea) are hidden and its request never carries them; with a
text-to-image model they show, and Writer and Scenes from idea are greyed while Scenes lists scenes of its own.
"""

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
    counted,
    manifest,
    storyboard,
    text_fit,
    video,
)
from widgets.parts import (
    Report,
    labelled_thumbnail,
    model_options,
    on_new_selection,
    parse_seed,
    seconds,
    set_options,
    shown_once_set,
)
from widgets.shared.fields import LABEL_WIDTH, AutoInt, labelled
from widgets.shared.style import text_html

if TYPE_CHECKING:
    from creator_kit import Manifest, Output

NATIVE_HINT = (
    "A text-to-video model renders the idea as one clip; for a storyboard of scenes, pick a text-to-image model."
)


class VideoMode:
    """Controls, stage-by-stage progress, keyframe thumbnails and the finished video for `video.generate`."""

    name = "video"
    tasks = (TEXT_TO_VIDEO, TEXT_TO_IMAGE)  # native text-to-video, or a storyboard from an image model
    thumbnail_px = 96  # the size of gallery and keyframe thumbnails

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.model = w.Dropdown(description="Model", tooltip="text-to-video (one clip) or text-to-image (storyboard)")
        self.text_model = w.Dropdown(description="Writer", tooltip="a text model that writes scenes from the idea")
        self.kinds: dict[str, str] = {}  # each offered model's task
        self.idea = w.Text(
            description="Idea", placeholder="e.g. a fox crossing a snowy forest", layout={"width": "auto"}
        )
        self.scenes = w.Textarea(
            description="Scenes", placeholder="one scene prompt per line (empty: made from the idea)",
            layout={"width": "auto", "height": "6em"},
        )  # fmt: skip
        self.n_scenes = labelled(
            w.BoundedIntText(3, min=1, max=video.MAX_SCENES),
            "Scenes from idea",
            "how many scenes the writer makes of the idea while Scenes is empty",
            LABEL_WIDTH,
        )
        self.quality = labelled(
            w.Dropdown(options=list(video.QUALITIES), value="draft"), "Quality", "draft is fast; high is slow"
        )
        self.duration = labelled(
            w.BoundedFloatText(4.0, min=0.1, max=video.MAX_DURATION, step=0.5), "Seconds", "the whole video's length"
        )
        self.fps = AutoInt("FPS", "frames per second; empty: the quality's")
        self.width = AutoInt("Width", "pixels, a multiple of 8; empty: the quality's")
        self.height = AutoInt("Height", "pixels, a multiple of 8; empty: the quality's")
        self.captions = w.Checkbox(False, description="Captions", indent=False, tooltip="each scene's prompt over it")
        self.seed = labelled(w.Text(placeholder="empty: random"), "Seed", "the same seed and settings: the same video")
        self.story: storyboard.Story | None = None  # the last storyboard file loaded
        self.hint = w.HTML(layout={"display": "none"})  # why the storyboard's controls are hidden
        self.keyframes = w.HBox(layout={"flex_flow": "row wrap"})
        self.player = shown_once_set(
            w.Video(format="mp4", autoplay=True, loop=True, controls=True, layout={"max_width": "512px"})
        )
        self.download = w.HTML()
        self.scene_list = w.HTML()  # the scenes of the video shown (written by the text model, or given)
        self.output = w.VBox([self.keyframes, self.player, self.scene_list, self.download])
        self.controls = w.VBox(
            [
                w.HBox([self.model, self.text_model]),
                self.hint,
                self.idea,
                self.scenes,
                w.HBox([self.n_scenes, self.quality, self.captions]),
                w.HBox([self.duration, self.fps, self.seed]),
                w.HBox([self.width, self.height]),
            ]
        )
        on_new_selection(self.model, lambda _: self.model_changed())
        self.scenes.observe(lambda _: self.follow_model_kind(), "value")
        self.refresh_models()
        self.follow_model_kind()

    @property
    def native(self) -> bool:
        """Whether the selected model is a text-to-video model (one clip of the idea, no storyboard)."""
        return self.kinds.get(self.model.value) == TEXT_TO_VIDEO

    def model_changed(self) -> None:
        """Show the controls the new model's kind uses, and put its catalog settings (`video.defaults`) in them: a
        text-to-video model's size, fps and length (its frame count at its fps); auto (the quality's) where it has
        none."""
        self.follow_model_kind()
        settings = video.defaults(self.model.value) if self.model.value else {}
        self.width.value, self.height.value = settings.get("width"), settings.get("height")
        self.fps.value = settings.get("fps")
        if "frames" in settings and "fps" in settings:
            self.duration.value = settings["frames"] / settings["fps"]

    def follow_model_kind(self) -> None:
        """Hide the storyboard's controls for a text-to-video model (and say why); grey Writer and Scenes from idea
        while Scenes has scenes of its own, which they would not be used for."""
        for control in (self.text_model, self.scenes, self.n_scenes):
            control.layout.display = "none" if self.native else None
        self.hint.value = text_html(NATIVE_HINT if self.native else "", small=True)
        self.hint.layout.display = None if self.native else "none"
        self.text_model.disabled = self.n_scenes.disabled = bool(self._scene_lines())

    def refresh_models(self) -> None:
        """List installed video and image models, and text models for writing scenes."""
        clips, pictures = model_options(self.store, TEXT_TO_VIDEO), model_options(self.store, TEXT_TO_IMAGE)
        self.kinds = {
            **{repo_id: TEXT_TO_VIDEO for _, repo_id in clips},
            **{repo_id: TEXT_TO_IMAGE for _, repo_id in pictures},
        }
        set_options(self.model, [*clips, *pictures])
        set_options(self.text_model, [("none", ""), *model_options(self.store, TEXT_GENERATION)])
        self.follow_model_kind()

    def load_storyboard(self, path: str) -> None:
        """Fill the idea, scenes, captions and length from a storyboard file (what ``--storyboard`` reads).

        Its per-scene seconds and captions are used while the scenes stay as loaded. A storyboard is drawn by a
        text-to-image model: with a text-to-video model selected, the first text-to-image model is picked.
        """
        story = storyboard.read_file(path)
        if self.native:
            pictures = [repo_id for repo_id, kind in self.kinds.items() if kind == TEXT_TO_IMAGE]
            if not pictures:
                raise InvalidInputError(
                    "A storyboard needs a text-to-image model in Model, and none is installed: "
                    "run `ck.ModelStore().download('segmind/tiny-sd')`."
                )
            self.model.value = pictures[0]  # first: a new model puts its own settings in the controls
        self.story = story
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
        if self.native and not self.idea.value.strip():
            raise InvalidInputError("Idea is empty: a text-to-video model renders the idea as one clip.")
        scenes = [] if self.native else self._scene_lines()  # a native model renders the idea alone
        story = self.story if self.story is not None and list(self.story.scenes) == scenes else storyboard.Story()
        return {
            "scene_seconds": story.scene_seconds,
            "caption_texts": story.caption_texts,
            "prompt": self.idea.value,
            "model": self.model.value,
            "text_model": None if scenes or self.native else self.text_model.value or None,
            "scenes": scenes,
            "n_scenes": None if scenes or self.native else self.n_scenes.value,
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
        shown = "Step" if self.native else "Scene"  # what each preview is: a sampling step, a scene's keyframe

        def on_event(event: Event) -> None:
            if event.operation != "video":
                return
            if isinstance(event, Log):
                state["message"] = event.message
                report(event.message)
            elif isinstance(event, Metric):
                state["eta"] = f" · ETA {seconds(event.values['eta_s'])}"
            elif isinstance(event, Progress) and event.stage is not None:
                done = f"{event.completed:.0f}/{counted(int(event.total), event.unit)}"
                state["message"] = f"{event.stage}: {done}{state['eta']}"
                report(state["message"])
            elif isinstance(event, Progress):  # the whole video's progress, in work units
                report(state["message"], event.completed / event.total if event.total else None)
            elif isinstance(event, Preview):
                self.add_thumbnail(event.value, f"{shown} {event.step}")

        return video.generate(arguments.pop("prompt"), cancel=cancel, on_event=on_event, **arguments)

    def add_thumbnail(self, picture: Any, label: str) -> None:
        """A keyframe (or a sampling preview) as a thumbnail with its `label` in the strip."""
        strip_item = labelled_thumbnail(picture, self.thumbnail_px, label)
        self.keyframes.children = (*self.keyframes.children, strip_item)

    def show_result(self, result: video.VideoResult) -> None:
        count = len(result.keyframes)
        labels = (
            [text_fit.shorten(scene, 16) for scene in result.scenes]
            if len(result.scenes) == count
            else [f"Keyframe {index}" for index in range(1, count + 1)]
        )
        self.keyframes.children = [
            labelled_thumbnail(picture, self.thumbnail_px, label)
            for picture, label in zip(result.keyframes, labels, strict=True)
        ]
        self._play(result.path, result.scenes)

    def clear(self) -> None:
        self.keyframes.children, self.player.value, self.scene_list.value, self.download.value = (), b"", "", ""

    @staticmethod
    def save(result: video.VideoResult) -> Path:
        """The video's path: the engine saved it, with its manifest beside it, as it was made."""
        return result.path

    def open(self, output: Output) -> None:
        """Play a saved video (its keyframes are in the sheet beside it) and put its settings in the controls."""
        self.keyframes.children = ()
        self._play(output.path, list(output.manifest.parameters.get("scenes", ())))
        self.restore(output.manifest)

    def restore(self, record: Manifest) -> None:
        """Put every setting of `record` the controls hold in them: the model (if installed), the idea, the scenes
        it was made of (written or given), quality, length, fps, size, captions and seed."""
        stored = record.parameters
        if record.model in self.kinds:
            self.model.value = record.model  # first: a new model puts its own settings in the controls
        self.story = None
        self.idea.value = stored["idea"]
        self.scenes.value = "" if self.native else "\n".join(stored["scenes"])
        self.quality.value, self.duration.value, self.fps.value = stored["quality"], stored["duration"], stored["fps"]
        self.width.value, self.height.value = stored["width"], stored["height"]
        self.captions.value = bool(stored["captions"] or stored["caption_texts"])
        self.seed.value = "" if record.seed is None else str(record.seed)

    def _scene_lines(self) -> list[str]:
        return [line.strip() for line in self.scenes.value.splitlines() if line.strip()]

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
    def summary(result: video.VideoResult) -> str:
        stages = ", ".join(f"{stage} {seconds(spent)}" for stage, spent in result.stage_seconds.items())
        return (
            f"Done: {counted(len(result.frames), 'frame')} in {seconds(result.elapsed_s)} ({stages}) · "
            f"{counted(len(result.scenes), 'scene')} · seed {result.manifest.seed}"
        )

    @staticmethod
    def code(result: video.VideoResult) -> str:
        """The engine call that reproduces `result` (same models, scenes, parameters and seed)."""
        return manifest.python_call("video", video.call_from(result.manifest), "result.path")
