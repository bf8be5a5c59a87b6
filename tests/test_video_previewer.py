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
    panel.code_button.click()
    assert "video.generate(" in panel.code.value and "scenes=['a red fox', 'a blue lake']" in panel.code.value


def test_video_mode_shows_bad_settings_in_place(installed_store):
    panel = GenerationPreviewer("video", store=installed_store)
    panel.mode.model.value = TINY_SD
    panel.mode.idea.value = ""
    panel.generate_button.click()
    panel.wait(WAIT_S)
    assert "zero scenes" in panel.status.value and not panel.history
    panel.mode.model.value = TINY_T2V
    panel.generate_button.click()
    assert "Idea is empty" in panel.status.value and not panel.history  # the refusal names the field


def test_video_mode_loads_a_storyboard_file_with_its_scene_lengths(installed_store, tmp_path):
    path = tmp_path / "story.json"
    scenes = [{"prompt": "a red fox", "seconds": 0.5}, {"prompt": "a blue lake", "seconds": 1.0, "caption": "Lake"}]
    path.write_text(json.dumps({"idea": "a walk", "scenes": scenes}), encoding="utf-8")
    panel = GenerationPreviewer("video", store=installed_store)
    mode = panel.mode
    assert mode.native  # the default model: a text-to-video one, which renders one clip
    mode.load_storyboard(str(path))
    assert mode.model.value == TINY_SD and mode.scenes.layout.display is None  # a storyboard: an image model
    assert (mode.idea.value, mode.scenes.value, mode.duration.value) == ("a walk", "a red fox\na blue lake", 1.5)
    assert mode.request()["scene_seconds"] == (0.5, 1.0) and mode.request()["caption_texts"] == ("", "Lake")
    mode.scenes.value = "a red fox\na green hill"  # edited: the file's per-scene settings no longer apply
    assert mode.request()["scene_seconds"] == () and mode.request()["caption_texts"] == ()


def test_a_text_to_video_model_hides_the_storyboard_controls_and_renders_with_the_panel_defaults(installed_store):
    panel = GenerationPreviewer("video", store=installed_store)
    mode = panel.mode
    mode.model.value = TINY_SD
    storyboard_controls = (mode.text_model, mode.scenes, mode.n_scenes)
    assert all(control.layout.display is None for control in storyboard_controls)
    assert mode.hint.layout.display == "none"
    mode.scenes.value = "a red fox\na blue lake"  # scenes of its own: the writer and its count have nothing to do
    assert mode.text_model.disabled and mode.n_scenes.disabled

    mode.model.value = TINY_T2V
    assert all(control.layout.display == "none" for control in storyboard_controls)
    assert "text-to-image model" in mode.hint.value and mode.hint.layout.display is None
    mode.idea.value, mode.seed.value = "a fox crossing a snowy forest", "2"
    request = mode.request()  # the hidden storyboard settings never reach the engine
    assert (request["scenes"], request["n_scenes"], request["text_model"]) == ([], None, None)

    panel.generate_button.click()
    result = panel.finish(WAIT_S)
    assert result.manifest.model == TINY_T2V and result.scenes == ["a fox crossing a snowy forest"]
    assert panel.status.value.startswith("<span>Done: ") and " · 1 scene · " in panel.status.value
    labels = [item.children[1].value for item in mode.keyframes.children]
    assert labels and labels == [f"<small>Keyframe {i}</small>" for i in range(1, len(labels) + 1)]


def test_open_puts_a_saved_videos_settings_in_the_controls(installed_store):
    panel = GenerationPreviewer("video", store=installed_store)
    mode = panel.mode
    mode.model.value = TINY_SD
    mode.idea.value, mode.scenes.value, mode.quality.value = "a walk", "a red fox\na blue lake", "standard"
    mode.duration.value, mode.fps.value, mode.seed.value, mode.captions.value = 1.0, 4, "5", True
    mode.width.value, mode.height.value = 32, 32
    panel.generate_button.click()
    panel.finish(WAIT_S)

    later = GenerationPreviewer("video", store=installed_store)
    later.mode.model.value = TINY_T2V
    later.outputs.select.value = 0
    later.outputs.open_button.click()
    mode = later.mode
    assert (mode.model.value, mode.idea.value, mode.scenes.value) == (TINY_SD, "a walk", "a red fox\na blue lake")
    assert (mode.quality.value, mode.duration.value, mode.fps.value, mode.seed.value) == ("standard", 1.0, 4, "5")
    assert (mode.width.value, mode.height.value, mode.captions.value) == (32, 32, True)
    assert mode.scenes.layout.display is None and mode.player.value and "2 scenes" not in later.status.value
