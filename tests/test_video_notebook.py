"""Notebook 04 runs headless under papermill with the tiny models, as a user's batch job would."""

from __future__ import annotations

from test_notebooks import execute, text_outputs


def test_video_notebook_makes_a_storyboard_a_native_clip_and_the_panel(installed_models_dir, hub, tmp_path):
    notebook = execute("04_video_generation.ipynb", hub, installed_models_dir, tmp_path)
    text = text_outputs(notebook)
    assert "rendered again: {'keyframes': [2], 'motion': [1]}" in text
    assert "video from tiny/sd" in text and ": reproduced exactly" in text  # ck.reproduce of the MP4
    assert (
        len(sorted((tmp_path / "outputs").glob("*.mp4"))) == 3
    )  # storyboard, edit, native (reproduce: a scratch copy)
    html = [o for c in notebook.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert sum("data:video/mp4;base64" in o["data"]["text/html"] for o in html) == 2
