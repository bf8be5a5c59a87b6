"""The "will it fit?" estimate against the memory real loads add, and its verdicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import CORPUS, build_gpt2

from creator_kit.library.sizing import Fit, count_parameters, estimate_load_bytes

MEASURE_LOAD = """
import gc, sys, psutil, torch
from transformers import AutoModelForCausalLM
gc.collect(); before = psutil.Process().memory_info().rss
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], local_files_only=True, dtype=torch.float32)
with torch.no_grad():
    model(torch.tensor([[1, 2, 3]]))
gc.collect(); print(psutil.Process().memory_info().rss - before)
"""


def measured_load_bytes(folder: Path) -> int:
    result = subprocess.run([sys.executable, "-c", MEASURE_LOAD, str(folder)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def distilgpt2_sized(tmp_path_factory) -> Path:
    """A GPT-2 with DistilGPT-2's shape (6 layers, 768 wide, 50257 tokens): 82M random parameters."""
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("distilgpt2-sized")
    GPT2LMHeadModel(GPT2Config(n_layer=6)).save_pretrained(folder)
    return folder


def test_parameters_are_counted_from_safetensors_headers(distilgpt2_sized):
    assert count_parameters(distilgpt2_sized) == 81_912_576  # lm_head is tied to the embeddings, stored once


@pytest.mark.parametrize("model", ["tiny", "distilgpt2-sized"])
def test_estimate_is_within_25_percent_of_a_real_load(model, distilgpt2_sized, tmp_path):
    folder = build_gpt2(tmp_path / "tiny", CORPUS) if model == "tiny" else distilgpt2_sized
    estimate = estimate_load_bytes(count_parameters(folder), "float32")
    measured = measured_load_bytes(folder)
    assert abs(estimate - measured) / measured < 0.25, (estimate, measured)


def test_half_precision_halves_the_weight_memory():
    weights = 100_000_000
    assert estimate_load_bytes(weights, "float32") - estimate_load_bytes(weights, "float16") == pytest.approx(
        weights * 2 * 1.05
    )


@pytest.mark.parametrize(
    ("needed", "available", "verdict"),
    [(50, 100, "fits"), (75, 100, "fits"), (90, 100, "tight"), (101, 100, "won't fit")],
)
def test_verdicts(needed, available, verdict):
    assert Fit(needed, available).verdict == verdict


def test_info_of_an_installed_model_uses_its_real_parameter_count(hub, store):
    from conftest import TINY_GPT2

    store.download(TINY_GPT2)
    info = store.info(TINY_GPT2, dtype="float32")
    assert info.parameters == count_parameters(store.snapshot_path(TINY_GPT2))
    assert info.memory.needed == estimate_load_bytes(info.parameters, "float32")
    assert info.memory.verdict == "fits" and info.download_bytes == 0


def test_info_of_a_remote_model_reports_its_download_size(hub, store):
    from conftest import BIG

    info = store.info(BIG)
    assert info.status == "available"
    assert info.download_bytes == sum(p.stat().st_size for p in hub.sources[BIG].rglob("*") if p.is_file())
    assert info.disk.verdict == "fits"


def test_info_offline_falls_back_to_the_catalog(tmp_path):
    from creator_kit.library.store import ModelStore

    info = ModelStore(tmp_path / "models", offline=True).info("distilbert/distilgpt2", dtype="float16")
    assert info.parameters == 81_912_576 and info.dtype == "float16" and info.status == "available"
