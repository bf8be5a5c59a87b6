"""OpenVINO variants of text-to-image pipelines: the source pipeline's folder with the UNet and the VAE's decoder
converted to OpenVINO graphs (float16 weights on disk) with dynamic shapes; the other parts linked as they are.
They run as `engines.variant_image` describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from creator_kit.convert.graphs import save_openvino
from creator_kit.core.errors import InvalidInputError
from creator_kit.engines.variant_image import CONVERTED, GRAPH

_TORCH_WEIGHTS = (".safetensors", ".bin", ".ckpt", ".pt")


class UNetCall(torch.nn.Module):
    """A UNet as a function of tensors only (what OpenVINO traces); SDXL's extra conditioning as two inputs."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        text_embeds: torch.Tensor | None = None,
        time_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        added = {"text_embeds": text_embeds, "time_ids": time_ids} if text_embeds is not None else None
        return self.unet(sample, timestep, encoder_hidden_states, added_cond_kwargs=added, return_dict=False)[0]


class DecoderCall(torch.nn.Module):
    """A VAE's decoder: latents (already divided by the scaling factor) to pixels in [-1, 1]."""

    def __init__(self, vae: torch.nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents, return_dict=False)[0]


def native_side(config: Any) -> int:
    """The side of the UNet's native latents (its sample_size, an int or a pair)."""
    return config.sample_size if isinstance(config.sample_size, int) else config.sample_size[0]


def unet_example(config: Any) -> tuple[torch.Tensor, ...]:
    """Inputs of one guided step at the native size: what the UNet is traced with (the shapes stay dynamic)."""
    side = native_side(config)
    inputs = [
        torch.randn(2, config.in_channels, side, side),
        torch.tensor(500.0),
        torch.randn(2, 77, config.cross_attention_dim),
    ]
    if config.addition_embed_type == "text_time":  # SDXL: pooled text embeddings and the six size/crop ids
        pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
        inputs += [torch.randn(2, pooled), torch.tensor([[1024.0, 1024.0, 0.0, 0.0, 1024.0, 1024.0]] * 2)]
    elif config.addition_embed_type is not None or config.time_cond_proj_dim is not None:
        raise InvalidInputError(
            f"This UNet takes {config.addition_embed_type or 'timestep'} conditioning, which OpenVINO variants do "
            "not convert: only Stable Diffusion 1.x / 2.x / XL (and Turbo) pipelines do."
        )
    return tuple(inputs)


def write(pipeline: Any, source: Path, folder: Path, on_part: Any) -> None:
    """The variant of `pipeline` (loaded in float32 from `source`) in `folder`: the source's files, linked, except
    the torch weights of the converted parts, which become OpenVINO graphs. `on_part(name)` before each graph."""
    import openvino

    if getattr(pipeline, "unet", None) is None or getattr(pipeline, "vae", None) is None:
        raise InvalidInputError(f"{type(pipeline).__name__} has no UNet and VAE: only UNet pipelines convert.")
    for path in sorted(source.rglob("*")):
        part = path.relative_to(source)
        if path.is_file() and not (part.parts[0] in CONVERTED and path.suffix in _TORCH_WEIGHTS):
            (folder / part).parent.mkdir(parents=True, exist_ok=True)
            (folder / part).symlink_to(path.resolve())  # the store copies the content in when it registers
    side = native_side(pipeline.unet.config)
    latents = torch.randn(1, pipeline.vae.config.latent_channels, side, side)
    graphs = {
        "unet": (UNetCall(pipeline.unet), unet_example(pipeline.unet.config)),
        "vae": (DecoderCall(pipeline.vae), (latents,)),
    }
    with torch.no_grad():
        for name, (module, example) in graphs.items():
            on_part(name)
            save_openvino(
                openvino.convert_model(module.eval(), example_input=example), folder / name / GRAPH, fp16=True
            )
