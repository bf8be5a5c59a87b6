"""The generation previewer's video mode, driven through its widgets' callbacks."""

from __future__ import annotations

import json

from conftest import TINY_GPT2, TINY_SD, TINY_T2V

from widgets import GenerationPreviewer

WAIT_S = 120


def test_video_mode_makes_a_storyboard_and_plays_it(installed_store):
    panel = GenerationPreviewer("video", store=installed_store)
    mode = panel.mode
    assert {TINY_SD, TINY_T2V} <= {repo_id for _, repo_id in mode.model.options}
    assert TINY_GPT2 in [repo_id for _, repo_id in mode.text_model.options]
    mode.model.value = TINY_SD
    mode.scenes.value = "a red fox\n\na blue lake\n"
    mode.duration.value, mode.fps.value, mode.seed.value = 1.0, 6, "5"
    mode.width.value, mode.height.value = 64, 48
    statuses = []
    panel.status.observe(lambda change: statuses.append(change["new"]), "value")

    panel.generate_button.click()
    panel.wait(WAIT_S)

    (result,) = panel.history
    assert result.scenes == ["a red fox", "a blue lake"] and len(result.frames) == 6
    assert any("keyframes:" in s for s in statuses) and any("ETA" in s for s in statuses)
    assert len(mode.keyframes.children) == 2
    assert mode.player.value == result.path.read_bytes() and mode.player.value[4:8] == b"ftyp"
    assert "data:video/mp4;base64," in mode.download.value and "seed 5" in panel.status.value
    panel.copy_button.click()
    assert "video.generate(" in panel.code.value and "scenes=['a red fox', 'a blue lake']" in panel.code.value


def test_video_mode_shows_bad_settings_in_place(installed_store):
    panel = GenerationPreviewer("video", store=installed_store)
    panel.mode.model.value = TINY_SD
    panel.mode.idea.value = ""
    panel.generate_button.click()
    panel.wait(WAIT_S)
    assert "zero scenes" in panel.status.value and not panel.history


def test_video_mode_loads_a_storyboard_file_with_its_scene_lengths(installed_store, tmp_path):
    path = tmp_path / "story.json"
    scenes = [{"prompt": "a red fox", "seconds": 0.5}, {"prompt": "a blue lake", "seconds": 1.0, "caption": "Lake"}]
    path.write_text(json.dumps({"idea": "a walk", "scenes": scenes}), encoding="utf-8")
    panel = GenerationPreviewer("video", store=installed_store)
    mode = panel.mode
    mode.load_storyboard(str(path))
    assert (mode.idea.value, mode.scenes.value, mode.duration.value) == ("a walk", "a red fox\na blue lake", 1.5)
    assert mode.request()["scene_seconds"] == (0.5, 1.0) and mode.request()["caption_texts"] == ("", "Lake")
    mode.scenes.value = "a red fox\na green hill"  # edited: the file's per-scene settings no longer apply
    assert mode.request()["scene_seconds"] == () and mode.request()["caption_texts"] == ()
