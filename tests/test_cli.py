"""The `creator-kit` command: its JSON contract, its one-line errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import PICKLE_ONLY, TINY_GPT2

from creator_kit.library.catalog import TASKS


def run_cli(*args: str, endpoint: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    return subprocess.run(
        [sys.executable, "-m", "creator_kit", *args], capture_output=True, text=True, env=env, timeout=300
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("creator-kit: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_catalog_json_lists_every_task_with_stable_keys():
    result = run_cli("models", "catalog", "--json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert {e["task"] for e in entries} == set(TASKS)
    keys = {"repo_id", "task", "name", "parameters", "size_bytes", "dtype", "license", "description", "chat"}
    keys |= {"defaults", "latent_family"}  # per-model settings; a companion's latent space
    assert all(set(e) == keys for e in entries)
    text_models = {e["repo_id"] for e in entries if e["task"] == "text-generation"}
    assert {"openai-community/gpt2", "distilbert/distilgpt2", "EleutherAI/gpt-neo-125m"} <= text_models
    assert sum(e["task"] == "text-to-video" for e in entries) >= 2


def test_catalog_filters_by_task():
    result = run_cli("models", "catalog", "--task", "text-to-image", "--json")
    assert {e["task"] for e in json.loads(result.stdout)} == {"text-to-image"}


def test_download_list_info_verify_remove_round_trip(hub, tmp_path):
    models = str(tmp_path / "models")
    download = run_cli("--models-dir", models, "models", "download", TINY_GPT2, endpoint=hub.endpoint)
    assert download.returncode == 0, download.stderr
    assert "downloaded" in download.stdout

    listing = json.loads(run_cli("--models-dir", models, "--offline", "models", "list", "--json").stdout)
    assert [(m["repo_id"], m["status"], m["commit"]) for m in listing] == [
        (TINY_GPT2, "downloaded", hub.commits[TINY_GPT2])
    ]
    info = json.loads(run_cli("--models-dir", models, "--offline", "models", "info", TINY_GPT2, "--json").stdout)
    assert info["memory"]["verdict"] in {"fits", "tight", "won't fit"} and info["parameters"] > 0

    assert run_cli("--models-dir", models, "--offline", "models", "verify", TINY_GPT2).returncode == 0
    removed = run_cli("--models-dir", models, "models", "remove", TINY_GPT2)
    assert removed.returncode == 0 and "freed" in removed.stdout
    assert json.loads(run_cli("--models-dir", models, "models", "list", "--json").stdout) == []


def test_verify_of_a_corrupted_model_exits_7(hub, store):
    store.download(TINY_GPT2)
    weights = (store.snapshot_path(TINY_GPT2) / "model.safetensors").resolve()
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    result = run_cli("--models-dir", str(store.models_dir), "models", "verify", TINY_GPT2)
    assert_one_line_error(result, 7, "model.safetensors", "download")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["models", "download", "../../etc"], 2, "not a valid model id"),
        (["models", "info", "bad id"], 2, "not a valid model id"),
        (["--offline", "models", "verify", "distilbert/distilgpt2"], 3, "models download distilbert/distilgpt2"),
        (["models", "remove", "tiny/never-installed"], 3, "nothing to remove"),
        (["--offline", "models", "download", "distilbert/distilgpt2"], 5, "offline"),
        (["--offline", "models", "info", "someone/unknown-model"], 5, "offline"),
        (["lab", "/no/such/folder"], 2, "is not a folder"),
    ],
)
def test_errors_are_one_line_with_the_right_exit_code(args, code, fragment, tmp_path):
    assert_one_line_error(run_cli("--models-dir", str(tmp_path / "models"), *args), code, fragment)


def test_unsafe_weights_exit_4_and_allow_pickle_opts_in(hub, tmp_path):
    models = str(tmp_path / "models")
    refused = run_cli("--models-dir", models, "models", "download", PICKLE_ONLY, endpoint=hub.endpoint)
    assert_one_line_error(refused, 4, "--allow-pickle")
    allowed = run_cli(
        "--models-dir", models, "models", "download", PICKLE_ONLY, "--allow-pickle", endpoint=hub.endpoint
    )
    assert allowed.returncode == 0, allowed.stderr


def test_unreachable_hub_exits_5(tmp_path):
    result = run_cli(
        "--models-dir", str(tmp_path / "models"), "models", "download", TINY_GPT2, endpoint="http://127.0.0.1:9"
    )
    assert_one_line_error(result, 5, "HF_ENDPOINT")


def test_reproduce_a_saved_text_result(installed_models_dir, tmp_path):
    models = str(installed_models_dir)
    out = tmp_path / "story.txt"
    made = run_cli(
        "--models-dir",
        models,
        "generate",
        "text",
        "--model",
        TINY_GPT2,
        "--prompt",
        "Once upon a time",
        "--max-new-tokens",
        "8",
        "--seed",
        "5",
        "--out",
        str(out),
    )
    assert made.returncode == 0, made.stderr
    again = run_cli("--models-dir", models, "reproduce", f"{out}.json")  # the sidecar: story.txt.json
    assert again.returncode == 0 and "reproduced exactly" in again.stdout, again.stderr
    out.write_text("something else", encoding="utf-8")
    assert run_cli("--models-dir", models, "reproduce", str(out)).returncode == 1


def test_lab_privacy_flags_turn_news_update_checks_and_the_extension_manager_off():
    from jupyterlab.handlers.announcements import NeverCheckForUpdate
    from jupyterlab.labapp import LabApp

    from creator_kit.lab import LAB_PRIVACY

    app = LabApp()
    app.parse_command_line(LAB_PRIVACY)
    assert app.news_url is None  # "" would still fetch: JupyterLab disables the feed only for None
    assert app.check_for_updates_class is NeverCheckForUpdate and app.extension_manager == "readonly"
