"""What progress looks like where it is shown: building the starters shows one bar per model on stdout and nothing
else; a storyboard video's nested stages show as bars in a terminal, as widget bars in JupyterLab, and as one plain
line per stage in papermill's log, never with the events' field names ("eta_s=") or units ("work/s")."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from conftest import TINY_SD
from nbclient import NotebookClient
from test_video import SMALL

from creator_kit import video
from creator_kit.core.events import LINES, TERMINAL, TqdmReporter
from creator_kit.starters.build import STARTERS

BUILD = """
import sys
from creator_kit import ModelStore, choose_models
from creator_kit.starters.build import SetupBars

with SetupBars() as bars:
    choose_models(["text-generation", "text-to-image", "text-to-video"], ModelStore(sys.argv[1]), on_event=bars)
"""

#: The events' own field names and units, which no person should read.
INTERNAL = re.compile(r"\w+_s=|\w+_s\b|work/s|\bwork\b|=\d|e-1\d")
#: A storyboard video's bars: its stages, then the whole; its scenes fit the tiny model's 16 tokens (no warning).
STAGES = ["keyframes", "motion", "encode"]
SCENES = ["a red fox", "a blue lake", "a green hill"]


def test_building_the_starters_shows_one_bar_per_model_and_nothing_else(tmp_path):
    environment = {**os.environ, "CREATOR_KIT_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", BUILD, str(tmp_path / "models")]
    run = subprocess.run(command, env=environment, capture_output=True, timeout=300)  # bytes: "\r" kept as it is

    assert run.returncode == 0 and run.stderr == b"", run.stderr.decode()[-3000:]
    lines = run.stdout.decode().split("\n")
    shown = [line.split("\r")[-1] for line in lines if line]  # what a terminal or a notebook shows
    assert [line.split(": ")[0] for line in shown] == [starter.repo_id for starter in STARTERS]
    assert all("100%|██████████|" in line for line in shown), shown
    assert f"{STARTERS[0].work}/{STARTERS[0].work}" in shown[0]  # the text starter's bar counts its training steps

    again = subprocess.run(command, env=environment, capture_output=True, timeout=300)
    assert again.returncode == 0 and again.stdout == again.stderr == b""  # nothing to build, nothing to show


def test_a_storyboard_shows_its_stages_in_words_in_a_terminal_and_in_a_log(installed_store, tmp_path):
    terminal, log = io.StringIO(), io.StringIO()
    with TqdmReporter(TERMINAL, file=terminal) as bars, TqdmReporter(LINES, file=log) as lines:
        video.generate(
            scenes=SCENES, model=TINY_SD, duration=1.5, out=tmp_path / "clip.mp4", **SMALL,
            on_event=lambda event: (bars(event), lines(event)),
        )  # fmt: skip

    drawn = [line for row in terminal.getvalue().split("\n") for line in row.split("\r")]  # every redraw
    assert {line.split(":")[0] for line in drawn if "100%" in line} == {*STAGES, "video"}, drawn
    assert not INTERNAL.search(terminal.getvalue()), terminal.getvalue()

    written = log.getvalue()
    assert "\r" not in written and "\x1b" not in written and not INTERNAL.search(written), written
    bar_lines = [line for line in written.splitlines() if not line.startswith("[video]")]
    assert [line.split(":")[0] for line in bar_lines] == [*STAGES, "video"], written
    assert re.fullmatch(r"keyframes: 3 scenes in \d+\.\d s", bar_lines[0]), bar_lines
    assert re.fullmatch(r"video: done in \d+\.\d s", bar_lines[-1]), bar_lines


def storyboard_cell(models: Path, outputs: Path) -> str:
    """A notebook cell making the storyboard video above, with the reporter a notebook makes (`ck.TqdmReporter()`)."""
    return (
        f"import creator_kit as ck\nfrom creator_kit import video\n"
        f"ck.configure(models_dir={str(models)!r}, outputs_dir={str(outputs)!r})\n"
        f"video.generate(scenes={SCENES!r}, model={TINY_SD!r}, duration=1.5, **{SMALL!r}, on_event=ck.TqdmReporter());"
    )


def run_in_a_kernel(code: str, jupyter_session: str | None = None) -> list[dict]:
    """The outputs of a notebook cell running `code` in a fresh kernel started as papermill starts one, or, given
    `jupyter_session`, with the variable a Jupyter server (JupyterLab) sets for the kernels it starts."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    env = {name: value for name, value in os.environ.items() if name != "JPY_SESSION_NAME"}
    env |= {"OMP_NUM_THREADS": "1"} | ({"JPY_SESSION_NAME": jupyter_session} if jupyter_session else {})
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute(env=env)
    return notebook.cells[0].outputs


def test_in_a_kernel_progress_is_plain_lines_for_papermill_and_widget_bars_for_jupyterlab(installed_store, tmp_path):
    code = storyboard_cell(installed_store.models_dir, tmp_path / "outputs")

    logged = run_in_a_kernel(code)  # papermill, nbval: a kernel of their own, no widget frontend
    assert [output["output_type"] for output in logged] == ["stream"] * len(logged)
    assert {output["name"] for output in logged} == {"stdout"}  # nothing on stderr, shown in red
    text = "".join(output["text"] for output in logged)
    assert "\r" not in text and not INTERNAL.search(text), text
    assert [line.split(":")[0] for line in text.splitlines() if not line.startswith("[video]")] == [*STAGES, "video"]

    drawn = run_in_a_kernel(code, jupyter_session=str(tmp_path / "clip.ipynb"))  # a kernel JupyterLab started
    bars = [output for output in drawn if "application/vnd.jupyter.widget-view+json" in output.get("data", {})]
    assert len(bars) == len(STAGES) + 1  # one widget bar per stage and one for the whole
    streams = [output for output in drawn if output["output_type"] == "stream"]
    assert {output["name"] for output in streams} == {"stdout"}
    assert all(output["text"].startswith("[video]") for output in streams)  # the stages' log lines, no text bars
