"""The parameters of a video (`VideoParams`) and its quality presets: light, so that panels build their controls
and the storyboard plans its scenes without loading the video engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from creator_kit.engines import frames

#: Quality presets; explicit parameters override them. A draft decodes with a tiny autoencoder where one that fits
#: the model is installed (`companions`, decoder "auto"), the others with the model's own VAE.
QUALITIES: dict[str, dict[str, Any]] = {
    "draft": {"width": 256, "height": 256, "steps": 10, "density": 1, "fps": 8, "decoder": "auto"},
    "standard": {"width": 512, "height": 512, "steps": 25, "density": 2, "fps": 12, "decoder": "full"},
    "high": {"width": 768, "height": 768, "steps": 40, "density": 4, "fps": 24, "decoder": "full"},
}


@dataclass(frozen=True)
class VideoParams:
    """Everything that decides the frames, besides the models. None takes the quality preset's value (a native
    text-to-video model: its own size and frame count). The idea, each scene prompt, the negative prompt and each
    caption hold at most validate.MAX_PROMPT_CHARS (20,000) characters."""

    idea: str = ""
    scenes: tuple[str, ...] = ()  # storyboard scene prompts; empty: written from the idea
    n_scenes: int | None = None  # scenes to write from the idea (default 3)
    negative_prompt: str = ""
    quality: str = "standard"
    duration: float | None = None  # seconds, the whole video; None: DEFAULT_DURATION, a native model its own frames
    fps: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float = 7.5
    density: int | None = None  # in-between pictures per transition
    transition: float = 0.5  # seconds of crossfade at each cut
    seed: int | None = None
    scene_seconds: tuple[float, ...] = ()  # per-scene durations; given, their sum is the duration
    captions: bool = False  # a caption over each scene: its `caption_texts` entry, else its prompt
    caption_texts: tuple[str, ...] = ()  # per-scene caption text ("" for none); given, captions are on
    audio: str | None = None
    gif: bool = False
    decoder: str | None = None  # what decodes the pictures (companions.DECODERS or an id); None: the quality's

    def to_dict(self) -> dict[str, Any]:
        return dict(
            asdict(self),
            scenes=list(self.scenes),
            scene_seconds=list(self.scene_seconds),
            caption_texts=list(self.caption_texts),
        )

    def timeline(self, scenes: int) -> frames.Timeline:
        """When each of `scenes` scenes plays: `scene_seconds` if given, else equal shares of the duration."""
        durations = list(self.scene_seconds) or [self.duration / scenes] * scenes
        return frames.timeline(durations, self.fps, self.transition)
