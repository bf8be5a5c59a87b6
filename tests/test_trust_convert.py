"""Trust in converted variants: what a conversion may replace, which variant `--backend` runs, the tasks that do not
convert, the store's scratch space (a killed, interrupted or disk-full conversion leaves nothing behind) and damaged
graphs (creator_kit.convert, library.variants, library.store, engines.variant_*), on the starter text model."""

from __future__ import annotations

import errno
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import configured_copy
from test_cli import assert_one_line_error, run_cli

from creator_kit import convert, text
from creator_kit.core.errors import (
    InsufficientDiskError,
    IntegrityError,
    ModelNotInstalledError,
    OutputExistsError,
    WrongTaskError,
)
from creator_kit.library import cache, variants
from creator_kit.library.catalog import COMPANION_TASKS, TASKS, TEXT_TO_IMAGE
from creator_kit.library.store import SCRATCH, ModelStore
from creator_kit.starters.build import build_starters

STARTER = "local/starter-text"
ONNX, OPENVINO = "local/starter-text-onnx", "local/starter-text-openvino"


@pytest.fixture(scope="module")
def starter_dir(tmp_path_factory) -> Path:
    models = tmp_path_factory.mktemp("trust-convert-models")
    build_starters(ModelStore(models, offline=True), tasks=["text-generation"])
    return models


@pytest.fixture(scope="module")
def converted_dir(starter_dir, tmp_path_factory) -> Path:
    """The starter store with the onnx and openvino variants of the starter text model."""
    models = shutil.copytree(starter_dir, tmp_path_factory.mktemp("trust-convert-variants") / "models", symlinks=True)
    for backend in ("onnx", "openvino"):
        convert.convert(STARTER, to=backend, store=ModelStore(models, offline=True))
    return models


@pytest.fixture
def starter_store(starter_dir, tmp_path):
    with configured_copy(starter_dir, tmp_path) as store:
        yield store


@pytest.fixture
def converted_store(converted_dir, tmp_path):
    with configured_copy(converted_dir, tmp_path) as store:
        yield store


def register_own(store: ModelStore, repo_id: str, task: str, tmp_path: Path) -> str:
    """A model of the user's own (no conversion) of `task` registered as `repo_id`; returns its commit."""
    folder = tmp_path / "own" / repo_id.split("/")[-1]
    if task == "text-generation":  # a real language model: were it run by --backend, it would generate
        shutil.copytree(store.get(STARTER).path, folder)
    else:
        folder.mkdir(parents=True)
        configs = {TEXT_TO_IMAGE: "model_index.json", "text-to-video": "model_index.json", "autoencoder": "config.json"}
        (folder / configs[task]).write_text(json.dumps({"_class_name": "Own"}), encoding="utf-8")
    return store.register_local(repo_id, folder, task=task).commit


def register_again(store: ModelStore, repo_id: str, tmp_path: Path, **changes: str) -> None:
    """The variant `repo_id` registered again with `changes` to the record of its conversion (as if made elsewhere)."""
    model = store.get(repo_id)
    about = {**model.metadata["conversion"], **changes}
    folder = shutil.copytree(model.path, tmp_path / "again" / repo_id.split("/")[-1])
    (folder / variants.VARIANT_FILE).write_text(json.dumps(about), encoding="utf-8")
    store.register_local(repo_id, folder, task=model.task, metadata={"conversion": about})


def ids(store: ModelStore) -> list[str]:
    """The models the store lists, each complete."""
    models = store.installed()
    assert all(m.status != "incomplete" for m in models)
    return [m.repo_id for m in models]


@pytest.mark.slow  # one run of the command
def test_a_conversion_never_replaces_a_model_of_another_task_or_one_not_converted(starter_store, tmp_path):
    picture = register_own(starter_store, ONNX, TEXT_TO_IMAGE, tmp_path)
    refused = run_cli("--models-dir", str(starter_store.models_dir), "models", "convert", STARTER, "--to", "onnx",
                      "--overwrite")  # fmt: skip
    assert_one_line_error(refused, 2, "text-to-image model", "never replaces", f"creator-kit models remove {ONNX}")
    assert starter_store.get(ONNX).commit == picture and starter_store.get(ONNX).task == TEXT_TO_IMAGE

    own = register_own(starter_store, OPENVINO, "text-generation", tmp_path)
    with pytest.raises(OutputExistsError, match="not a converted one") as raised:
        convert.convert(STARTER, to="openvino", overwrite=True)
    assert raised.value.exit_code == 2 and starter_store.get(OPENVINO).commit == own
    assert ids(starter_store) == [STARTER, ONNX, OPENVINO]


@pytest.mark.slow
def test_overwrite_replaces_a_variant_of_the_same_task_and_backend_runs_only_this_sources(converted_store, tmp_path):
    register_again(converted_store, ONNX, tmp_path, source="someone/starter-text")
    with pytest.raises(ModelNotInstalledError, match="converted from someone/starter-text") as missing:
        convert.require_variant(converted_store, STARTER, "onnx")
    assert "`creator-kit models convert local/starter-text --to onnx --overwrite`" in str(missing.value)
    with pytest.raises(OutputExistsError, match=r"--overwrite\) to replace someone/starter-text's"):
        convert.convert(STARTER, to="onnx")

    remade = convert.convert(STARTER, to="onnx", overwrite=True)
    assert remade.metadata["conversion"]["source"] == STARTER
    assert convert.require_variant(converted_store, STARTER, "onnx") == ONNX

    register_again(converted_store, OPENVINO, tmp_path, revision="0" * 40)  # converted from another revision
    with pytest.raises(ModelNotInstalledError, match="converted from revision 000000000000") as stale:
        convert.require_variant(converted_store, STARTER, "openvino")
    assert "--to openvino --overwrite`" in str(stale.value)


@pytest.mark.slow  # one run of the command
def test_backend_refuses_a_model_of_the_users_own_under_the_variants_name(converted_store, tmp_path):
    register_own(converted_store, ONNX, "text-generation", tmp_path)  # a language model: it would generate
    ran = run_cli("--models-dir", str(converted_store.models_dir), "generate", "text", "--model", STARTER,
                  "--prompt", "Once", "--backend", "onnx", "--max-new-tokens", "2")  # fmt: skip
    assert_one_line_error(ran, 3, f"{ONNX} is a model that is not a converted one", f"models remove {ONNX}")


@pytest.mark.slow  # one run of the command
def test_every_task_the_store_holds_converts_or_is_one_wrong_task_line(starter_store, tmp_path):
    for task in (*TASKS, *COMPANION_TASKS, None):
        if task in variants.CONVERTIBLE:
            variants.check_offered("openvino", False, task)
        else:
            with pytest.raises(WrongTaskError, match="do not convert"):
                variants.check_offered("openvino", False, task)

    register_own(starter_store, "local/tiny-autoencoder", "autoencoder", tmp_path)
    refused = run_cli("--models-dir", str(starter_store.models_dir), "models", "convert", "local/tiny-autoencoder",
                      "--to", "openvino")  # fmt: skip
    assert_one_line_error(refused, 2, "Autoencoder models do not convert")
    register_own(starter_store, "local/own-video", "text-to-video", tmp_path)
    with pytest.raises(WrongTaskError, match="Text-to-video models do not convert"):
        convert.convert("local/own-video", to="openvino")
    with pytest.raises(WrongTaskError, match="Autoencoder models do not convert"):
        convert.require_variant(starter_store, "local/tiny-autoencoder", "openvino")


@pytest.mark.slow
def test_a_killed_conversion_leaves_scratch_that_the_next_one_sweeps(starter_store):
    models = starter_store.models_dir
    command = [sys.executable, "-m", "creator_kit", "--models-dir", str(models), "models", "convert", STARTER]
    killed = subprocess.Popen([*command, "--to", "onnx"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (models / SCRATCH).is_dir() or not any((models / SCRATCH).iterdir()):  # the conversion is under way
        assert killed.poll() is None and time.monotonic() < deadline, "the conversion ended before it was killed"
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    leftovers = list((models / SCRATCH).iterdir())
    assert [p.name.split("-")[0] for p in leftovers] == [str(killed.pid)] and ids(starter_store) == [STARTER]

    me = psutil.Process()
    running = models / SCRATCH / f"{me.pid}-{int(me.create_time())}-0000"  # a running process's: kept
    running.mkdir()
    convert.convert(STARTER, to="onnx")
    assert not any(p.exists() for p in leftovers) and running.is_dir()
    assert ids(starter_store) == [STARTER, ONNX]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), InsufficientDiskError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
)
def test_a_registration_that_fails_leaves_the_old_variant_and_no_scratch(converted_store, monkeypatch, failure, raised):
    from huggingface_hub import scan_cache_dir

    old = converted_store.get(ONNX)

    def torn(folder: Path, blobs: Path) -> None:  # the disk fills up (or the user interrupts) halfway
        blobs.mkdir(parents=True)
        (blobs / "half").write_bytes(b"\0" * 4096)
        raise failure

    monkeypatch.setattr(cache, "copy_into_blobs", torn)
    with pytest.raises(raised) as error:
        convert.convert(STARTER, to="onnx", overwrite=True)
    if raised is InsufficientDiskError:
        assert error.value.exit_code == 6 and "disk is full" in str(error.value)
    assert not (converted_store.models_dir / SCRATCH).exists()
    assert ids(converted_store) == [STARTER, ONNX, OPENVINO]
    assert converted_store.check_before_load(ONNX).commit == old.commit
    assert not scan_cache_dir(converted_store.models_dir).warnings  # the hub's own scan meets only models


@pytest.mark.slow
def test_a_full_disk_under_the_graph_writer_is_exit_6_and_leaves_nothing(starter_dir, small_disk):
    models = shutil.copytree(starter_dir, small_disk / "models", symlinks=True)
    store = ModelStore(models, offline=True)
    filler = small_disk / "filler.bin"  # leaves less than the graph's weights (about 4 MB)
    with filler.open("wb") as f:
        f.write(b"\0" * (shutil.disk_usage(small_disk).free - 2 * 1024 * 1024))
    with pytest.raises(InsufficientDiskError, match="disk is full"):  # OpenVINO itself says "iostream error"
        convert.convert(STARTER, to="openvino", store=store)
    assert not (models / SCRATCH).exists() and ids(store) == [STARTER]
    gc.collect()  # the error's frames held the loaded source, whose weights are mapped from the small disk


def damage_in_place(store: ModelStore, repo_id: str, name: str) -> None:
    """Overwrite the file `name` of `repo_id` with as many other bytes, keeping its stamp (size, mtime, inode): a
    damage only the graph's runtime meets."""
    store.check_before_load(repo_id)  # stamps taken of this copy of the store
    blob = (Path(store.get(repo_id).path) / name).resolve()
    stat = blob.stat()
    with blob.open("r+b") as f:
        f.write(b"<damaged" * (stat.st_size // 8))
    os.utime(blob, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.slow  # one run of the command
def test_a_damaged_graph_is_one_integrity_error_naming_it_and_the_repair(converted_store):
    damage_in_place(converted_store, ONNX, "model.onnx")
    with pytest.raises(IntegrityError, match=r"model\.onnx does not load") as raised:
        text.load_model(ONNX)
    assert raised.value.exit_code == 7
    assert "`creator-kit models convert local/starter-text --to onnx --overwrite`" in str(raised.value)

    damage_in_place(converted_store, OPENVINO, "model.xml")
    ran = run_cli("--models-dir", str(converted_store.models_dir), "generate", "text", "--model", STARTER,
                  "--prompt", "Once", "--backend", "openvino", "--max-new-tokens", "2")  # fmt: skip
    assert_one_line_error(ran, 7, "model.xml", "models convert local/starter-text --to openvino --overwrite")

    (Path(converted_store.get(ONNX).path) / "model.onnx").resolve().write_bytes(b"shorter")  # a damage the stamp shows
    with pytest.raises(IntegrityError, match="models convert local/starter-text --to onnx --overwrite"):
        converted_store.check_before_load(ONNX)


def test_a_damaged_picture_graph_or_record_is_an_integrity_error(tmp_path):
    pytest.importorskip("openvino")
    from creator_kit.engines import variant_image

    about = {"source": "local/starter-image", "backend": "openvino", "int8": False}
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "model.xml").write_text("<net", encoding="utf-8")
    (tmp_path / "unet" / "model.weights").write_bytes(b"\0" * 64)
    with pytest.raises(IntegrityError, match=r"unet/model\.xml does not load") as raised:
        variant_image._Graph(tmp_path / "unet" / "model.xml", "f32", about)
    assert "`creator-kit models convert local/starter-image --to openvino --overwrite`" in str(raised.value)

    (tmp_path / variants.VARIANT_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(IntegrityError, match=r"variant record .* is damaged"):
        variants.read_about(tmp_path)
