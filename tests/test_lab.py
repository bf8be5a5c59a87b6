"""`creator-kit lab`: JupyterLab with news, update checks and the extension manager off, on the project's folders."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lab_page import stop
from olah_hub import free_port

from creator_kit.core.config import PROJECT_MARKER

START_S = 120
NOTIFICATION = "@jupyterlab/apputils-extension:notification"
EXTENSION_MANAGER = "@jupyterlab/extensionmanager-extension:plugin"


class Lab:
    """A JupyterLab server started by `creator-kit lab`: its process and an authenticated client."""

    def __init__(self, process: subprocess.Popen, port: int, token: str) -> None:
        self.process = process
        self.client = httpx.Client(
            base_url=f"http://localhost:{port}", headers={"Authorization": f"token {token}"}, timeout=10
        )

    def composite(self, plugin: str) -> dict:
        """A plugin's settings as the page composes them: its schema's defaults (the overrides), then the user's."""
        answer = self.client.get(f"/lab/api/settings/{plugin}").json()
        defaults = {name: spec.get("default") for name, spec in answer["schema"]["properties"].items()}
        return {**defaults, **answer["settings"]}

    def page_config(self) -> dict:
        """The configuration the server writes into the /lab page."""
        page = self.client.get("/lab").text
        return json.loads(
            re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)[1]
        )

    def environment(self) -> dict[str, str]:
        """The server's environment, which its kernels inherit (`creator-kit lab` became the server)."""
        pairs = Path(f"/proc/{self.process.pid}/environ").read_bytes().split(b"\0")
        return dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)


@pytest.fixture
def lab(tmp_path) -> Iterator[tuple[Lab, Path]]:
    """`creator-kit --offline lab --no-browser` started in the notebooks/ folder of a fresh project."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / PROJECT_MARKER).write_text("a Creator Kit project\n")
    port, token = free_port(), secrets.token_hex(16)
    state = tmp_path / "jupyter"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CREATOR_KIT_")}
    env.update(
        JUPYTER_TOKEN=token,
        JUPYTER_CONFIG_DIR=str(state / "config"),  # the user settings and workspaces live under it
        JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
    )
    command = [sys.executable, "-m", "creator_kit", "--offline", "lab", "--no-browser", "--port", str(port)]
    log = (tmp_path / "lab.log").open("w")
    process = subprocess.Popen(command, cwd=project / "notebooks", env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Lab(process, port, token)
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if server.client.get("/api/status").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
    yield server, project
    stop(process)
    log.close()


def test_lab_asks_nothing_checks_nothing_and_installs_nothing(lab):
    server, _ = lab
    notification = server.composite(NOTIFICATION)
    assert notification["fetchNews"] == "false"  # "none" would show the "get notified about news?" toast
    assert notification["checkForUpdates"] is False
    assert server.composite(EXTENSION_MANAGER)["enabled"] is False
    config = server.page_config()
    assert config["extensionManager"]["name"] == "read-only" and config["extensionManager"]["can_install"] is False
    assert config["news"] == {"disabled": True}
    assert server.client.get("/lab/api/news").json() == {"news": []}
    assert server.client.get("/lab/api/update").json() == {"notification": None}


def test_lab_hands_the_project_folders_to_its_kernels(lab):
    server, project = lab
    environment = server.environment()
    assert environment["CREATOR_KIT_MODELS_DIR"] == str(project / "models")
    assert environment["CREATOR_KIT_OUTPUTS_DIR"] == str(project / "outputs")
    assert environment["HF_HUB_OFFLINE"] == "1"  # --offline holds in the notebooks too
