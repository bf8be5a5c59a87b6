"""Trust, second pass: every file from outside goes through one bounded reader (`core.readers`), work is bounded
before it starts, model files are checked by kind, and derived names never replace what is not Creator Kit's own.
Each test is a case found by trying the product as an attacker or a careless user would."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_GPT2, TINY_SD
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from test_trust_store import assert_one_line_error, run_cli

from creator_kit import arena, compare, image, manifest, outputs, queue, reproduce, runtime, text
from creator_kit.core import readers
from creator_kit.core.config import get_settings
from creator_kit.core.errors import CreatorKitError, IntegrityError, InvalidInputError, OutputExistsError
from creator_kit.engines.manifest import PNG_KEY
from creator_kit.workflows import bench

DEEP = "[" * 100_000 + "]" * 100_000


def run_bounded(*args: str, seconds: float = 60) -> subprocess.CompletedProcess:
    """The CLI in a fresh process under a 3 GiB address-space limit (torch alone maps about 1 GiB), ended after
    `seconds`."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
    code = limit + "import sys; from creator_kit.cli import main; sys.exit(main(sys.argv[1:]))"
    settings = get_settings()  # the test's store and outputs folder
    env = dict(os.environ, CREATOR_KIT_MODELS_DIR=str(settings.models_dir))
    env["CREATOR_KIT_OUTPUTS_DIR"] = str(settings.outputs_dir)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=seconds, env=env)


# ---------------------------------------------------------------------------------------------- the reader


def test_the_reader_refuses_special_files_big_files_bad_text_and_deep_nesting(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big, latin, deep = tmp_path / "big.json", tmp_path / "latin.json", tmp_path / "deep.json"
    big.write_bytes(b" " * 2048)
    latin.write_bytes(b'{"a": "\xe9"}')
    deep.write_text(DEEP)
    cases = {
        fifo: "not a regular file (a FIFO)",
        Path("/dev/zero"): "not a regular file (a device)",
        tmp_path: "not a regular file (a folder)",
        latin: "not UTF-8",
        deep: "nests deeper than 64",
    }
    for path, message in cases.items():
        with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            readers.read_json(path, what="test file")
    with pytest.raises(InvalidInputError, match="larger than 1,024 bytes"):
        readers.read_json(big, what="test file", limit=1024)


def test_yaml_aliases_are_refused_before_they_expand(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(9)
    ]
    bomb.write_text("\n".join(lines) + "\n")
    assert bomb.stat().st_size < 600
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match="YAML alias"):
        queue.status(bomb)
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------------------------------- bounds before work


def test_a_huge_grid_is_counted_as_a_product_before_any_expansion(installed_store, tmp_path):
    path = tmp_path / "grid.json"
    grid = {name: list(range(100)) for name in ("steps", "guidance", "width", "height", "seed")}
    path.write_text(json.dumps({"task": "image", "models": [TINY_SD], "prompts": ["a fox"], "grid": grid}))
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match="10,000,000,000 items"):
        queue.status(path)
    assert time.monotonic() - started < 5


def test_stop_strings_are_capped_in_a_queue_and_in_a_manifest(installed_store, tmp_path):
    path = tmp_path / "stops.json"
    stops = [f"s{i}" for i in range(20_000)]
    path.write_text(json.dumps({"task": "text", "models": [TINY_GPT2], "prompts": ["x"], "params": {"stop": stops}}))
    with pytest.raises(InvalidInputError, match="at most 16 of them"):
        queue.status(path)
    record = text.generate("Once", model=TINY_GPT2, max_new_tokens=2, seed=0).manifest
    record.parameters["stop"] = stops
    with pytest.raises(InvalidInputError, match="at most 16 of them"):
        text.replay(record)


@pytest.mark.parametrize("content", [None, DEEP])
def test_a_prompts_file_that_never_ends_or_nests_too_deep_is_one_line(installed_store, tmp_path, content):
    prompts = Path("/dev/zero") if content is None else tmp_path / "prompts.json"
    if content is not None:
        prompts.write_text(content)
    started = time.monotonic()
    result = run_bounded("compare", "--task", "text", "--models", TINY_GPT2, "local/x", "--prompts", str(prompts))
    assert_one_line_error(result, 2, str(prompts))
    assert time.monotonic() - started < 30
    with pytest.raises(InvalidInputError):
        compare.read_prompts(prompts)


def test_deep_json_in_a_queue_or_a_sidecar_manifest_is_one_line(installed_store, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    assert_one_line_error(run_bounded("queue", "status", str(deep)), 2, "nests deeper")
    saved = text.generate("Once", model=TINY_GPT2, max_new_tokens=2, seed=0).save()
    manifest.sidecar(saved).write_text(DEEP)
    assert_one_line_error(run_bounded("reproduce", str(saved)), 2, "nests deeper")


@pytest.mark.parametrize("value", ["²", "9" * 5000])
def test_a_memory_budget_that_is_not_plain_digits_is_one_line(monkeypatch, value):
    monkeypatch.setenv("CREATOR_KIT_MEMORY_BUDGET", value)
    assert_one_line_error(run_cli("models", "list"), 2, "CREATOR_KIT_MEMORY_BUDGET")


def test_a_picture_that_declares_too_many_pixels_is_refused_before_decoding(installed_store, tmp_path):
    made = image.generate("a fox", model=TINY_SD, steps=1, seed=0, width=32, height=32)
    bomb = made.save(out=installed_store.models_dir.parent / "outputs" / "bomb.png")[0]
    data = bytearray(bomb.read_bytes())
    struct.pack_into(">II", data, 16, 60000, 60000)  # the IHDR's width and height
    struct.pack_into(">I", data, 29, __import__("zlib").crc32(bytes(data[12:29])))  # its CRC, so Pillow reads on
    bomb.write_bytes(bytes(data))
    assert_one_line_error(run_bounded("reproduce", str(bomb)), 2, "too many pixels")
    assert bomb not in [output.path for output in outputs.listing("image")]  # the Saved list leaves it out
    with pytest.raises(InvalidInputError, match="too many pixels"):
        outputs.Output(bomb, made.manifest).read_image()


# ---------------------------------------------------------------------------------------------- records


def test_votes_that_are_not_text_or_not_utf8_are_skipped_and_voting_still_works(installed_store):
    path = arena.votes_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    good = {"a": "m/one", "b": "m/two", "winner": "a"}
    odd = [{"a": ["m/one"], "b": "m/two", "winner": "a"}, {"a": "m/one", "b": {"x": 1}, "winner": "tie"}]
    path.write_bytes(b"\xff\xfe not utf-8\n" + b"\n".join(json.dumps(v).encode() for v in [good, *odd]) + b"\n")
    assert [s.model for s in arena.leaderboard()] == ["m/one", "m/two"]
    match = arena.Match("a prompt", outputs=("", ""), models=("m/two", "m/one"), seed=0)
    arena.vote(match, "b")
    assert path.read_bytes().startswith(b"\xff\xfe not utf-8\n")  # the damaged line is kept as it was
    assert sum(s.votes for s in arena.leaderboard()) == 4  # two votes, each counted for both its models


@pytest.mark.parametrize("damage", ["missing size", "files as text"])
def test_a_damaged_store_record_is_exit_7_naming_it(installed_store, damage):
    record_path = installed_store.models_dir / "models--tiny--gpt2" / "creator-kit.json"
    record = json.loads(record_path.read_text())
    if damage == "missing size":
        del next(iter(record["files"].values()))["size"]
    else:
        record["files"] = "model.safetensors"
    record_path.write_text(json.dumps(record))
    assert_one_line_error(run_bounded("models", "info", TINY_GPT2), 7, "creator-kit.json")


def test_a_bench_record_of_the_wrong_shape_counts_as_not_measured(installed_store):
    path = bench._record_path(installed_store, TINY_GPT2)
    path.parent.mkdir(parents=True, exist_ok=True)
    for content in ('{"results": 5}', '{"results": [5, {"repo_id": 1}]}', "[]", DEEP, "\xff"):
        path.write_text(content, encoding="latin-1")
        assert bench.here(TINY_GPT2, store=installed_store) == []
    result = run_bounded("models", "info", TINY_GPT2)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------- model files


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_a_model_file_that_is_not_a_regular_file_is_a_damaged_model(installed_store, kind):
    runtime.unload_all()
    weights = Path(installed_store.get(TINY_GPT2).path) / "model.safetensors"
    weights.unlink()
    {"fifo": lambda: os.mkfifo(weights), "dev-zero": lambda: weights.symlink_to("/dev/zero"), "folder": weights.mkdir}[
        kind
    ]()
    result = run_bounded("generate", "text", "--model", TINY_GPT2, "--prompt", "x", "--max-new-tokens", "2")
    assert_one_line_error(result, 7, "model.safetensors", "not a regular file")


def test_a_safetensors_header_damaged_under_a_restored_stamp_is_exit_7(installed_store):
    runtime.unload_all()
    installed_store.check_before_load(TINY_GPT2)  # stamped
    blob = (Path(installed_store.get(TINY_GPT2).path) / "model.safetensors").resolve()
    before = blob.stat()
    with blob.open("r+b") as f:
        f.seek(10)
        f.write(b"\xff\xff\xff\xff")  # inside the JSON header
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(IntegrityError, match=r"model\.safetensors"):
        text.generate("Once", model=TINY_GPT2, max_new_tokens=2, seed=0)


def test_weights_damaged_under_a_restored_stamp_end_in_integrity_error_not_a_sampling_crash(installed_store):
    from safetensors import safe_open

    runtime.unload_all()
    installed_store.check_before_load(TINY_GPT2)
    blob = (Path(installed_store.get(TINY_GPT2).path) / "model.safetensors").resolve()
    with safe_open(blob, "pt") as weights:
        names = list(weights.keys())
    (header_size,) = struct.unpack("<Q", blob.read_bytes()[:8])
    header = json.loads(blob.read_bytes()[8 : 8 + header_size])
    start, end = header[next(n for n in names if "wte" in n)]["data_offsets"]
    before = blob.stat()
    with blob.open("r+b") as f:  # the token embeddings as NaN: every logit is NaN, so sampling has no distribution
        f.seek(8 + header_size + start)
        f.write(struct.pack("<f", float("nan")) * ((end - start) // 4))
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(IntegrityError, match=r"model\.safetensors: checksum"):
        text.generate("Once", model=TINY_GPT2, max_new_tokens=4, seed=0, preset="creative")
    runtime.unload_all()


# ---------------------------------------------------------------------------------------------- names with meaning


def test_deleting_a_png_that_claims_to_be_a_video_deletes_nothing_beside_it(installed_store):
    folder = installed_store.models_dir.parent / "outputs"
    made = image.generate("a fox", model=TINY_SD, steps=1, seed=0, width=32, height=32)
    png = made.save(out=folder / "x.png")[0]
    record = made.manifest.to_dict() | {"kind": "video"}
    info = PngInfo()
    info.add_text(PNG_KEY, json.dumps(record))
    with Image.open(png) as picture:
        picture.load()
        picture.save(png, pnginfo=info)
    mine = [folder / "x-keyframes.png", folder / "x.gif"]
    for path in mine:
        path.write_bytes(b"the user's own")
    outputs.delete(png)
    assert not png.exists() and all(path.read_bytes() == b"the user's own" for path in mine)


def test_a_queue_never_writes_its_contact_sheet_over_a_sheet_of_the_users_own(installed_store, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    Image.new("RGB", (8, 8), "red").save(folder / "sheet.png")
    mine = (folder / "sheet.png").read_bytes()
    path = tmp_path / "q.json"
    spec = {"task": "image", "models": [TINY_SD], "prompts": ["a fox"], "params": {"steps": 1}, "output": "results"}
    path.write_text(json.dumps(spec))
    with pytest.raises(OutputExistsError, match=r"sheet\.png"):
        queue.run(path)
    assert (folder / "sheet.png").read_bytes() == mine and not list(folder.glob("*.png"))[1:]
    (folder / "sheet.png").unlink()
    done = queue.run(path)  # its own sheet, made again on a second run
    assert queue.run(path).sheet == done.sheet and done.sheet.is_file()


def test_every_reader_error_is_a_creator_kit_error(tmp_path):
    """The fuzz suite (tests/test_fuzz.py) drives this further; here one bad file per reader."""
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00\xff[[[")
    for read in (compare.read_prompts, queue.status, manifest.read, reproduce):
        with pytest.raises(CreatorKitError):
            read(bad)


# ---------------------------------------------------------------------------------------------- found by probing


def test_a_queue_writes_only_inside_the_outputs_folder_or_beside_its_file(installed_store, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "queues").mkdir()
    for output in (str(elsewhere), "../elsewhere"):
        path = write_queue_file(tmp_path / "queues" / "q.json", output=output)
        with pytest.raises(InvalidInputError, match="inside the outputs folder or beside its file"):
            queue.run(path)
    assert not elsewhere.exists()


def test_a_saved_text_that_is_a_fifo_is_refused_not_waited_for(installed_store):
    saved = text.generate("Once", model=TINY_GPT2, max_new_tokens=2, seed=0).save()
    saved.unlink()
    os.mkfifo(saved)
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match="not a regular file"):
        outputs.find(saved).read_text()
    assert time.monotonic() - started < 5


def test_a_leaderboard_of_thousands_of_models_is_quick(installed_store):
    votes = [{"a": f"m/a{i}", "b": f"m/b{i}", "winner": "a"} for i in range(9000)]
    started = time.monotonic()
    assert len(arena.leaderboard(votes)) == 18000
    assert time.monotonic() - started < 10  # it was over 60 s: every model scanned every game, 500 times


def test_text_that_is_not_valid_unicode_is_refused_wherever_it_comes_from(installed_store, tmp_path):
    lone = "a\ud800"
    path = write_queue_file(tmp_path / "q.json", prompts=[lone])
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([lone]))
    record = text.generate("Once", model=TINY_GPT2, max_new_tokens=2, seed=0).manifest
    record.parameters["prompt"] = lone
    calls = (
        lambda: queue.status(path),
        lambda: compare.check(compare.read_prompts(prompts), [TINY_GPT2, "local/x"], installed_store),
    )
    for call in (*calls, lambda: text.replay(record)):
        with pytest.raises(InvalidInputError, match="not valid text"):
            call()


def test_values_that_would_exhaust_memory_or_sampling_are_refused_before_work(installed_store):
    from creator_kit import TrainingConfig

    with pytest.raises(InvalidInputError, match="temperature"):
        text.generate("Once", model=TINY_GPT2, max_new_tokens=2, temperature=1e-300)
    for setting in ({"batch_size": 10**9}, {"lora": True, "lora_r": 10**6}):
        with pytest.raises(InvalidInputError, match=next(iter(setting.keys() - {"lora"}))):
            TrainingConfig(model=TINY_GPT2, data="x.txt", **setting)


def write_queue_file(path: Path, **fields) -> Path:
    path.write_text(json.dumps({"task": "text", "models": [TINY_GPT2], "prompts": ["x"], **fields}))
    return path
