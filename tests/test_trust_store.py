"""Trust in the store: no model's own code ever runs, damaged files are caught and repaired, deletes stay inside."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_GPT2, TINY_SD
from olah_hub import publish
from tiny_models import write_random_safetensors

from creator_kit import image, runtime, text
from creator_kit.core.errors import (
    IntegrityError,
    InvalidInputError,
    OfflineError,
    RemoteCodeError,
    UnwritablePathError,
)
from creator_kit.core.events import Log, Progress
from creator_kit.library import cache, hub
from creator_kit.library.cache import repo_folder_name
from creator_kit.library.store import ModelStore

REMOTE = "attacker/remote"
CONFIG = """{"model_type": "evil", "architectures": ["EvilForCausalLM"], "auto_map": {
 "AutoConfig": "configuration_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}}"""
CODE = "import pathlib\npathlib.Path({marker!r}).write_text('the repo code ran')\n"


def run_cli(*args: str, endpoint: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **({"HF_ENDPOINT": endpoint} if endpoint else {}))
    command = [sys.executable, "-m", "creator_kit", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, input=stdin, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("creator-kit: error: "), result.stderr
    assert all(fragment in lines[0] for fragment in fragments), lines[0]


def flip_bytes(path: Path, *, keep_mtime: bool = False) -> None:
    """Change bytes near the end of the file `path` resolves to (tensor data, not the header), keeping its size."""
    blob = path.resolve()
    before = blob.stat()
    with blob.open("r+b") as f:
        f.seek(before.st_size - 100)
        data = f.read(8)
        f.seek(before.st_size - 100)
        f.write(bytes(b ^ 0xFF for b in data))
    if keep_mtime:
        os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))


# ---------------------------------------------------------------------------------------------- remote code


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    """The file the attacker's code writes if it ever runs."""
    return tmp_path_factory.mktemp("marker") / "remote-code-ran"


@pytest.fixture(scope="module")
def remote_code_repo(hub, marker, tmp_path_factory) -> Path:
    """``attacker/remote`` on the test hub: a config.json with ``auto_map`` and the modules it names."""
    source = tmp_path_factory.mktemp("attacker-remote")
    (source / "config.json").write_text(CONFIG)
    for module in ("configuration_evil.py", "modeling_evil.py"):
        (source / module).write_text(CODE.format(marker=str(marker)))
    write_random_safetensors(source / "model.safetensors", 4096)
    publish(hub.server.mirrors, REMOTE, source)
    return source


@pytest.fixture
def placed_by_hand(hub, remote_code_repo, tmp_path) -> Path:
    """A models folder into which another tool (huggingface_hub) put ``attacker/remote``."""
    from huggingface_hub import snapshot_download

    models = tmp_path / "by-hand"
    snapshot_download(REMOTE, cache_dir=models, endpoint=hub.endpoint)
    return models


def test_remote_code_is_refused_at_download_before_any_weight_or_store_write(hub, remote_code_repo, store, marker):
    with pytest.raises(RemoteCodeError, match=r"auto_map in config\.json") as raised:
        store.download(REMOTE)
    assert "modeling_evil.py" in str(raised.value) and "never runs a model's own code" in str(raised.value)
    assert not store.models_dir.exists()
    assert not marker.exists()


def test_remote_code_is_refused_at_load_for_a_model_put_in_the_store_by_hand(placed_by_hand, marker):
    store = ModelStore(placed_by_hand, offline=True)
    assert store.get(REMOTE).task == text.TASK
    with pytest.raises(RemoteCodeError, match="auto_map"):
        runtime.Runtime(store=store).load(REMOTE, task=text.TASK, loader=text.load_causal_lm)
    assert not marker.exists()


def test_remote_code_in_the_users_hf_cache_is_not_imported(placed_by_hand, tmp_path, marker):
    store = ModelStore(tmp_path / "models", offline=True, user_cache=placed_by_hand)
    with pytest.raises(RemoteCodeError, match="auto_map"):
        store.download(REMOTE)
    assert not (tmp_path / "models").exists()
    assert not marker.exists()


def test_training_on_a_remote_code_model_runs_none_of_its_code(placed_by_hand, training_text, tmp_path, marker):
    from creator_kit.train import TrainingConfig, train

    store = ModelStore(placed_by_hand, offline=True)
    config = TrainingConfig(model=REMOTE, data=str(training_text), name="attack", max_steps=1)
    with pytest.raises(RemoteCodeError):
        train(config, store=store)
    assert not marker.exists()


def test_the_cli_answers_yes_in_vain_exit_4(hub, placed_by_hand, tmp_path, marker):
    generate = ("generate", "text", "--model", REMOTE, "--prompt", "hi")
    result = run_cli("--offline", "--models-dir", str(placed_by_hand), *generate, stdin="y\ny\n")
    assert_one_line_error(result, 4, REMOTE, "own Python code")
    download = ("--models-dir", str(tmp_path / "models"), "models", "download", REMOTE)
    assert_one_line_error(run_cli(*download, endpoint=hub.endpoint, stdin="y\ny\n"), 4, "auto_map")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("model_index", "paths", "found"),
    [
        ({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}, [], []),
        ({"safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]}, [], []),  # a diffusers module
        ({"_class_name": ["pipeline", "MyPipeline"]}, ["pipeline.py"], ["model_index.json loads _class_name"]),
        ({"unet": ["my_unet", "MyUNet"]}, ["unet/my_unet.py"], ["model_index.json loads unet from unet/my_unet.py"]),
        ({"custom_pipeline": "lpw_stable_diffusion"}, [], ["custom_pipeline in model_index.json"]),
    ],
)
def test_custom_diffusers_code_is_found_in_model_index(model_index, paths, found):
    reported = hub.remote_code({"model_index.json": model_index}, paths)
    assert len(reported) == len(found) and all(r.startswith(f) for r, f in zip(reported, found, strict=True))


# ---------------------------------------------------------------------------------------------- integrity at load


def test_bytes_changed_in_text_weights_fail_the_load_with_integrity_error(installed_store):
    runtime.unload_all()
    text.generate("Once upon a time", model=TINY_GPT2, max_new_tokens=2, seed=0)  # checked and stamped
    runtime.unload_all()
    flip_bytes(Path(installed_store.get(TINY_GPT2).path) / "model.safetensors")

    with pytest.raises(IntegrityError, match="could not be loaded: its files are damaged") as raised:
        text.generate("Once upon a time", model=TINY_GPT2, max_new_tokens=2, seed=0)
    assert "model.safetensors: checksum" in str(raised.value)
    assert f"creator-kit models download {TINY_GPT2}" in str(raised.value)
    assert TINY_GPT2 not in runtime.loaded()


def test_bytes_changed_in_a_unet_fail_image_generation_with_integrity_error(installed_store):
    runtime.unload_all()
    installed_store.check_before_load(TINY_SD)
    flip_bytes(Path(installed_store.get(TINY_SD).path) / "unet" / "diffusion_pytorch_model.safetensors")

    with pytest.raises(IntegrityError, match=r"unet/diffusion_pytorch_model\.safetensors: checksum"):
        image.generate("a red fox", model=TINY_SD, steps=2, seed=0)


def test_the_load_check_catches_changed_stamps_and_only_verify_catches_a_restored_mtime(installed_store):
    weights = Path(installed_store.get(TINY_GPT2).path) / "model.safetensors"
    installed_store.check_before_load(TINY_GPT2)
    flip_bytes(weights, keep_mtime=True)  # same size, same mtime, same inode: the stamp does not change

    installed_store.check_before_load(TINY_GPT2)  # not caught: the load-time check re-hashes changed files only
    report = installed_store.verify(TINY_GPT2)
    assert [p.split(":")[0] for p in report.problems] == ["model.safetensors"]
    assert report.repair.startswith(f"run `creator-kit models download {TINY_GPT2}`")
    with pytest.raises(IntegrityError):  # once verify found it, every load checks it again
        installed_store.check_before_load(TINY_GPT2)


def test_models_without_stamps_are_hashed_once_at_first_load_and_stamped(hub, tmp_path):
    from huggingface_hub import snapshot_download

    snapshot_download(TINY_GPT2, cache_dir=tmp_path / "models", endpoint=hub.endpoint)  # no record, no stamps
    store = ModelStore(tmp_path / "models", offline=True)
    repo_dir = tmp_path / "models" / repo_folder_name(TINY_GPT2)
    assert not cache.read_record(repo_dir).files

    store.check_before_load(TINY_GPT2)
    record = cache.read_record(repo_dir)
    assert record.complete and record.files and all(entry.stamp for entry in record.files.values())
    assert store.verify(TINY_GPT2).ok


# ---------------------------------------------------------------------------------------------- repair


def test_download_again_fetches_only_the_damaged_file_and_ends_verified(hub, store):
    model = store.download(TINY_GPT2)
    assert all(
        entry.stamp for entry in cache.read_record(store.models_dir / repo_folder_name(TINY_GPT2)).files.values()
    )
    blobs = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in Path(store.models_dir).rglob("blobs/*")}
    weights = Path(model.path) / "model.safetensors"
    flip_bytes(weights)
    assert not store.verify(TINY_GPT2).ok

    events = []
    store.download(TINY_GPT2, on_event=events.append)

    progress = [e for e in events if isinstance(e, Progress)]
    size = weights.stat().st_size
    assert progress[0].completed == progress[0].total - size and progress[-1].completed == progress[-1].total
    assert any(isinstance(e, Log) and "model.safetensors is damaged" in e.message for e in events)
    assert store.verify(TINY_GPT2).ok
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in Path(store.models_dir).rglob("blobs/*")}
    assert [name for name in after if after[name] != blobs[name]] == [weights.resolve().name]


def test_models_download_repairs_what_models_verify_found(hub, store):
    store.download(TINY_GPT2)
    flip_bytes(Path(store.get(TINY_GPT2).path) / "model.safetensors", keep_mtime=True)
    models = str(store.models_dir)

    verify = run_cli("--models-dir", models, "models", "verify", TINY_GPT2)
    assert_one_line_error(verify, 7, "model.safetensors", f"creator-kit models download {TINY_GPT2}")
    assert run_cli("--models-dir", models, "models", "download", TINY_GPT2, endpoint=hub.endpoint).returncode == 0
    assert run_cli("--models-dir", models, "models", "verify", TINY_GPT2).returncode == 0


def test_repairing_offline_says_it_needs_the_network(hub, store, tmp_path):
    store.download(TINY_GPT2)
    flip_bytes(Path(store.get(TINY_GPT2).path) / "model.safetensors")
    offline = ModelStore(store.models_dir, offline=True, user_cache=tmp_path / "no-cache")
    with pytest.raises(OfflineError, match="repairing them needs the network"):
        offline.download(TINY_GPT2)


def test_local_models_cannot_be_downloaded_and_say_how_to_rebuild(hub, store):
    store.register_local("starter-text", hub.sources[TINY_GPT2], task=text.TASK, source="starter")
    store.register_local("my-poet", hub.sources[TINY_GPT2], task=text.TASK)

    with pytest.raises(InvalidInputError, match=r"made on this machine.*models starter --force"):
        store.download("local/starter-text")
    with pytest.raises(InvalidInputError, match=r"made on this machine.*train it again"):
        store.download("local/my-poet")
    with pytest.raises(InvalidInputError, match=r"made on this machine.*train it again"):
        store.download("local/never-made")

    flip_bytes(Path(store.get("local/my-poet").path) / "model.safetensors")
    models = str(store.models_dir)
    verify = run_cli("--models-dir", models, "models", "verify", "local/my-poet")
    assert_one_line_error(verify, 7, "model.safetensors", "train it again")
    assert "models download" not in verify.stderr
    assert_one_line_error(run_cli("--models-dir", models, "models", "download", "local/my-poet"), 2, "made on")


# ---------------------------------------------------------------------------------------------- deletes


def test_remove_unlinks_a_symlinked_repo_folder_and_keeps_its_target(hub, store, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    store.download(TINY_GPT2)
    os.replace(store.models_dir / repo_folder_name(TINY_GPT2), elsewhere)
    (store.models_dir / repo_folder_name(TINY_GPT2)).symlink_to(elsewhere, target_is_directory=True)
    precious = tmp_path / "precious"
    precious.mkdir()
    (store.models_dir / ".locks" / repo_folder_name(TINY_GPT2)).rename(tmp_path / "old-locks")
    (store.models_dir / ".locks" / repo_folder_name(TINY_GPT2)).symlink_to(precious, target_is_directory=True)

    assert store.remove(TINY_GPT2) == 0
    assert not (store.models_dir / repo_folder_name(TINY_GPT2)).exists()
    assert (elsewhere / "snapshots").is_dir() and precious.is_dir()


def test_remove_refuses_a_folder_that_is_not_a_model_or_leads_outside(store, tmp_path):
    stranger = store.models_dir / repo_folder_name("someone/notes")
    stranger.mkdir(parents=True)
    (stranger / "diary.txt").write_text("mine")
    with pytest.raises(UnwritablePathError, match="not made by Creator Kit"):
        store.remove("someone/notes")
    assert (stranger / "diary.txt").is_file()

    outside = tmp_path / "outside-locks"
    (outside / repo_folder_name("someone/notes")).mkdir(parents=True)
    (stranger / cache.RECORD_NAME).write_text("{}")
    (store.models_dir / ".locks").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnwritablePathError, match="leads out of"):
        store.remove("someone/notes")
    assert (outside / repo_folder_name("someone/notes")).is_dir()


# ---------------------------------------------------------------------------------------------- unwritable store


def test_a_store_that_is_a_file_fails_at_once_with_unwritable_path(hub, tmp_path):
    from creator_kit.starters.build import build_starters

    models = tmp_path / "models-file"
    models.write_text("not a folder")
    store = ModelStore(models, offline=False, user_cache=tmp_path / "no-cache")
    for attempt in (
        lambda: store.download(TINY_GPT2),
        lambda: store.register_local("poet", hub.sources[TINY_GPT2], task=text.TASK),
        lambda: store.remove(TINY_GPT2),
        lambda: build_starters(store),
    ):
        with pytest.raises(UnwritablePathError, match=re.escape(str(models))):
            attempt()
    assert models.read_text() == "not a folder"

    result = run_cli("--models-dir", str(models), "models", "download", TINY_GPT2, endpoint=hub.endpoint)
    assert_one_line_error(result, 2, str(models))


def test_a_bad_memory_budget_is_one_line_exit_2(monkeypatch):
    monkeypatch.setenv("CREATOR_KIT_MEMORY_BUDGET", "abc")
    assert_one_line_error(run_cli("models", "list"), 2, "CREATOR_KIT_MEMORY_BUDGET")
