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
    assert "without encryption" not in run.stderr  # the kernel talks over local sockets
    assert f"Models: {TINY_GPT2} (text), {TINY_SD} (image and video)" in run.stdout  # no starters needed
    listed = dict(line.strip().split(": ", 1) for line in run.stdout.splitlines() if line.startswith("  "))
    assert list(listed) == ["executed notebook", "text", "image", "video", "loss plot", "comparison"]
    paths = {kind: Path(value.strip()) for kind, value in listed.items()}
    comparison = paths.pop("comparison")
    assert comparison.is_relative_to(outputs) and len(list(comparison.glob("*.txt"))) == 4  # 2 prompts x 2 models
    assert all(path.is_file() and path.is_relative_to(outputs) for path in paths.values())
    assert [paths[kind].suffix for kind in ("text", "image", "video", "loss plot")] == [".txt", ".png", ".mp4", ".png"]
    advice = run.stdout.strip().splitlines()[-1]  # Lab's kernels resolve the same folders (tests/test_config.py)
    assert "`make lab`" in advice and f"({installed_store.models_dir}, {outputs})" in advice

    notebook = nbformat.read(paths["executed notebook"], as_version=4)
    assert "saved and checked" in text_outputs(notebook)
    panels = [o for c in notebook.cells for o in c.get("outputs", []) if WIDGET in o.get("data", {})]
    assert len(panels) == 6  # model browser, text, image and video previewers, training monitor, compare panel
    assert installed_store.get("local/quickstart").status == "custom"


def test_a_failing_quickstart_ends_the_demo_with_one_clear_error_and_the_notebook_kept(installed_store, tmp_path):
    weights = Path(installed_store.get(TINY_GPT2).path) / "model.safetensors"
    weights.resolve().write_bytes(b"not safetensors")  # installed, but its weights are broken
    outputs = tmp_path / "demo-outputs"
    environment = {**os.environ, "CREATOR_KIT_MODELS_DIR": str(installed_store.models_dir)}
    environment["CREATOR_KIT_OUTPUTS_DIR"] = str(outputs)
    run = subprocess.run([sys.executable, str(DEMO)], env=environment, capture_output=True, text=True, timeout=600)

    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stdout[-3000:] + run.stderr[-3000:]
    message = run.stderr.strip().splitlines()[-2:]
    assert message[0].startswith("demo: the quickstart failed in cell [") and "IntegrityError" in message[0]
    assert f"{TINY_GPT2} could not be loaded" in message[0] and "files are damaged" in message[0]
    executed = outputs / "notebooks" / "00_quickstart.ipynb"
    assert message[1] == f"The executed notebook, with the whole error, is {executed}"
    assert executed.is_file()
