"""A queue on Ray (a local instance started here): one task per item, the same items as a local run, resumable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import TINY_GPT2

from creator_kit import manifest, queue
from creator_kit.cli import main as cli_main

ray = pytest.importorskip("ray")  # the cluster extra; `dev` pulls it, so CI runs these


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray instance on this machine (two CPUs, no dashboard), its address for clients in other processes."""
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield context.address_info["address"]
    ray.shutdown()


def write_queue(folder, output, **fields):
    data = {"task": "text", "models": [TINY_GPT2], "prompts": ["Once", "The sea"], "seed": 2, "output": output}
    path = folder / f"{output}.json"
    path.write_text(json.dumps({**data, "grid": {"max_new_tokens": [3, 5]}, **fields}), encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_ray_run_gives_the_items_of_a_local_run_and_resumes_the_same_way(installed_store, ray_address, tmp_path):
    local = queue.run(write_queue(tmp_path, "local"))
    path = write_queue(tmp_path, "on-ray")
    on_ray = queue.run(path, ray_address=ray_address)
    assert [r["id"] for r in on_ray.records] == [r["id"] for r in local.records] == on_ray.ran
    for mine, theirs in zip(local.records, on_ray.records, strict=True):
        here, there = local.folder / mine["output"], on_ray.folder / theirs["output"]
        assert here.read_text(encoding="utf-8") == there.read_text(encoding="utf-8")  # same seed, same text
        assert manifest.read(here).parameters == manifest.read(there).parameters
        assert theirs["metrics"]["tokens_per_s"] > 0

    redo = on_ray.records[1]["id"]
    (on_ray.folder / "done" / f"{redo}.json").unlink()  # its output stays, half-written in effect
    command = [sys.executable, "-m", "creator_kit", "--models-dir", str(installed_store.models_dir)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    resumed = subprocess.run(
        [*command, "queue", "run", str(path), "--ray", ray_address, "--json"],
        env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["ran"] == [redo] and len(report["skipped"]) == 3
    assert queue.status(path).done == 4


@pytest.mark.slow
def test_without_ray_the_local_path_runs_and_ray_asks_for_the_extra(installed_store, tmp_path):
    path = write_queue(tmp_path, "no-ray", grid={"max_new_tokens": [2]})
    script = textwrap.dedent(f"""
        import sys
        sys.modules["ray"] = None  # as if the cluster extra were not installed
        from creator_kit.cli import main
        print(main(["--models-dir", {str(installed_store.models_dir)!r}, "queue", "run", {str(path)!r}]))
        print(main(["--models-dir", {str(installed_store.models_dir)!r}, "queue", "run", {str(path)!r},
                    "--ray", "127.0.0.1:1"]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.stdout.split()[-2:] == ["0", "3"], result.stderr
    assert "pip install 'creator-kit[cluster]'" in result.stderr.splitlines()[-1]


def test_a_cluster_that_does_not_answer_is_one_error_at_once(installed_store, tmp_path, capsys):
    path = write_queue(tmp_path, "nowhere")
    assert cli_main(["queue", "run", str(path), "--ray", "127.0.0.1:1"]) == 5
    assert "Cannot reach the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err
    assert queue.status(path).done == 0
