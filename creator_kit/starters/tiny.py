"""Tiny models with random weights, built from configs in seconds: the starter models, tests and benchmarks.

Real classes (GPT2LMHeadModel, StableDiffusionPipeline, TextToVideoSDPipeline, AutoencoderTiny), real safetensors
files, tiny sizes. Every builder imports torch, transformers or diffusers only when called.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def build_tokenizer(folder: Path, texts: Iterable[str], vocab_size: int = 300, context: int = 128) -> Any:
    """A byte-level BPE tokenizer trained on `texts`, saved in `folder` as a GPT-2 fast tokenizer for a model that
    reads `context` tokens at most."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=1, special_tokens=["<|endoftext|>"], show_progress=False
    )
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    tokenizer.model_max_length = context
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_gpt2(
    folder: Path,
    texts: Iterable[str],
    *,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 2,
    vocab_size: int = 300,
    context: int = 128,
    seed: int = 0,
) -> Path:
    """A GPT-2 with random weights and a tokenizer trained on `texts`, saved with safetensors weights; it reads
    `context` tokens at most (prompt and generated tokens together)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder, texts, vocab_size=vocab_size, context=context)
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=tokenizer.model_max_length,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
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


def _diffusion_parts(folder: Path, shape: SDShape, *, seed: int) -> dict[str, Any]:
    """What every Stable-Diffusion-style pipeline shares: CLIP tokenizer and text encoder, VAE, DDIM scheduler."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    build_clip_tokenizer(folder / "tokenizer", max_length=shape.max_length)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", trust_remote_code=False)
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


def _unet_config(shape: SDShape, dims: str) -> dict[str, Any]:
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


def build_tiny_autoencoder(
    folder: Path, *, levels: int | None = 2, channels: int = 16, latent_channels: int = 4, seed: int = 0
) -> Path:
    """An AutoencoderTiny (the TAESD class) with random weights whose decoder upsamples latents 2 ** (levels - 1)
    times: levels=2 fits the tiny Stable Diffusion pipelines (VAE scale factor 2); levels=None is TAESD's own shape
    (diffusers' defaults: four levels of 64 channels, 8x), for benchmarks."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    config: dict[str, Any] = {"latent_channels": latent_channels}
    if levels is not None:
        config["encoder_block_out_channels"] = config["decoder_block_out_channels"] = (channels,) * levels
        config["num_encoder_blocks"] = config["num_decoder_blocks"] = (1,) * levels
    AutoencoderTiny(**config).save_pretrained(folder)
    return folder
