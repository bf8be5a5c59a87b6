"""A Hub that hangs or answers nonsense: every Hub call gives up in time, as one NetworkError line (exit 5)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from creator_kit.core.errors import NetworkError
from creator_kit.library import hub

COMMIT = "0123456789abcdef0123456789abcdef01234567"
MODEL_INFO = "/api/models/some/repo/revision/main"
INFO = json.dumps({"id": "some/repo", "sha": COMMIT}).encode()
TREE = f"/api/models/some/repo/tree/{COMMIT}"
#: What a whole `models download` or `models info` of a Hub that never answers may take, start-up included.
GIVE_UP_S = 30.0


class SilentHub:
    """A Hub endpoint on loopback that accepts every connection and never answers; `close` counts them."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                self.connections.append(self.listener.accept()[0])
            except TimeoutError:
                continue

    def close(self) -> int:
        """Stop listening; the number of connections made to it."""
        self.stopping.set()
        self.thread.join()
        self.listener.setblocking(False)
        try:
            while True:  # connections still waiting in the backlog count too
                self.connections.append(self.listener.accept()[0])
        except BlockingIOError:
            pass
        for connection in self.connections:
            connection.close()
        self.listener.close()
        return len(self.connections)


class FakeHub(ThreadingHTTPServer):
    """A Hub API on loopback answering each path with its body from `answers` (200), any other with 404."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.answers = answers
        self.endpoint = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.answers.get(self.path.split("?")[0].rstrip("/"))
        self.send_response(404 if body is None else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def silent_hub() -> Iterator[SilentHub]:
    server = SilentHub()
    yield server
    server.close()


def creator_kit(*args: str, endpoint: str, models_dir: Path) -> subprocess.Popen:
    """`creator-kit --models-dir MODELS_DIR ARGS` with HF_ENDPOINT set to `endpoint`, started."""
    env = dict(os.environ, HF_ENDPOINT=endpoint)
    command = [sys.executable, "-m", "creator_kit", "--models-dir", str(models_dir), *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_error_line(process: subprocess.Popen, code: int) -> str:
    """The one line `process` printed on stderr, once it exited with `code`."""
    _, stderr = process.communicate(timeout=120)
    lines = stderr.strip().splitlines()
    assert process.returncode == code, stderr
    assert len(lines) == 1 and lines[0].startswith("creator-kit: error: "), stderr
    return lines[0]


def test_download_and_info_of_a_hub_that_never_answers_give_up_within_30_s(silent_hub, tmp_path):
    started = time.monotonic()
    commands = [("models", "download", "some/repo"), ("models", "info", "some/repo")]
    processes = [creator_kit(*args, endpoint=silent_hub.endpoint, models_dir=tmp_path / "models") for args in commands]
    for process in processes:  # both at once: the test takes one wait, not two
        line = one_error_line(process, 5)
        assert silent_hub.endpoint in line and "no answer within" in line and "HF_ENDPOINT" in line
    assert time.monotonic() - started < GIVE_UP_S


def test_a_file_listing_that_is_an_object_is_one_network_error_line(tmp_path):
    answers = {MODEL_INFO: INFO, TREE: b'{"error": "not a list"}'}
    fake = FakeHub(answers)
    try:
        for args in (("models", "download", "some/repo"), ("models", "info", "some/repo")):
            line = one_error_line(creator_kit(*args, endpoint=fake.endpoint, models_dir=tmp_path / "models"), 5)
            assert fake.endpoint in line and "did not answer like the Hub API" in line and "not a list" in line
    finally:
        fake.shutdown()


def _file(**fields: object) -> dict[str, object]:
    return {"type": "file", "path": "config.json", "size": 2, "oid": "a" * 40, **fields}


@pytest.mark.parametrize(
    ("model_info", "tree"),
    [
        pytest.param(b"<html>a login page</html>", b"[]", id="info-not-json"),
        pytest.param(b"[]", b"[]", id="info-a-list"),
        pytest.param(b'{"id": "some/repo"}', b"[]", id="info-without-sha"),
        pytest.param(b'{"sha": "../../etc"}', b"[]", id="info-sha-not-a-commit"),
        pytest.param(INFO, b"\xff not JSON", id="tree-not-json"),
        pytest.param(INFO, b'["config.json"]', id="tree-of-strings"),
        pytest.param(INFO, json.dumps([{"path": "config.json"}]).encode(), id="entry-without-type"),
        pytest.param(INFO, json.dumps([_file(size="2")]).encode(), id="size-not-a-number"),
        pytest.param(INFO, json.dumps([_file(oid=None)]).encode(), id="no-id"),
        pytest.param(INFO, json.dumps([_file(oid="../../blob")]).encode(), id="id-not-a-hash"),
        pytest.param(INFO, json.dumps([_file(lfs={"size": 2})]).encode(), id="lfs-without-id"),
    ],
)
def test_any_malformed_hub_answer_is_one_network_error(model_info, tree, monkeypatch):
    fake = FakeHub({MODEL_INFO: model_info, TREE: tree})
    monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
    try:
        with pytest.raises(NetworkError, match="did not answer like the Hub API") as raised:
            hub.remote_files("some/repo", "main")
    finally:
        fake.shutdown()
    assert len(str(raised.value).splitlines()) == 1


def test_a_well_formed_listing_is_read_with_lfs_sizes_and_ids(monkeypatch):
    weights = _file(path="model.safetensors", size=130, lfs={"oid": "b" * 64, "size": 5000, "pointerSize": 130})
    listing = [_file(), {"type": "directory", "path": "sub", "oid": "c" * 40, "size": 0}, weights]
    fake = FakeHub({MODEL_INFO: INFO, TREE: json.dumps(listing).encode()})
    monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
    try:
        commit, files = hub.remote_files("some/repo", "main")
    finally:
        fake.shutdown()
    assert commit == COMMIT
    assert files == [hub.RemoteFile("config.json", 2, "a" * 40), hub.RemoteFile("model.safetensors", 5000, "b" * 64)]


@pytest.mark.parametrize("offline", [True, False])
def test_info_of_a_local_model_not_installed_is_not_found_and_never_asks_the_hub(offline, tmp_path):
    silent_hub = SilentHub()
    args = ("--offline",) * offline + ("models", "info", "local/x")
    line = one_error_line(creator_kit(*args, endpoint=silent_hub.endpoint, models_dir=tmp_path / "models"), 3)
    assert "local/x is not installed" in line and "models starter" in line
    assert silent_hub.close() == 0
