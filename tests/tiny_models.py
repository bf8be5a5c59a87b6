"""Test-only tiny models and files; the model builders themselves live in `creator_kit.starters.tiny`.

Real classes, real safetensors files, tiny sizes. The builders are re-exported here for tests and benchmarks.
"""

from __future__ import annotations

from pathlib import Path

from creator_kit.starters.tiny import SDShape, build_gpt2, build_stable_diffusion, build_text_to_video  # noqa: F401

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A painter mixes colours on a wooden palette before the morning light fades.",
    "Once upon a time a small robot learned to write poems about the sea.",
    "Stable diffusion turns noise into pictures one step at a time.",
    "Notebooks keep code, words and pictures together in one place.",
] * 20


def build_pickle_only(folder: Path) -> Path:
    """A GPT-2 repo whose only weights are a pickle ``pytorch_model.bin``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder.mkdir(parents=True, exist_ok=True)
    config = GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def write_random_safetensors(path: Path, size_bytes: int, seed: int = 0) -> Path:
    """A valid safetensors file of about `size_bytes` holding one float32 tensor of random values."""
    import numpy as np
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.random.default_rng(seed).standard_normal(size_bytes // 4, dtype=np.float32)
    save_file({"weight": values}, str(path))
    return path
