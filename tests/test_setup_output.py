"""Building the starter models shows one progress bar per model on stdout, and nothing else (no stderr, no warnings)."""

from __future__ import annotations

import os
import subprocess
import sys

from creator_kit.starters.build import STARTERS

BUILD = """
import sys
from creator_kit import ModelStore, choose_models
from creator_kit.starters.build import SetupBars

with SetupBars() as bars:
    choose_models(["text-generation", "text-to-image", "text-to-video"], ModelStore(sys.argv[1]), on_event=bars)
"""


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
