"""`make demo` (scripts/demo.py) runs the quickstart headless and offline, and says where everything is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from conftest import TINY_GPT2, TINY_SD
from test_notebooks import WIDGET, text_outputs

DEMO = Path(__file__).parent.parent / "scripts" / "demo.py"


def test_demo_runs_the_quickstart_offline_on_downloaded_models_and_lists_the_outputs(installed_store, tmp_path):
    outputs = tmp_path / "demo-outputs"
    environment = {
        **os.environ,
        "CREATOR_KIT_MODELS_DIR": str(installed_store.models_dir),
        "CREATOR_KIT_OUTPUTS_DIR": str(outputs),
        "OMP_NUM_THREADS": "1",
    }
    run = subprocess.run([sys.executable, str(DEMO)], env=environment, capture_output=True, text=True, timeout=600)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"Models: {TINY_GPT2} (text), {TINY_SD} (image and video)" in run.stdout  # no starters needed
    listed = dict(line.strip().split(": ", 1) for line in run.stdout.splitlines() if line.startswith("  "))
    assert list(listed) == ["executed notebook", "text", "image", "video", "loss plot"]
    paths = {kind: Path(value.strip()) for kind, value in listed.items()}
    assert all(path.is_file() and path.is_relative_to(outputs) for path in paths.values())
    assert [paths[kind].suffix for kind in ("text", "image", "video", "loss plot")] == [".txt", ".png", ".mp4", ".png"]

    notebook = nbformat.read(paths["executed notebook"], as_version=4)
    assert "saved and checked" in text_outputs(notebook)
    panels = [o for c in notebook.cells for o in c.get("outputs", []) if WIDGET in o.get("data", {})]
    assert len(panels) == 5  # model browser, text, image and video previewers, training monitor
    assert installed_store.get("local/quickstart").status == "custom"
