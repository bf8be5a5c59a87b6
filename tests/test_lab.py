"""`creator-kit lab`: JupyterLab rooted at the project and open on the quickstart, with news, update checks and the
extension manager off, the project's folders handed to its kernels, and JupyterLab's own options passed through."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lab_page import stop
from olah_hub import free_port

from creator_kit.core.config import PROJECT_MARKER

START_S = 120
QUICKSTART = Path(__file__).parent.parent / "notebooks" / "00_quickstart.ipynb"
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
def lab(tmp_path) -> Iterator[tuple[Lab, Path, Path]]:
    """`creator-kit --offline lab` started in the notebooks/ folder of a fresh project, with JupyterLab options of
    its own (`--port N --no-browser --IdentityProvider.token=...`) passed through."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "notebooks" / "00_quickstart.ipynb").write_text(QUICKSTART.read_text(encoding="utf-8"))
    (project / PROJECT_MARKER).write_text("a Creator Kit project\n")
    port, token = free_port(), secrets.token_hex(16)
    state = tmp_path / "jupyter"
    runtime = tempfile.mkdtemp(prefix="ck-lab-")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CREATOR_KIT_")}
    env.update(
        JUPYTER_CONFIG_DIR=str(state / "config"),  # the user settings and workspaces live under it
        JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTER_RUNTIME_DIR=runtime,  # short: a kernel's local socket paths must fit in 107 bytes
    )
    options = ["--port", str(port), "--no-browser", f"--IdentityProvider.token={token}"]
    command = [sys.executable, "-m", "creator_kit", "--offline", "lab", *options]
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
    yield server, project, Path(runtime)
    stop(process)
    log.close()
    shutil.rmtree(runtime)
    assert "without encryption" not in (tmp_path / "lab.log").read_text()  # its kernels use local sockets


def test_lab_asks_nothing_checks_nothing_and_installs_nothing(lab):
    server, *_ = lab
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
    server, project, _ = lab
    environment = server.environment()
    assert environment["CREATOR_KIT_MODELS_DIR"] == str(project / "models")
    assert environment["CREATOR_KIT_OUTPUTS_DIR"] == str(project / "outputs")
    assert environment["HF_HUB_OFFLINE"] == "1"  # --offline holds in the notebooks too


def test_lab_is_rooted_at_the_project_and_opens_on_the_quickstart(lab):
    server, project, _ = lab
    (project / "outputs").mkdir()
    listed = {item["name"] for item in server.client.get("/api/contents/").json()["content"]}
    assert {"notebooks", "outputs"} <= listed  # the file browser reaches outputs/ (and models/) too
    opened = server.client.get("/", follow_redirects=False)
    assert opened.headers["location"].partition("?")[0].endswith("/lab/tree/notebooks/00_quickstart.ipynb")


def test_lab_kernels_talk_over_local_sockets(lab):
    server, _, runtime = lab
    answer = server.client.post("/api/kernels", json={"name": "python3"})
    assert answer.status_code == 201, answer.text
    kernel = answer.json()
    connection = runtime / f"kernel-{kernel['id']}.json"
    deadline = time.monotonic() + START_S
    while not connection.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert json.loads(connection.read_text())["transport"] == "ipc"
    assert server.client.delete(f"/api/kernels/{kernel['id']}").status_code == 204


def test_lab_passes_the_options_it_does_not_know_to_jupyterlab_after_its_own(tmp_path, monkeypatch):
    from creator_kit import cli, lab

    started = []
    monkeypatch.setattr(os, "execv", lambda path, argv: started.append(argv))
    monkeypatch.chdir(tmp_path)
    (tmp_path / PROJECT_MARKER).write_text("")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00_quickstart.ipynb").write_text("{}")
    monkeypatch.chdir(tmp_path / "notebooks")
    options = ["--ServerApp.token=", "--port", "9999", "--no-browser", "notebooks/05_training.ipynb"]

    assert cli.main(["--models-dir", "store", "lab", *options]) == 0
    (command,) = started
    assert command[:3] == [sys.executable, "-m", "jupyterlab"] and command[-len(options) :] == options
    assert f"--ServerApp.root_dir={tmp_path}" in command
    assert "--LabApp.default_url=/lab/tree/notebooks/00_quickstart.ipynb" in command
    assert set(lab.LAB_PRIVACY) <= set(command)
    assert os.environ["CREATOR_KIT_MODELS_DIR"] == str(tmp_path / "notebooks" / "store")  # the kernels use it too


def test_options_of_other_commands_are_still_refused(capsys):
    from creator_kit import cli

    with pytest.raises(SystemExit) as refused:
        cli.main(["models", "list", "--port", "9999"])
    assert refused.value.code == 2
    assert "unrecognized arguments: --port 9999" in capsys.readouterr().err
