"""Tiny models of the catalog's real classes, for the tests: same class and config shape, random weights.

GPT-Neo, a Llama-shaped and a Qwen2-shaped chat model (ChatML template on the tokenizer, as SmolLM2 and
Qwen2.5 ship), SD-Turbo (an SD 2.x-shaped pipeline with SD-Turbo's trailing Euler scheduler), SDXL (two text
encoders, size and crop conditioning) and Wan 2.1 (WanTransformer3DModel, AutoencoderKLWan, UMT5 encoder;
configs after diffusers' own pipeline tests). Each builder writes a folder that loads with from_pretrained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from creator_kit.starters.tiny import build_clip_tokenizer, build_tokenizer

#: The chat template SmolLM2-Instruct and Qwen2.5-Instruct ship (ChatML), without their default system prompt.
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SMALL_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}


def build_gpt_neo(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    """A GPTNeoForCausalLM (one global and one local attention layer, as GPT-Neo alternates) and its tokenizer."""
    import torch
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    tokenizer = build_tokenizer(folder, texts)
    torch.manual_seed(seed)
    config = GPTNeoConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=tokenizer.model_max_length,
        hidden_size=64,
        num_layers=2,
        num_heads=4,
        attention_types=[[["global", "local"], 1]],
        window_size=16,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPTNeoForCausalLM(config).save_pretrained(folder)
    return folder


def _chat_tokenizer(folder: Path, texts: list[str], tokenizer_class: str) -> Any:
    """A byte-level BPE tokenizer with ChatML's special tokens and template; `tokenizer_class` as the model's."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast, Qwen2Tokenizer

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=300, min_frequency=1, special_tokens=specials, show_progress=False)
    cls = {"GPT2Tokenizer": GPT2TokenizerFast, "Qwen2Tokenizer": Qwen2Tokenizer}[tokenizer_class]
    tokenizer = cls(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    tokenizer.chat_template = CHATML
    tokenizer.model_max_length = 512  # room for the catalog's 256 new tokens of a chat model
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_llama_chat(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    """A LlamaForCausalLM shaped like SmolLM2 (grouped-query attention, tied embeddings) with a ChatML tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _chat_tokenizer(folder, texts, "GPT2Tokenizer")
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=tokenizer.model_max_length,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **SMALL_TEXT,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def build_qwen2_chat(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    """A Qwen2ForCausalLM shaped like Qwen2.5 (grouped-query attention, biased q/k/v) with a ChatML tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = _chat_tokenizer(folder, texts, "Qwen2Tokenizer")
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        max_position_embeddings=tokenizer.model_max_length,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **SMALL_TEXT,
    )
    Qwen2ForCausalLM(config).save_pretrained(folder)
    return folder


def _vae(scaling_factor: float) -> Any:
    """An AutoencoderKL that scales by 8 like the real ones (four levels), with few channels."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(8, 16, 16, 16),
        latent_channels=4,
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=scaling_factor,
    )


def _clip_config(**extra: Any) -> Any:
    """A small CLIP text encoder configuration (GELU, as OpenCLIP ViT-H and ViT-bigG) for the tokenizer here."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=514,  # build_clip_tokenizer: two special tokens and the byte alphabet twice
        max_position_embeddings=16,
        hidden_act="gelu",
        **extra,
    )


def build_sd_turbo(folder: Path, *, seed: int = 0) -> Path:
    """An SD 2.x-shaped StableDiffusionPipeline (linear projections, heads per level, GELU text encoder, VAE x8;
    64x64 pictures) with the scheduler SD-Turbo ships: EulerDiscreteScheduler, trailing timesteps."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    build_clip_tokenizer(folder / "tokenizer")
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        norm_num_groups=8,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="trailing",
        prediction_type="epsilon",
    )
    StableDiffusionPipeline(
        vae=_vae(0.18215),
        text_encoder=CLIPTextModel(_clip_config()),
        tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer", trust_remote_code=False),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(folder)
    return folder


def build_sdxl(folder: Path, *, seed: int = 0) -> Path:
    """A StableDiffusionXLPipeline: CLIPTextModel + CLIPTextModelWithProjection, a UNet conditioned on the pooled
    text and the size/crop time ids (addition_embed_type text_time), attention only below the first level, VAE x8,
    EulerDiscrete; 64x64 pictures."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    for name in ("tokenizer", "tokenizer_2"):
        build_clip_tokenizer(folder / name)
    torch.manual_seed(seed)
    text_config = _clip_config(projection_dim=32)
    time_dim = 8
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * time_dim + text_config.projection_dim,  # 6 time ids + pooled text
        cross_attention_dim=2 * text_config.hidden_size,  # both encoders' hidden states, concatenated
        norm_num_groups=8,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    StableDiffusionXLPipeline(
        vae=_vae(0.13025),
        text_encoder=CLIPTextModel(text_config),
        text_encoder_2=CLIPTextModelWithProjection(text_config),
        tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer", trust_remote_code=False),
        tokenizer_2=CLIPTokenizer.from_pretrained(folder / "tokenizer_2", trust_remote_code=False),
        unet=unet,
        scheduler=scheduler,
    ).save_pretrained(folder)
    return folder


def build_wan(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    """A WanPipeline after diffusers' tests: a 2-layer WanTransformer3DModel, an AutoencoderKLWan (4x in time, 8x
    in space), a small UMT5 encoder with a byte-level tokenizer, and flow-matching Euler (shift 3, as Wan's)."""
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = build_tokenizer(folder / "tokenizer", texts)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.save_pretrained(folder / "tokenizer")
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4)
    )
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    ).save_pretrained(folder)
    return folder


def install_as(models_dir: Path, repo_id: str, folder: Path, *, task: str | None = None) -> None:
    """Put the model in `folder` into the store at `models_dir` under `repo_id`, as a finished download would
    (blobs, snapshot, ref, a complete record; task: the catalog's unless given): a tiny model standing in for a
    catalog model, without the Hub."""
    from creator_kit.library import cache

    repo_dir = models_dir / cache.repo_folder_name(repo_id)
    commit, copied = cache.copy_into_blobs(folder, repo_dir / "blobs")
    fields = {"task": task} if task else {}
    cache.finish(repo_dir, cache.new_record(repo_id, "main", commit, copied, source="hub", **fields))
