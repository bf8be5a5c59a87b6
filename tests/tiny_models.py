"""Tiny models with random weights, built from configs in seconds, for tests and benchmarks.

Real classes (GPT2LMHeadModel, StableDiffusionPipeline...), real safetensors files, tiny sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A painter mixes colours on a wooden palette before the morning light fades.",
    "Once upon a time a small robot learned to write poems about the sea.",
    "Stable diffusion turns noise into pictures one step at a time.",
    "Notebooks keep code, words and pictures together in one place.",
] * 20


def build_tokenizer(folder: Path, vocab_size: int = 300):
    """A byte-level BPE tokenizer trained on CORPUS, saved as a GPT-2 fast tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=vocab_size, min_frequency=1, special_tokens=["<|endoftext|>"])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_gpt2(folder: Path, *, n_layer: int = 2, n_embd: int = 64, seed: int = 0) -> Path:
    """A 2-layer GPT-2 with a freshly trained tokenizer, saved with safetensors weights."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder)
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


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


def build_clip_tokenizer(folder: Path, max_length: int = 16) -> None:
    """A character-level CLIP tokenizer (byte alphabet, no merges): what diffusers pipelines expect."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    alphabet = list(bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>", *alphabet, *(c + "</w>" for c in alphabet)]
    tokenizer = CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=max_length)
    tokenizer.save_pretrained(folder)


@dataclass(frozen=True)
class SDShape:
    """The sizes of a Stable Diffusion pipeline built from configs (defaults: the tiny test one, 32x32 images)."""

    unet_channels: tuple[int, ...] = (32, 64)
    vae_channels: tuple[int, ...] = (16, 32)
    text_width: int = 32
    text_layers: int = 2
    sample_size: int = 16  # latent size; images are sample_size * 2 ** (len(vae_channels) - 1) pixels
    max_length: int = 16  # prompt tokens
    groups: int = 8  # group-norm groups


def _diffusion_parts(folder: Path, shape: SDShape, *, seed: int) -> dict:
    """What every Stable-Diffusion-style pipeline shares: CLIP tokenizer and text encoder, VAE, DDIM scheduler."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    build_clip_tokenizer(folder / "tokenizer", max_length=shape.max_length)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    text_config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=shape.text_width,
        intermediate_size=2 * shape.text_width,
        num_attention_heads=4,
        num_hidden_layers=shape.text_layers,
        vocab_size=len(tokenizer),
        max_position_embeddings=shape.max_length,
    )
    return {
        "tokenizer": tokenizer,
        "text_encoder": CLIPTextModel(text_config),
        "vae": AutoencoderKL(
            block_out_channels=shape.vae_channels,
            latent_channels=4,
            norm_num_groups=shape.groups,
            down_block_types=("DownEncoderBlock2D",) * len(shape.vae_channels),
            up_block_types=("UpDecoderBlock2D",) * len(shape.vae_channels),
        ),
        "scheduler": DDIMScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, steps_offset=1
        ),
    }


def _unet_config(shape: SDShape, dims: str) -> dict:
    """A UNet with cross-attention in all but its deepest block; `dims` is "2D" (images) or "3D" (video)."""
    blocks = len(shape.unet_channels)
    return {
        "block_out_channels": shape.unet_channels,
        "layers_per_block": 1,
        "sample_size": shape.sample_size,
        "down_block_types": (f"CrossAttnDownBlock{dims}",) * (blocks - 1) + (f"DownBlock{dims}",),
        "up_block_types": (f"UpBlock{dims}",) + (f"CrossAttnUpBlock{dims}",) * (blocks - 1),
        "cross_attention_dim": shape.text_width,
        "attention_head_dim": 8,
        "norm_num_groups": shape.groups,
    }


def build_stable_diffusion(folder: Path, shape: SDShape = SDShape(), *, seed: int = 0) -> Path:
    """A Stable Diffusion pipeline with random weights: cross-attention UNet, VAE, CLIP text encoder, DDIM."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    parts = _diffusion_parts(folder, shape, seed=seed)
    StableDiffusionPipeline(
        unet=UNet2DConditionModel(**_unet_config(shape, "2D")),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        **parts,
    ).save_pretrained(folder)
    return folder


def build_text_to_video(folder: Path, shape: SDShape = SDShape(), *, seed: int = 0) -> Path:
    """A ModelScope-style TextToVideoSDPipeline with random weights: a UNet3D, VAE, CLIP text encoder, DDIM.

    Frames are 32x32 by default (latent sample size 16, VAE scale factor 2), like the tiny Stable Diffusion one.
    """
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

    parts = _diffusion_parts(folder, shape, seed=seed)
    TextToVideoSDPipeline(unet=UNet3DConditionModel(**_unet_config(shape, "3D")), **parts).save_pretrained(folder)
    return folder


def write_random_safetensors(path: Path, size_bytes: int, seed: int = 0) -> Path:
    """A valid safetensors file of about `size_bytes` holding one float32 tensor of random values."""
    import numpy as np
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.random.default_rng(seed).standard_normal(size_bytes // 4, dtype=np.float32)
    save_file({"weight": values}, str(path))
    return path
