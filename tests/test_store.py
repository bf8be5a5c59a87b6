"""The model store against a real Hub mirror (olah on loopback) and a real Hugging Face cache layout."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import BIG, PICKLE_ONLY, TINY_GPT2, TINY_SD
from olah_hub import OlahHub

from creator_kit.core.errors import (
    CancelledError,
    InsufficientDiskError,
    InvalidInputError,
    InvalidRepoIdError,
    ModelNotFoundError,
    ModelNotInstalledError,
    NetworkError,
    OfflineError,
    UnsafeWeightsError,
)
from creator_kit.core.events import Done, Progress
from creator_kit.library.cache import repo_folder_name
from creator_kit.library.store import ModelStore


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def assert_same_files(snapshot: Path, source: Path) -> None:
    expected = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    assert sorted(p.relative_to(snapshot) for p in snapshot.rglob("*") if p.is_file()) == expected
    for relative in expected:
        assert sha256(snapshot / relative) == sha256(source / relative), relative


def cli_download(models_dir: Path, repo_id: str, endpoint: str) -> subprocess.Popen:
    env = dict(os.environ, HF_ENDPOINT=endpoint)
    cmd = [sys.executable, "-m", "creator_kit", "--models-dir", str(models_dir), "models", "download", repo_id]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def partial_file(models_dir: Path, repo_id: str) -> Path | None:
    blobs = models_dir / repo_folder_name(repo_id) / "blobs"
    parts = list(blobs.glob("*.incomplete")) if blobs.is_dir() else []
    return parts[0] if parts else None


def test_download_reports_byte_progress_and_lands_in_hub_cache_layout(hub, store):
    from huggingface_hub import scan_cache_dir

    events = []
    model = store.download(TINY_GPT2, on_event=events.append)

    progress = [e for e in events if isinstance(e, Progress)]
    assert {e.unit for e in progress} == {"B"}
    completed = [e.completed for e in progress]
    assert completed == sorted(completed)
    total = sum(p.stat().st_size for p in hub.sources[TINY_GPT2].rglob("*") if p.is_file())
    assert progress[-1].completed == progress[-1].total == total
    assert isinstance(events[-1], Done) and events[-1].result == model

    assert model.status == "downloaded" and model.task == "text-generation"
    assert model.commit == hub.commits[TINY_GPT2]
    assert_same_files(Path(model.path), hub.sources[TINY_GPT2])
    cached = {repo.repo_id: repo for repo in scan_cache_dir(store.models_dir).repos}
    assert cached[TINY_GPT2].size_on_disk == model.size_on_disk
    assert [m.repo_id for m in store.installed()] == [TINY_GPT2]


def test_downloaded_model_loads_with_transformers_offline(hub, store):
    from transformers import AutoModelForCausalLM

    store.download(TINY_GPT2)
    model = AutoModelForCausalLM.from_pretrained(
        store.snapshot_path(TINY_GPT2), local_files_only=True, trust_remote_code=False
    )
    assert model.config.n_layer == 2


def test_second_download_transfers_nothing(hub, store):
    store.download(TINY_SD)
    events = []
    store.download(TINY_SD, on_event=events.append)
    progress = [e for e in events if isinstance(e, Progress)]
    total = sum(p.stat().st_size for p in hub.sources[TINY_SD].rglob("*") if p.is_file())
    assert [(e.completed, e.total) for e in progress] == [(total, total)]


def test_download_at_pinned_commit(hub, store):
    model = store.download(TINY_GPT2, revision=hub.commits[TINY_GPT2])
    assert model.commit == hub.commits[TINY_GPT2]
    assert store.is_installed(TINY_GPT2)


def test_killed_download_resumes_to_byte_identical_file(hub, models_dir):
    process = cli_download(models_dir, BIG, hub.endpoint)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        part = partial_file(models_dir, BIG)
        if part is not None and part.stat().st_size > 8 * 1024 * 1024:
            break
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    part = partial_file(models_dir, BIG)
    kept = part.stat().st_size
    store = ModelStore(models_dir, offline=False)
    assert not store.is_installed(BIG)
    assert [m.status for m in store.installed()] == ["incomplete"]

    events = []
    model = store.download(BIG, on_event=events.append)

    completed = [e.completed for e in events if isinstance(e, Progress)]
    assert not [c for c in completed if 1024 < c < kept], "the resume must start from the bytes already on disk"
    assert partial_file(models_dir, BIG) is None
    assert_same_files(Path(model.path), hub.sources[BIG])
    assert store.verify(BIG).ok


def test_cancel_keeps_partial_file_and_download_resumes(hub, store):
    cancel = threading.Event()

    def on_event(event):
        if isinstance(event, Progress) and event.completed > 4 * 1024 * 1024:
            cancel.set()

    with pytest.raises(CancelledError, match="resume"):
        store.download(BIG, on_event=on_event, cancel=cancel)
    assert partial_file(store.models_dir, BIG).stat().st_size > 3 * 1024 * 1024
    assert not store.is_installed(BIG)
    with pytest.raises(ModelNotInstalledError):
        store.snapshot_path(BIG)

    model = store.download(BIG)
    assert_same_files(Path(model.path), hub.sources[BIG])


def test_two_processes_downloading_at_once_leave_one_correct_copy(hub, models_dir):
    first, second = cli_download(models_dir, BIG, hub.endpoint), cli_download(models_dir, BIG, hub.endpoint)
    for process in (first, second):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    blobs = list((models_dir / repo_folder_name(BIG) / "blobs").iterdir())
    assert len(blobs) == 2  # model.safetensors and config.json, once each, no leftovers
    store = ModelStore(models_dir, offline=True)
    assert store.verify(BIG).ok
    assert_same_files(store.snapshot_path(BIG), hub.sources[BIG])


def test_verify_catches_a_corrupted_file(hub, store):
    store.download(TINY_GPT2)
    assert store.verify(TINY_GPT2).ok
    weights = store.snapshot_path(TINY_GPT2) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.resolve().write_bytes(bytes(data))

    report = store.verify(TINY_GPT2)
    assert not report.ok
    assert len(report.problems) == 1 and report.problems[0].startswith("model.safetensors: checksum")


def test_verify_catches_a_missing_file(hub, store):
    store.download(TINY_GPT2)
    (store.snapshot_path(TINY_GPT2) / "config.json").unlink()
    assert store.verify(TINY_GPT2).problems == ["config.json: missing"]


def test_remove_frees_the_space(hub, store):
    store.download(TINY_GPT2)
    store.download(TINY_SD)
    before = store.disk_usage()
    sd_size = next(m.size_on_disk for m in store.installed() if m.repo_id == TINY_SD)

    freed = store.remove(TINY_SD)

    assert freed == sd_size > 0
    after = store.disk_usage()
    assert after.store_bytes == before.store_bytes - freed
    assert after.models == 1
    assert not (store.models_dir / repo_folder_name(TINY_SD)).exists()
    with pytest.raises(ModelNotInstalledError):
        store.remove(TINY_SD)


def test_pickle_only_repo_is_refused_unless_allowed(hub, store):
    with pytest.raises(UnsafeWeightsError, match="--allow-pickle"):
        store.download(PICKLE_ONLY)
    assert not store.is_installed(PICKLE_ONLY)
    assert not list(store.models_dir.rglob("pytorch_model.bin"))

    model = store.download(PICKLE_ONLY, allow_pickle=True)
    assert (Path(model.path) / "pytorch_model.bin").is_file()


@pytest.mark.parametrize(
    "repo_id", ["../etc/passwd", "a/b/c", "", "-bad/x", "a/..", "a//b", "name with space", "a/b\n", "a--b/c", "/abs"]
)
def test_malformed_repo_ids_are_rejected_before_any_io(repo_id, tmp_path):
    store = ModelStore(tmp_path / "models", offline=False)
    with pytest.raises(InvalidRepoIdError):
        store.download(repo_id)
    with pytest.raises(InvalidRepoIdError):
        store.info(repo_id)
    assert not (tmp_path / "models").exists()


def test_bad_revision_is_rejected(store):
    with pytest.raises(InvalidInputError):
        store.download(TINY_GPT2, revision="../../main")


def test_unknown_repo_is_not_found(hub, store):
    with pytest.raises(ModelNotFoundError):
        store.download("tiny/does-not-exist")


def test_unreachable_hub_is_a_network_error(store, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(NetworkError):
        store.download(TINY_GPT2)


def test_search_through_a_mirror_without_search_is_a_network_error(hub, store):
    with pytest.raises(NetworkError, match="did not answer like the Hub API"):
        store.search("gpt")


def test_offline_listing_info_and_loading_work_with_the_server_stopped(hub, tmp_path, monkeypatch):
    server = OlahHub(hub.server.mirrors, tmp_path / "olah").start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    models_dir = tmp_path / "models"
    ModelStore(models_dir, offline=False).download(TINY_GPT2)
    server.stop()

    store = ModelStore(models_dir, offline=True)
    assert [(m.repo_id, m.status) for m in store.installed()] == [(TINY_GPT2, "downloaded")]
    info = store.info(TINY_GPT2)
    assert info.parameters > 0 and info.status == "downloaded"
    assert store.download(TINY_GPT2).commit == hub.commits[TINY_GPT2]
    assert store.verify(TINY_GPT2).ok
    with pytest.raises(OfflineError, match="offline"):
        store.download(TINY_SD)
    with pytest.raises(OfflineError):
        store.search("gpt")


def test_models_in_the_users_hf_cache_are_linked_not_copied(hub, tmp_path):
    from huggingface_hub import snapshot_download

    user_cache = tmp_path / "user-cache"
    snapshot_download(TINY_GPT2, cache_dir=user_cache, endpoint=hub.endpoint)
    store = ModelStore(tmp_path / "models", offline=False, user_cache=user_cache)

    events = []
    model = store.download(TINY_GPT2, on_event=events.append)

    weights = Path(model.path) / "model.safetensors"
    source = next((user_cache / repo_folder_name(TINY_GPT2) / "blobs").glob(weights.resolve().name))
    assert weights.resolve().stat().st_ino == source.stat().st_ino
    progress = [e for e in events if isinstance(e, Progress)]
    assert [(e.completed, e.total) for e in progress] == [(progress[0].total, progress[0].total)]  # nothing fetched

    offline = ModelStore(tmp_path / "offline-models", offline=True, user_cache=user_cache)
    imported = offline.download(TINY_GPT2)
    assert imported.commit == hub.commits[TINY_GPT2] and offline.verify(TINY_GPT2).ok


def test_not_enough_disk_is_refused_before_writing(hub, store, monkeypatch):
    real_usage = shutil.disk_usage

    def almost_full(path):
        return real_usage(path)._replace(free=1024 * 1024)

    monkeypatch.setattr("creator_kit.library.sizing.shutil.disk_usage", almost_full)
    with pytest.raises(InsufficientDiskError, match="needs"):
        store.download(BIG)
    assert store.installed() == []
    assert partial_file(store.models_dir, BIG) is None


def test_disk_filling_up_mid_download_keeps_the_bytes_and_resumes(hub, small_disk):
    store = ModelStore(small_disk / "models", offline=False)
    filler = small_disk / "filler.bin"

    def fill_disk(event):
        if isinstance(event, Progress) and event.completed > 8 * 1024 * 1024 and not filler.exists():
            with filler.open("wb") as f, pytest.raises(OSError):
                while True:
                    f.write(b"\0" * 1024 * 1024)

    with pytest.raises(InsufficientDiskError, match="resumes"):
        store.download(BIG, on_event=fill_disk)
    assert not store.is_installed(BIG)
    kept = partial_file(store.models_dir, BIG).stat().st_size
    assert kept >= 8 * 1024 * 1024

    filler.unlink()
    model = store.download(BIG)
    assert_same_files(Path(model.path), hub.sources[BIG])


def test_local_models_register_alongside_downloaded_ones(hub, store):
    store.download(TINY_SD)
    model = store.register_local(
        "my-poet", hub.sources[TINY_GPT2], task="text-generation", metadata={"epochs": 1}, description="fine-tune"
    )
    assert model.repo_id == "local/my-poet" and model.status == "custom"
    assert {m.repo_id: m.status for m in store.installed()} == {"local/my-poet": "custom", TINY_SD: "downloaded"}
    assert store.get("local/my-poet").metadata == {"epochs": 1}
    assert store.verify("local/my-poet").ok
    assert_same_files(store.snapshot_path("local/my-poet"), hub.sources[TINY_GPT2])


def test_installed_filters_by_task(hub, store):
    store.download(TINY_SD)
    store.register_local("my-poet", hub.sources[TINY_GPT2], task="text-generation")
    assert [m.repo_id for m in store.installed(task="text-generation")] == ["local/my-poet"]
    assert [m.repo_id for m in store.installed(task="text-to-image")] == [TINY_SD]
    assert store.installed(task="text-to-video") == []
    with pytest.raises(InvalidInputError, match="Unknown task"):
        store.installed(task="text2image")


def test_not_installed_error_says_how_to_install(store):
    with pytest.raises(ModelNotInstalledError, match="creator-kit models download distilbert/distilgpt2"):
        store.get("distilbert/distilgpt2")
