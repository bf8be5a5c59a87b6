"""Shared fixtures: tiny models built once per run, served by an olah Hub mirror on loopback."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# Never touch the user's own caches or the network from tests.
_SCRATCH = Path(tempfile.mkdtemp(prefix="creator-kit-tests-"))
os.environ["HF_HOME"] = str(_SCRATCH / "hf-home")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens: any unplanned Hub call fails fast
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.pop("CREATOR_KIT_OFFLINE", None)
os.environ["CREATOR_KIT_MODELS_DIR"] = str(_SCRATCH / "models")
os.environ["CREATOR_KIT_OUTPUTS_DIR"] = str(_SCRATCH / "outputs")
sys.path.insert(0, str(Path(__file__).parent))

from olah_hub import OlahHub, publish  # noqa: E402
from tiny_models import (  # noqa: E402
    CORPUS,
    build_gpt2,
    build_pickle_only,
    build_stable_diffusion,
    build_text_to_video,
    write_random_safetensors,
)

TINY_GPT2 = "tiny/gpt2"
TINY_SD = "tiny/sd"
TINY_T2V = "tiny/t2v"
PICKLE_ONLY = "tiny/pickle-only"
BIG = "tiny/big"
BIG_FILE_BYTES = 48 * 1024 * 1024


@dataclass
class Hub:
    """The running test hub: its endpoint, the published repos' commits and source folders."""

    server: OlahHub
    commits: dict[str, str]
    sources: dict[str, Path]

    @property
    def endpoint(self) -> str:
        return self.server.endpoint


@pytest.fixture(scope="session")
def tiny_sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    big = root / "big"
    write_random_safetensors(big / "model.safetensors", BIG_FILE_BYTES)
    (big / "config.json").write_text('{"model_type": "random-weights"}')
    return {
        TINY_GPT2: build_gpt2(root / "gpt2", CORPUS),
        TINY_SD: build_stable_diffusion(root / "sd"),
        TINY_T2V: build_text_to_video(root / "t2v"),
        PICKLE_ONLY: build_pickle_only(root / "pickle"),
        BIG: big,
    }


@pytest.fixture(scope="session")
def hub(tiny_sources, tmp_path_factory) -> Hub:
    """An olah mirror on a free loopback port serving the tiny models; HF_ENDPOINT points at it."""
    root = tmp_path_factory.mktemp("hub")
    commits = {repo_id: publish(root / "mirrors", repo_id, source) for repo_id, source in tiny_sources.items()}
    server = OlahHub(root / "mirrors", root / "olah").start()
    previous = os.environ["HF_ENDPOINT"]
    os.environ["HF_ENDPOINT"] = server.endpoint
    yield Hub(server, commits, tiny_sources)
    os.environ["HF_ENDPOINT"] = previous
    server.stop()


@pytest.fixture
def models_dir(tmp_path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def store(models_dir, tmp_path):
    from creator_kit.library.store import ModelStore

    return ModelStore(models_dir, offline=False, user_cache=tmp_path / "user-hf-cache")


@pytest.fixture(autouse=True)
def _fresh_settings():
    from creator_kit.core.config import reset_settings

    reset_settings()
    yield
    reset_settings()


@pytest.fixture(scope="session")
def installed_models_dir(hub, tmp_path_factory) -> Path:
    """A models folder holding every tiny model the workflows load (text, image, video), downloaded once per run."""
    from creator_kit.library.store import ModelStore

    models = tmp_path_factory.mktemp("installed-models")
    store = ModelStore(models, offline=False, user_cache=models / "no-user-cache")
    for repo_id in (TINY_GPT2, TINY_SD, TINY_T2V):
        store.download(repo_id)
    return models


@pytest.fixture
def installed_store(installed_models_dir, tmp_path):
    """A copy of `installed_models_dir` for this test (it may add or remove models), made the configured store.

    Outputs (and the video cache, training runs) go under this test's folder, and torch runs on one
    thread: two threads contend on the shared two-core machines and make tiny models ~10x slower.
    """
    import shutil

    import torch

    from creator_kit.core.config import configure
    from creator_kit.library.store import ModelStore

    models = shutil.copytree(installed_models_dir, tmp_path / "installed-models", symlinks=True)
    configure(models_dir=models, outputs_dir=tmp_path / "outputs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield ModelStore()
    torch.set_num_threads(threads)


@pytest.fixture
def training_text(tmp_path) -> Path:
    """A small, very regular corpus (one document per line) that the tiny GPT-2 learns within a few steps."""
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small_disk(tmp_path):
    """A real 64 MiB file system (tmpfs), for disk-full tests; skipped where mounting is not allowed."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


@contextlib.contextmanager
def configured_copy(models_dir: Path, tmp_path: Path):
    """A copy of the store in `models_dir` for one test, made the configured one offline (its new models stay its
    own), with one torch thread; loaded models are dropped after it."""
    import shutil

    import torch

    from creator_kit import runtime
    from creator_kit.core.config import configure
    from creator_kit.library.store import ModelStore

    models = shutil.copytree(models_dir, tmp_path / "models", symlinks=True)
    configure(models_dir=models, outputs_dir=tmp_path / "outputs", offline=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield ModelStore()
    finally:
        torch.set_num_threads(threads)
        runtime.unload_all()
