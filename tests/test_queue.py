"""Queues: prompts × models × a grid expanded into stable items, run with progress, cancelled, resumed after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TINY_GPT2, TINY_SD

from creator_kit import manifest, queue
from creator_kit.cli import main as cli_main
from creator_kit.core.errors import CancelledError, InvalidInputError, ModelNotInstalledError, WrongTaskError
from creator_kit.core.events import Metric, Preview, Progress
from creator_kit.engines.sheets import MIN_CELL_PX


def write_queue(folder: Path, name: str = "stories.json", **fields) -> Path:
    data = {"task": "text", "models": [TINY_GPT2], "prompts": ["Once upon a time"], "seed": 1, **fields}
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def installed_store_outputs() -> Path:
    from creator_kit.core.config import get_settings

    return get_settings().outputs_dir


def test_a_queue_expands_to_stable_items_in_model_prompt_grid_order(installed_store, tmp_path):
    path = write_queue(
        tmp_path, prompts=["Once", "The sea"], grid={"max_new_tokens": [2, 3], "seed": [5, 6]}, params={"top_k": 5}
    )
    plan = queue.load(path)
    assert len(plan.items) == 8 and len({item.id for item in plan.items}) == 8
    first, second = plan.items[:2]
    assert (first.prompt, first.values, first.seed) == ("Once", {"max_new_tokens": 2, "seed": 5}, 5)
    assert first.params == {"top_k": 5, "max_new_tokens": 2} and second.values == {"max_new_tokens": 2, "seed": 6}
    assert [item.id for item in queue.load(path).items] == [item.id for item in plan.items]  # stable ids
    assert plan.folder == installed_store_outputs() / "queue-stories"
    moved = write_queue(
        tmp_path, "moved.json", prompts=["The sea", "Once"], grid={"seed": [6, 5], "max_new_tokens": [3, 2]},
        params={"top_k": 5},
    )  # fmt: skip
    assert {item.id for item in queue.load(moved).items} == {item.id for item in plan.items}  # order is no part
    other = write_queue(tmp_path, "other.json", prompts=["Once"], params={"top_k": 5, "max_new_tokens": 2})
    assert queue.load(other).items[0].id not in {item.id for item in plan.items}  # seed 1, not 5 or 6
    yaml_path = tmp_path / "stories.yaml"
    yaml_path.write_text(
        "task: text\nmodels: [tiny/gpt2]\nprompts: [Once, The sea]\nseed: 1\n"
        "grid: {max_new_tokens: [2, 3], seed: [5, 6]}\nparams: {top_k: 5}\noutput: out\n",
        encoding="utf-8",
    )
    from_yaml = queue.load(yaml_path)
    assert [item.id for item in from_yaml.items] == [item.id for item in plan.items]
    assert from_yaml.folder == tmp_path / "out"


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"task": "video"}, InvalidInputError, "task must be one of text, image"),
        ({"models": []}, InvalidInputError, "models must be a list of 1 to 6"),
        ({"prompts": ["  "]}, InvalidInputError, "prompt must be non-empty"),
        ({"models": [TINY_GPT2, "nobody/nothing"]}, ModelNotInstalledError, "nobody/nothing"),
        ({"models": [TINY_GPT2, TINY_SD]}, WrongTaskError, "tiny/sd"),
        ({"grid": {"steps": [2]}}, InvalidInputError, "Unknown text grid parameter"),
        ({"grid": {"max_new_tokens": []}}, InvalidInputError, "non-empty list"),
        ({"grid": {"max_new_tokens": [2, 2]}}, InvalidInputError, "distinct"),
        ({"grid": {"max_new_tokens": [2, -1]}}, InvalidInputError, "max_new_tokens must be"),
        ({"grid": {"top_k": [1]}, "params": {"top_k": 2}}, InvalidInputError, "both grid and params"),
        ({"colour": "red"}, InvalidInputError, "Unknown queue key"),
        ({"seed": None}, InvalidInputError, "seed"),
    ],
)
def test_bad_queues_are_refused_before_anything_runs(installed_store, tmp_path, fields, error, message):
    from creator_kit import runtime

    runtime.unload_all()
    path = write_queue(tmp_path, **fields)
    with pytest.raises(error, match=message):
        queue.run(path)
    assert runtime.loaded() == [] and not (installed_store_outputs() / "queue-stories").exists()


def test_the_cli_says_what_is_wrong_in_one_line_with_its_exit_code(installed_store, tmp_path, capsys):
    cases = {
        "empty.json": ("", 2, "is empty"),
        "torn.json": ('{"task": "text", "models": [', 2, "not valid JSON"),
        "list.json": ("[1, 2]", 2, "one object"),
        "missing.json": (json.dumps({"task": "text", "models": [TINY_GPT2]}), 2, "needs prompts"),
        "absent.json": (json.dumps({"task": "text", "models": ["no/model"], "prompts": ["x"]}), 3, "no/model"),
        "mixed.json": (json.dumps({"task": "image", "models": [TINY_SD, TINY_GPT2], "prompts": ["x"]}), 2, "task"),
        "grid.json": (json.dumps({"task": "image", "models": [TINY_SD], "prompts": ["x"], "grid": {"steps": [0]}}), 2,
                      "steps"),
        "bad.yaml": ("task: [text\n", 2, "not valid YAML"),
    }  # fmt: skip
    for name, (content, code, message) in cases.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        for action in ("run", "status"):
            assert cli_main(["queue", action, str(tmp_path / name)]) == code, name
            captured = capsys.readouterr()
            assert message in captured.err and len(captured.err.splitlines()) == 1 and not captured.out, name
    assert cli_main(["queue", "run", str(tmp_path / "nothing-here.json")]) == 2
    assert not list(installed_store_outputs().glob("queue-*"))


def test_a_text_queue_runs_every_item_with_its_manifest_progress_and_eta(installed_store, tmp_path):
    path = write_queue(tmp_path, prompts=["Once", "The sea"], grid={"max_new_tokens": [2, 4]})
    events = []
    done = queue.run(path, on_event=events.append)
    plan = queue.load(path)
    assert [record["id"] for record in done.records] == [item.id for item in plan.items] == done.ran
    for item, record in zip(plan.items, done.records, strict=True):
        output = done.folder / record["output"]
        assert output.name == f"{item.id}.txt" and output.read_text(encoding="utf-8")
        stored = manifest.read(output)
        assert (stored.model, stored.seed, stored.parameters["prompt"]) == (TINY_GPT2, 1, item.prompt)
        assert stored.parameters["max_new_tokens"] == item.values["max_new_tokens"]
        assert record["metrics"]["tokens_per_s"] > 0
    progress = [(e.completed, e.total) for e in events if isinstance(e, Progress) and e.operation == "queue"]
    assert progress == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert [e.value["id"] for e in events if isinstance(e, Preview)] == done.ran
    etas = [e.values["eta_s"] for e in events if isinstance(e, Metric) and e.operation == "queue"]
    assert etas and etas[-1] == 0.0 and all(eta >= 0 for eta in etas)
    assert done.sheet is None

    again = queue.run(path)
    assert again.ran == [] and again.skipped == done.ran and again.records == done.records
    state = queue.status(path)
    assert (state.done, state.pending, state.total) == (4, 0, 4) and {i["state"] for i in state.items} == {"done"}


def test_cancel_keeps_the_finished_items_and_the_status_shows_the_rest_pending(installed_store, tmp_path):
    path = write_queue(tmp_path, grid={"max_new_tokens": [2, 3, 4]})
    cancel = threading.Event()

    def on_event(event):
        if isinstance(event, Preview):
            cancel.set()

    with pytest.raises(CancelledError, match="1 of 3 items done"):
        queue.run(path, cancel=cancel, on_event=on_event)
    state = queue.status(path)
    assert [item["state"] for item in state.items] == ["done", "pending", "pending"]
    assert cli_main(["queue", "status", str(path), "--json"]) == 0


def test_an_image_grid_gets_a_contact_sheet_labelled_by_its_axes(installed_store, tmp_path):
    from PIL import Image

    installed_store.register_local("sd-copy", installed_store.get(TINY_SD).path, task="text-to-image")
    path = write_queue(
        tmp_path, "foxes.json", task="image", models=[TINY_SD, "local/sd-copy"], prompts=["a red fox"],
        grid={"steps": [1, 2], "guidance": [1.0, 3.0, 5.0]},
    )  # fmt: skip
    done = queue.run(path)
    assert len(done.records) == 12
    with Image.open(done.folder / done.records[0]["output"]) as first:
        width, height = first.size
        assert manifest.read(first.filename).parameters["steps"] == 1
    with Image.open(done.sheet) as sheet:  # guidance along the columns; model × steps down, each under its labels
        band = sheet.height // 4 - height
        assert sheet.size == (3 * max(width, MIN_CELL_PX), 4 * (height + band)) and band > 0


def test_status_on_the_command_line(installed_store, tmp_path, capsys):
    path = write_queue(tmp_path, grid={"max_new_tokens": [2, 3]})
    assert cli_main(["queue", "status", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("0 done, 2 pending, 2 in all") and "max_new_tokens=3" in lines[1]
    assert cli_main(["queue", "run", str(path), "--json"]) == 0
    ran = json.loads(capsys.readouterr().out)
    assert len(ran["ran"]) == 2 and ran["skipped"] == [] and ran["sheet"] is None
    assert cli_main(["queue", "status", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["done"] == 2


@pytest.mark.slow
def test_a_queue_killed_half_way_resumes_without_redoing_finished_items(installed_store, tmp_path):
    path = write_queue(tmp_path, prompts=["Once", "The sea"], grid={"max_new_tokens": list(range(20, 30))})
    folder, total = queue.load(path).folder, 20
    command = [sys.executable, "-m", "creator_kit", "--offline", "--models-dir", str(installed_store.models_dir)]
    environment = {**os.environ, "CREATOR_KIT_OUTPUTS_DIR": str(installed_store_outputs()), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([*command, "queue", "run", str(path)], env=environment, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((folder / "done").glob("*.json")) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished = {record.stem for record in (folder / "done").glob("*.json")}
    assert 1 <= len(finished) < total
    kept = {item: _stamp(folder, item) for item in finished}
    torn = sorted(finished)[0]  # an output without its done record: half-written, so redone
    (folder / "done" / f"{torn}.json").unlink()
    (folder / "done" / f".{torn}.1-abcdef.partial.json").write_text("{", encoding="utf-8")  # a torn record write
    assert queue.status(path).done == len(finished) - 1

    second = subprocess.run(
        [*command, "queue", "run", str(path), "--json"], env=environment, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert set(report["skipped"]) == finished - {torn} and torn in report["ran"]
    assert len(report["ran"]) + len(report["skipped"]) == total
    for item in finished - {torn}:
        assert _stamp(folder, item) == kept[item]  # not redone: the same files, untouched
    assert _stamp(folder, torn) != kept[torn]
    assert queue.status(path).done == total and not list(folder.glob("**/.*partial*"))


def _stamp(folder: Path, item: str) -> tuple:
    """The inode and modification time of an item's output and done record."""
    paths = [folder / f"{item}.txt", folder / "done" / f"{item}.json"]
    return tuple((path.stat().st_ino, path.stat().st_mtime_ns) for path in paths if path.exists())
