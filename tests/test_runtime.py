"""The loaded-model cache: reuse, LRU unloading under a budget, measured sizes, int8 quantization, refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from conftest import PICKLE_ONLY, TINY_GPT2
from tiny_models import write_random_safetensors

from creator_kit import runtime, text
from creator_kit.core.errors import (
    IntegrityError,
    InvalidInputError,
    ModelNotInstalledError,
    UnsafeWeightsError,
    WrongTaskError,
)
from creator_kit.core.events import Done, Log


def _load(cache: runtime.Runtime, repo_id: str, **options) -> runtime.LoadedModel:
    return cache.load(repo_id, task=text.TASK, loader=text.load_causal_lm, **options)


@pytest.fixture
def copies(installed_store, hub) -> list[str]:
    """Three installed text models: tiny/gpt2 and two local copies of it."""
    source = hub.sources[TINY_GPT2]
    names = [installed_store.register_local(name, source, task=text.TASK).repo_id for name in ("copy-a", "copy-b")]
    return [TINY_GPT2, *names]


def test_the_same_model_is_loaded_once(installed_store):
    cache = runtime.Runtime()
    events = []
    first = _load(cache, TINY_GPT2, on_event=events.append)
    again = _load(cache, TINY_GPT2, on_event=events.append)

    assert again is first
    assert cache.loaded() == [TINY_GPT2]
    assert [type(e) for e in events] == [Log, Done]
    assert first.commit == installed_store.get(TINY_GPT2).commit
    assert (first.device, first.dtype, first.task) == ("cpu", "float32", text.TASK)
    assert not first.model.training


def test_loaded_size_is_measured_from_the_model_tensors(installed_store):
    loaded = _load(runtime.Runtime(), TINY_GPT2)

    parameter_bytes = sum(p.numel() * p.element_size() for p in loaded.model.parameters())  # tied weights once
    buffer_bytes = sum(b.numel() * b.element_size() for b in loaded.model.buffers())
    assert loaded.memory_bytes == parameter_bytes + buffer_bytes
    assert loaded.load_seconds > 0 and loaded.rss_delta_bytes >= 0


def test_least_recently_used_models_are_unloaded_to_stay_within_the_budget(copies):
    size = _load(runtime.Runtime(), TINY_GPT2).memory_bytes
    cache = runtime.Runtime(budget_bytes=int(size * 2.5))
    a, b, c = copies

    _load(cache, a)
    _load(cache, b)
    _load(cache, a)  # a is now the most recently used
    _load(cache, c)

    assert cache.loaded() == [a, c]
    assert cache.memory_used() == 2 * size <= cache.budget_bytes


def test_a_smaller_budget_unloads_at_once_and_unload_releases(copies):
    cache = runtime.Runtime()
    for repo_id in copies:
        _load(cache, repo_id)
    size = cache.entries()[0].memory_bytes

    cache.set_budget(size)
    assert cache.loaded() == [copies[-1]]
    assert cache.unload(copies[-1]) == size
    assert cache.loaded() == [] and cache.memory_used() == 0
    assert cache.unload(copies[-1]) == 0
    with pytest.raises(InvalidInputError, match="positive number of bytes"):
        cache.set_budget(0)


def test_a_model_bigger_than_the_budget_still_loads_alone(copies):
    cache = runtime.Runtime(budget_bytes=1)
    _load(cache, copies[0])
    _load(cache, copies[1])

    assert cache.loaded() == [copies[1]]


def test_different_options_are_different_entries_and_unload_drops_all(installed_store):
    cache = runtime.Runtime()
    plain = _load(cache, TINY_GPT2)
    quantized = _load(cache, TINY_GPT2, quantize="int8")

    assert quantized is not plain and len(cache.entries()) == 2
    assert cache.loaded() == [TINY_GPT2]
    assert cache.unload(TINY_GPT2) == plain.memory_bytes + quantized.memory_bytes
    assert cache.entries() == []


def test_int8_quantization_shrinks_linear_layers_and_still_generates(installed_store):
    cache = runtime.Runtime()
    plain = _load(cache, TINY_GPT2)
    quantized = _load(cache, TINY_GPT2, quantize="int8")

    dynamic_linear = torch.ao.nn.quantized.dynamic.Linear
    layers = [m for m in quantized.model.modules() if isinstance(m, dynamic_linear)]
    assert len(layers) == 2 * 4 + 1  # c_attn, c_proj, c_fc, mlp.c_proj per block, and lm_head
    assert quantized.dtype == "int8" and quantized.quantize == "int8"
    assert quantized.memory_bytes < 0.6 * plain.memory_bytes

    result = text.generate("Once upon a time", model=quantized, preset="precise", max_new_tokens=10)
    assert result.new_tokens >= 1 and result.manifest.parameters["quantize"] == "int8"


def test_quantize_through_the_engine_uses_the_default_cache(installed_store):
    result = text.generate("Once upon a time", model=TINY_GPT2, quantize="int8", max_new_tokens=3, seed=0)

    assert result.manifest.parameters["dtype"] == "int8"
    assert TINY_GPT2 in runtime.loaded()
    runtime.unload(TINY_GPT2)
    assert TINY_GPT2 not in runtime.loaded()


def test_wrong_task_and_missing_models_are_refused(installed_store, hub, tmp_path):
    folder = shutil.copytree(hub.sources[TINY_GPT2], tmp_path / "painter")
    painter = installed_store.register_local("painter", folder, task="text-to-image").repo_id
    cache = runtime.Runtime()

    with pytest.raises(WrongTaskError, match="local/painter is a text-to-image model"):
        _load(cache, painter)
    with pytest.raises(ModelNotInstalledError, match="creator-kit models download nobody/nothing"):
        _load(cache, "nobody/nothing")
    with pytest.raises(InvalidInputError, match="quantize must be one of int8"):
        _load(cache, TINY_GPT2, quantize="int4")
    with pytest.raises(InvalidInputError, match="runs on the CPU only"):
        _load(cache, TINY_GPT2, quantize="int8", device="cuda")
    assert cache.loaded() == []


def test_a_config_that_is_not_a_causal_lm_is_a_wrong_task(installed_store, tmp_path):
    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "clip_vision_model"}')
    write_random_safetensors(folder / "model.safetensors", 1024)
    encoder = installed_store.register_local("encoder", folder, task=text.TASK).repo_id

    with pytest.raises(WrongTaskError, match="not a text-generation"):
        _load(runtime.Runtime(), encoder)


def test_pickle_weights_load_only_for_models_downloaded_with_the_opt_in(installed_store, hub, tmp_path):
    registered = installed_store.register_local("pickled", hub.sources[PICKLE_ONLY], task=text.TASK).repo_id
    with pytest.raises(UnsafeWeightsError, match="--allow-pickle"):
        _load(runtime.Runtime(), registered)

    from creator_kit.library.store import ModelStore

    store = ModelStore(tmp_path / "models", offline=False, user_cache=tmp_path / "no-cache")
    store.download(PICKLE_ONLY, allow_pickle=True)
    loaded = runtime.Runtime(store=store).load(PICKLE_ONLY, task=text.TASK, loader=_load_model_only)
    assert isinstance(loaded.model, torch.nn.Module) and loaded.memory_bytes > 0


def _load_model_only(path, *, device, dtype, use_safetensors):
    """The pickle-only fixture has no tokenizer: load just the model, the way text.load_causal_lm does."""
    from transformers import AutoModelForCausalLM

    assert use_safetensors is False
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, local_files_only=True, use_safetensors=False, trust_remote_code=False
    )
    return model, None


def test_memory_budget_comes_from_the_environment(monkeypatch):
    from creator_kit.core.config import reset_settings
    from creator_kit.engines.runtime import Runtime

    monkeypatch.setenv("CREATOR_KIT_MEMORY_BUDGET", "123456789")
    reset_settings()
    assert Runtime().budget_bytes == 123456789
    monkeypatch.setenv("CREATOR_KIT_MEMORY_BUDGET", "lots")
    reset_settings()
    with pytest.raises(InvalidInputError, match="CREATOR_KIT_MEMORY_BUDGET"):
        Runtime().budget_bytes  # noqa: B018


def test_a_model_whose_files_were_damaged_fails_to_load_with_the_fix(installed_store):
    runtime.unload_all()
    weights = Path(installed_store.get(TINY_GPT2).path) / "model.safetensors"
    weights.resolve().write_bytes(b"not safetensors")

    with pytest.raises(IntegrityError, match="damaged") as raised:
        text.load_model(TINY_GPT2)
    assert "model.safetensors" in str(raised.value) and f"models download {TINY_GPT2}" in str(raised.value)
    assert TINY_GPT2 not in runtime.loaded()


def test_a_load_failure_of_sound_files_stands_as_it_is(installed_store):
    def failing_loader(path, **options):
        raise RuntimeError("this architecture needs a newer library")

    with pytest.raises(RuntimeError, match="newer library"):
        runtime.load(TINY_GPT2, task="text-generation", loader=failing_loader)
