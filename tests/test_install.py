"""`make` installs the project in editable mode quietly: setuptools finds a plain layout and has nothing to warn."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).parent.parent
BUILD_EDITABLE = "from setuptools import build_meta; print(build_meta.build_editable({out!r}))"


def test_the_editable_install_is_one_path_entry_without_warnings(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, project / name)
    for name in ("creator_kit", "widgets"):
        shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    code = BUILD_EDITABLE.format(out=str(tmp_path / "wheel"))
    run = subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=project, capture_output=True, text=True)

    assert run.returncode == 0, run.stderr[-3000:]
    assert "Warning" not in run.stderr and "meta path finder" not in run.stderr + run.stdout, run.stderr[-3000:]
    wheel = zipfile.ZipFile(tmp_path / "wheel" / run.stdout.strip().splitlines()[-1])
    (pth,) = [name for name in wheel.namelist() if name.endswith(".pth")]
    assert wheel.read(pth).decode().strip() == str(project)  # the packages are imported from the project itself
