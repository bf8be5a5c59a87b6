"""Video on the tiny models: the storyboard pipeline (tiny/sd, tiny/gpt2) and native text-to-video (tiny/t2v).

Outputs are inspected with imageio-ffmpeg's ffmpeg binary (there is no ffprobe): the stream header it
prints, and the frames it counts by decoding.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import wave
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import TINY_GPT2, TINY_SD, TINY_T2V

from creator_kit import manifest as manifests
from creator_kit import video
from creator_kit.core.errors import CancelledError, InvalidInputError, WrongTaskError
from creator_kit.core.events import Done, Log, Metric, Preview, Progress
from creator_kit.engines.storyboard import Story, read_file, slerp

SCENES = ["a red fox in the snow", "a blue lake at noon", "a green hill at dusk"]
SMALL = {"width": 64, "height": 48, "steps": 2, "density": 1, "fps": 8, "seed": 3}


def probe(path: Path) -> dict:
    """What ffmpeg says about a video file: duration, fps, size, codec, pixel format, audio, frames."""
    header = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr
    h, m, s = re.search(r"Duration: (\d+):(\d+):([\d.]+)", header).groups()
    stream = re.search(r"Video: (\w+).*?, (\w+)\(?.*?, (\d+)x(\d+).*?, ([\d.]+) fps", header)
    return {
        "duration": int(h) * 3600 + int(m) * 60 + float(s),
        "codec": stream.group(1),
        "pix_fmt": stream.group(2),
        "size": (int(stream.group(3)), int(stream.group(4))),
        "fps": float(stream.group(5)),
        "audio": re.search(r"Audio: (\w+)", header).group(1) if "Audio:" in header else None,
        "frames": imageio_ffmpeg.count_frames_and_secs(str(path))[0],
    }


def storyboard(tmp_path: Path, name: str = "clip", **params):
    params = {"scenes": SCENES, "duration": 1.5, **SMALL, **params}
    return video.generate(model=TINY_SD, out=tmp_path / f"{name}.mp4", **params)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_storyboard_mp4_has_the_exact_duration_fps_size_and_frame_count(installed_store, tmp_path):
    events = []
    result = storyboard(tmp_path, gif=True, on_event=events.append)

    info = probe(result.path)
    assert info["frames"] == len(result.frames) == 12  # round(1.5 s * 8 fps)
    assert info["fps"] == 8 and info["size"] == (64, 48) and abs(info["duration"] - 1.5) < 0.01
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["audio"] is None
    assert result.scenes == SCENES and result.manifest.parameters["seeds"] == [3, 4, 5]
    assert [k.size for k in result.keyframes] == [(64, 48)] * 3
    assert result.sheet_path.is_file() and result.gif_path.is_file()
    assert manifests.read(result.path).to_dict() == result.manifest.to_dict()
    assert result.manifest.revision == installed_store.get(TINY_SD).commit

    logs = [e.message.split(":")[0] for e in events if isinstance(e, Log) and e.operation == "video"]
    assert logs == ["keyframes", "motion", "encode"]
    per_stage = [e for e in events if isinstance(e, Progress) and e.stage == "keyframes"]
    assert [(e.completed, e.total) for e in per_stage] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    overall = [e for e in events if isinstance(e, Progress) and e.stage is None and e.operation == "video"]
    assert overall[-1].completed == overall[-1].total and overall == sorted(overall, key=lambda e: e.completed)
    assert all("eta_s" in e.values for e in events if isinstance(e, Metric))
    assert [e.step for e in events if isinstance(e, Preview)] == [1, 2, 3]
    assert isinstance(events[-1], Done) and events[-1].result is result
    assert set(result.stage_seconds) == {"keyframes", "motion", "encode"}


def test_transitions_do_not_change_the_total_duration(installed_store, tmp_path):
    cut = storyboard(tmp_path, "cut", transition=0.0, duration=2.0)
    faded = storyboard(tmp_path, "faded", transition=0.5, duration=2.0)
    assert probe(cut.path)["frames"] == probe(faded.path)["frames"] == 16
    assert not np.array_equal(cut.frames[5], faded.frames[5])  # frame 5 is in the first crossfade
    assert np.array_equal(cut.frames[0], faded.frames[0])


def test_captions_are_drawn_at_the_bottom_of_the_frames(installed_store, tmp_path):
    plain = storyboard(tmp_path, "plain")
    captioned = storyboard(tmp_path, "captioned", captions=True)  # the same frames from the cache, captioned
    top, bottom = slice(0, 12), slice(30, 48)
    for a, b in zip(plain.frames, captioned.frames, strict=True):
        assert np.array_equal(a[top], b[top])
        assert np.abs(a[bottom].astype(int) - b[bottom].astype(int)).sum() > 500


def test_scene_seconds_set_each_scene_length_and_the_total(installed_store, tmp_path):
    result = storyboard(tmp_path, scene_seconds=[0.5, 1.0, 0.5], transition=0.0)
    assert probe(result.path)["frames"] == 16 and result.duration_s == 2.0
    assert result.manifest.parameters["scene_seconds"] == [0.5, 1.0, 0.5]
    assert result.manifest.parameters["duration"] == 2.0
    # with hard cuts, the Ken Burns camera restarts at each scene: frames 4 and 12 open scenes 2 and 3
    steps = [np.abs(result.frames[i].astype(int) - result.frames[i - 1].astype(int)).mean() for i in range(1, 16)]
    assert sorted(range(1, 16), key=lambda i: steps[i - 1])[-2:] in ([4, 12], [12, 4])


def test_caption_texts_caption_only_the_scenes_that_have_one(installed_store, tmp_path):
    plain = storyboard(tmp_path, "plain")
    captioned = storyboard(tmp_path, "captioned", caption_texts=["", "Hello", ""])
    bottom = slice(30, 48)
    changed = [not np.array_equal(a[bottom], b[bottom]) for a, b in zip(plain.frames, captioned.frames, strict=True)]
    assert changed == [frame in range(4, 8) for frame in range(12)]  # scene 2 of 3 covers frames 4-7


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"scene_seconds": [1.0, 1.0]}, "scene_seconds has 2 entries for 3 scenes"),
        ({"scene_seconds": [1.0, 0.0, 1.0]}, r"scene_seconds\[1\] must be a number > 0"),
        ({"caption_texts": ["a"]}, "caption_texts has 1 entries"),
    ],
)
def test_per_scene_settings_must_match_the_scenes(installed_store, tmp_path, params, message):
    with pytest.raises(InvalidInputError, match=message):
        storyboard(tmp_path, **params)


def write_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    tone = (np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 440 / rate) * 12000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(tone.tobytes())
    return path


def test_an_audio_track_is_muxed_in_and_the_video_keeps_its_length(installed_store, tmp_path):
    result = storyboard(tmp_path, audio=str(write_wav(tmp_path / "tone.wav", 0.5)))
    info = probe(result.path)
    assert info["audio"] == "aac" and info["frames"] == 12
    assert abs(info["duration"] - 1.5) < 0.1


def test_only_the_changed_scene_and_its_transitions_render_again(installed_store, tmp_path):
    first = storyboard(tmp_path, "first")
    assert first.rendered == {"keyframes": [0, 1, 2], "motion": [0, 1]}

    events = []
    edited = storyboard(tmp_path, "edited", scenes=[SCENES[0], "a purple lake", SCENES[2]], on_event=events.append)
    assert edited.rendered == {"keyframes": [1], "motion": [0, 1]}
    assert np.array_equal(np.asarray(edited.keyframes[0]), np.asarray(first.keyframes[0]))
    assert not np.array_equal(np.asarray(edited.keyframes[1]), np.asarray(first.keyframes[1]))

    last = storyboard(tmp_path, "last", scenes=[SCENES[0], SCENES[1], "a grey hill"])
    assert last.rendered == {"keyframes": [2], "motion": [1]}
    again = storyboard(tmp_path, "again")
    assert again.rendered == {"keyframes": [], "motion": []}
    assert again.manifest.parameters["frames_sha256"] == first.manifest.parameters["frames_sha256"]


def test_inbetweens_start_from_the_keyframes_noise_and_prompt():
    import torch

    a, b = torch.randn(2, 4, 6, 8)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    assert slerp(a, b, 0.5).norm() > torch.lerp(a, b, 0.5).norm()  # spherical: no loss of energy midway


def test_a_text_model_writes_the_scenes_and_is_recorded(installed_store, tmp_path):
    events = []
    result = video.generate(
        "a lighthouse", model=TINY_SD, text_model=TINY_GPT2, n_scenes=2, out=tmp_path / "s.mp4",
        duration=1.0, on_event=events.append, **SMALL,
    )  # fmt: skip
    assert len(result.scenes) == 2 and all(s.startswith("a lighthouse") for s in result.scenes)
    parameters = result.manifest.parameters
    assert parameters["text_model"] == TINY_GPT2
    assert parameters["text_revision"] == installed_store.get(TINY_GPT2).commit
    assert parameters["scenes"] == result.scenes and parameters["idea"] == "a lighthouse"
    assert next(e.message for e in events if isinstance(e, Log) and e.operation == "video").startswith("script:")


def test_the_idea_alone_makes_scenes_that_differ_by_seed(installed_store, tmp_path):
    result = video.generate("a lighthouse", model=TINY_SD, n_scenes=2, out=tmp_path / "i.mp4", duration=1.0, **SMALL)
    assert result.scenes == ["a lighthouse"] * 2 and result.manifest.parameters["seeds"] == [3, 4]
    assert not np.array_equal(np.asarray(result.keyframes[0]), np.asarray(result.keyframes[1]))


def test_replay_renders_the_same_frames_without_the_cache(installed_store, tmp_path):
    original = storyboard(tmp_path)
    again = video.replay(original.path, out=tmp_path / "again.mp4")
    assert again.rendered == {"keyframes": [0, 1, 2], "motion": [0, 1]}
    assert again.manifest.parameters["frames_sha256"] == original.manifest.parameters["frames_sha256"]


@pytest.mark.parametrize("stage", ["script", "keyframes", "motion", "encode"])
def test_cancel_at_any_stage_leaves_no_complete_looking_file(installed_store, tmp_path, stage):
    cancel = threading.Event()

    def on_event(event):
        if isinstance(event, Log) and event.message.startswith(f"{stage}:"):
            cancel.set()

    out = tmp_path / "out"
    with pytest.raises(CancelledError, match=stage):
        video.generate(
            "a lighthouse", model=TINY_SD, text_model=TINY_GPT2, n_scenes=2, out=out / "c.mp4", duration=1.0,
            cancel=cancel, on_event=on_event, **SMALL,
        )  # fmt: skip
    assert leftovers(out) == []


def test_native_text_to_video_reports_steps_and_previews(installed_store, tmp_path):
    events = []
    result = video.generate(
        "a fox running", model=TINY_T2V, out=tmp_path / "n.mp4", duration=1.0, fps=6, width=32, height=32,
        steps=2, seed=1, on_event=events.append,
    )  # fmt: skip
    info = probe(result.path)
    assert info["frames"] == len(result.frames) == 6 and info["size"] == (32, 32) and info["fps"] == 6
    assert result.manifest.parameters["mode"] == "native" and result.manifest.model == TINY_T2V
    steps = [(e.completed, e.total) for e in events if isinstance(e, Progress) and e.stage == "sample"]
    assert steps == [(0, 2), (1, 2), (2, 2)]
    assert [e.value.size for e in events if isinstance(e, Preview)] == [(32, 32)] * 2
    assert np.asarray(result.frames).std() > 1


def test_native_cancel_stops_between_steps(installed_store, tmp_path):
    cancel = threading.Event()
    on_event = lambda e: cancel.set() if isinstance(e, Preview) else None  # noqa: E731
    with pytest.raises(CancelledError, match="sample"):
        video.generate("a fox", model=TINY_T2V, out=tmp_path / "n.mp4", duration=1.0, fps=4, width=32, height=32,
                       steps=3, cancel=cancel, on_event=on_event)  # fmt: skip
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prompt": "", "scenes": []}, "zero scenes"),
        ({"duration": -1.0}, "duration must be a number > 0 and <= 120"),
        ({"duration": 0}, "duration must be a number > 0 and <= 120"),
        ({"width": 65}, "multiple of 8"),
        ({"height": 30}, "multiple of 8"),
        ({"width": 4096}, "width must be a multiple of 8 from 16 to 1024"),
        ({"fps": 0}, "fps must be"),
        ({"quality": "ultra"}, "quality must be one of draft, standard, high, not 'ultra'"),
        ({"scenes": ["a", " "]}, "prompt of scene 2 must be non-empty text"),
        ({"audio": "missing.wav"}, "does not exist"),
        ({"out": "clip.avi"}, ".mp4"),
        ({"colour": "red"}, "Unknown video parameter"),
    ],
)
def test_bad_inputs_say_what_is_allowed(installed_store, tmp_path, arguments, message):
    arguments = {"prompt": "a fox", "out": tmp_path / "x.mp4", "steps": 1, **arguments}
    with pytest.raises(InvalidInputError, match=message):
        video.generate(arguments.pop("prompt"), model=TINY_SD, **arguments)


def test_too_many_scenes_are_refused(installed_store, tmp_path):
    with pytest.raises(InvalidInputError, match="at most 24"):
        video.generate(model=TINY_SD, scenes=[f"scene {i}" for i in range(25)], out=tmp_path / "x.mp4", **SMALL)


def test_a_storyboard_file_gives_scenes_seconds_and_captions(tmp_path):
    board = tmp_path / "board.json"
    scenes = [{"prompt": "dawn", "seconds": 1, "caption": "Hi"}, "noon"]
    board.write_text(json.dumps({"idea": "a day", "scenes": scenes}))
    story = read_file(board)
    assert story == Story("a day", ("dawn", "noon"), (1, None), ("Hi", ""))
    board.write_text(json.dumps(["dawn", "noon"]))
    assert read_file(board) == Story(scenes=("dawn", "noon"))
    board.write_text(json.dumps([f"scene {i}" for i in range(25)]))
    with pytest.raises(InvalidInputError, match="25 scenes; a storyboard holds at most 24"):
        read_file(board)
    board.write_text('{"shots": []}')
    with pytest.raises(InvalidInputError, match="expected a list of scenes"):
        read_file(board)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # moviepy's reader __del__
def test_unreadable_audio_is_refused(installed_store, tmp_path):
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(InvalidInputError, match="Cannot read"):
        video.generate("a fox", model=TINY_SD, audio=str(noise), out=tmp_path / "x.mp4")


def test_models_for_the_wrong_task_are_refused(installed_store, tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(WrongTaskError, match="text-generation"):
        video.generate("a fox", model=TINY_GPT2, out=out, **SMALL)
    with pytest.raises(WrongTaskError, match="text-generation model"):
        video.generate("a fox", model=TINY_SD, text_model=TINY_SD, out=out, **SMALL)
    with pytest.raises(InvalidInputError, match="one prompt"):
        video.generate(model=TINY_T2V, scenes=["a", "b"], out=out, **SMALL)
