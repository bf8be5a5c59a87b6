"""`creator-kit models bench`: real short runs of the starter models, figures stored beside them, shown only here."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from creator_kit import CancelledError, ModelStore, bench, configure, files, runtime
from creator_kit.cli import main
from creator_kit.starters.build import build_starters

TEXT, PICTURE = "local/starter-text", "local/starter-image"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The text and picture starters, built once on one torch thread."""
    import torch

    models_dir = tmp_path_factory.mktemp("bench-starters") / "models"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    build_starters(ModelStore(models_dir, offline=True), tasks=["text-generation", "text-to-image"])
    yield models_dir
    torch.set_num_threads(threads)


@pytest.fixture
def store(built, tmp_path) -> ModelStore:
    """A copy of the built store, made the configured one (offline)."""
    models = shutil.copytree(built, tmp_path / "models", symlinks=True)
    configure(models_dir=models, outputs_dir=tmp_path / "outputs", offline=True)
    yield ModelStore()
    runtime.unload_all()


def record_path(store: ModelStore, repo_id: str) -> Path:
    return store.models_dir / f"models--{repo_id.replace('/', '--')}" / bench.RECORD_NAME


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_bench_of_the_picture_starter_stores_figures_that_info_shows(store, capsys):
    code, out, _ = run_cli(capsys, "models", "bench", PICTURE, "--json")
    assert code == 0
    result = json.loads(out)
    figures, settings = result["figures"], result["settings"]
    assert (settings["width"], settings["height"]) == (64, 64)  # the starter's native size
    assert settings["steps_run"] == bench.STEPS and settings["picture_steps"] == 25
    assert 0 < figures["seconds_per_step"] < figures["seconds_per_picture"]
    assert figures["seconds_per_picture"] >= figures["run_s"] and figures["load_s"] > 0
    assert figures["peak_memory_bytes"] > 0
    assert result["machine"] == bench.machine("cpu") and result["dtype"] in ("float32", "bfloat16")
    assert result["summary"].startswith("about ") and "s per picture here (25 steps at 64x64" in result["summary"]

    stored = files.read_json(record_path(store, PICTURE))["results"]
    assert [entry["figures"] for entry in stored] == [figures]

    code, out, _ = run_cli(capsys, "models", "info", PICTURE, "--json")
    assert code == 0 and [entry["figures"] for entry in json.loads(out)["bench"]] == [figures]
    code, out, _ = run_cli(capsys, "models", "info", PICTURE)
    assert code == 0 and f"speed           {result['summary']}" in out


def test_bench_of_the_text_starter_reports_tokens_per_second_with_progress(store, capsys):
    events: list = []
    result = bench.run(TEXT, on_event=events.append)
    assert result.figures["tokens_per_s"] > 0 and result.figures["first_token_s"] > 0
    assert result.settings["new_tokens"] >= 1 and result.dtype == "float32"
    assert "tokens/s here (first token after" in result.summary()
    stages = [e.completed for e in events if type(e).__name__ == "Progress" and e.operation == "bench"]
    assert stages == [0, 1, 2] and type(events[-1]).__name__ == "Done" and events[-1].result == result
    assert any(type(e).__name__ == "Progress" and e.operation == "generate" for e in events)  # the engine's own

    again = bench.run(TEXT, dtype="int8")  # another dtype: a second figure beside the first
    assert [r.dtype for r in bench.here(TEXT, store=store)] == ["int8", "float32"]
    bench.run(TEXT, dtype="int8")  # the same machine and dtype: replaced, not added
    assert len(files.read_json(record_path(store, TEXT))["results"]) == 2
    code, out, _ = run_cli(capsys, "models", "info", TEXT, "--json")
    assert code == 0 and {entry["dtype"] for entry in json.loads(out)["bench"]} == {again.dtype, "float32"}


def test_figures_from_another_machine_or_commit_are_not_shown_here(store, capsys):
    bench.run(PICTURE)
    path = record_path(store, PICTURE)
    (entry,) = files.read_json(path)["results"]
    elsewhere = [
        dict(entry, machine=dict(entry["machine"], processor="Some Other CPU")),
        dict(entry, machine=dict(entry["machine"], cpu_flags=[])),
        dict(entry, machine=dict(entry["machine"], torch="1.0.0")),
        dict(entry, machine=dict(entry["machine"], device="cuda")),  # no CUDA here
        dict(entry, commit="0" * 40),  # an earlier version of the model
    ]
    files.write_json(path, {"results": elsewhere})
    assert bench.here(PICTURE, store=store) == []
    code, out, _ = run_cli(capsys, "models", "info", PICTURE, "--json")
    assert code == 0 and json.loads(out)["bench"] == []
    code, out, _ = run_cli(capsys, "models", "info", PICTURE)
    assert code == 0 and "here" not in out

    files.write_json(path, {"results": [*elsewhere, entry]})
    assert [r.figures for r in bench.here(PICTURE, store=store)] == [entry["figures"]]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["models", "bench", "someone/not-installed"], 3, "is not installed"),
        (["models", "bench", "not a repo id!"], 2, "not a repo id!"),
        (["models", "bench", TEXT, "--dtype", "bfloat16"], 2, "float32 or int8"),
        (["models", "bench", PICTURE, "--dtype", "int8"], 2, "float32, bfloat16, float16"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code_and_stores_nothing(store, capsys, args, code, fragment):
    got, out, err = run_cli(capsys, *args)
    assert got == code and out == "" and len(err.strip().splitlines()) == 1 and fragment in err
    assert not record_path(store, args[2]).exists()


@pytest.mark.parametrize("repo_id", [PICTURE, TEXT])
def test_a_cancelled_bench_stores_nothing(store, repo_id):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        bench.run(repo_id, cancel=cancel)
    assert not record_path(store, repo_id).exists() and bench.here(repo_id, store=store) == []


def test_the_model_card_shows_the_speed_measured_here(store):
    from widgets.model_browser import ModelBrowser

    browser = ModelBrowser(store)
    try:
        card = browser.cards[PICTURE]
        assert card.speed.value == ""  # not measured yet
        result = bench.run(PICTURE)  # the store tells the open browser, which updates the card
        assert "s per picture here" in card.speed.value and result.summary()[1:] in card.speed.value
        assert browser.cards[TEXT].speed.value == ""
    finally:
        browser.close()
