"""Notebook 05 runs headless under papermill on the tiny GPT-2, as CI runs it."""

from __future__ import annotations

import time

from conftest import TINY_GPT2
from test_notebooks import execute

BUDGET_S = 120


def test_training_notebook_trains_shows_the_curves_and_compares_models(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it: torch's thread pool contends on 2 cores
    started = time.monotonic()
    notebook = execute("05_training.ipynb", hub, tmp_path / "models", tmp_path)
    assert time.monotonic() - started < BUDGET_S

    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    printed = "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "200 stories" in printed
    assert "local/stories:" in printed and "best at step" in printed
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the static curves, visible without widgets
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)  # the monitor
    html_outputs = [o.get("data", {}).get("text/html", "") for o in outputs]
    snapshot = next(h for h in html_outputs if "Training monitor: a snapshot" in h)  # what shows without widgets
    assert "Done: local/stories" in snapshot and "<polyline class='ck-series-train'" in snapshot  # the final curves
    table = next(o["data"]["text/html"] for o in outputs if "<table" in o.get("data", {}).get("text/html", ""))
    assert TINY_GPT2 in table and "local/stories" in table
    assert "custom" in printed and "data fingerprint:" in printed
    assert (tmp_path / "outputs" / "runs" / "stories" / "curves.png").is_file()
