"""OpenVINO variants of text-to-image pipelines (creator_kit.convert): the UNet and the VAE's decoder as graphs.

A variant folder is the source pipeline's folder with two parts replaced: ``unet/`` and ``vae/`` keep their
configuration and hold an OpenVINO graph (``model.xml`` and ``model.weights``, float16 weights on disk) in place
of their torch weights. The text encoder, tokenizer and scheduler stay the source's own, so every scheduler,
guidance and size works as on the source. The graphs are converted with dynamic shapes and compiled, at each
new input shape, for that shape (static shapes measured 1.6x faster per UNet step than torch's bfloat16 here,
benchmarks/RESULTS.md), in bfloat16 where the pipeline runs in bfloat16 and float32 otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from diffusers import ModelMixin
from diffusers.configuration_utils import ConfigMixin, FrozenDict

from creator_kit.convert import save_openvino
from creator_kit.errors import InvalidInputError

#: The pipeline parts a variant runs in OpenVINO: the folder each lives in.
CONVERTED = ("unet", "vae")
GRAPH = "model.xml"
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


def load(folder: Path, *, device: str, dtype: torch.dtype) -> Any:
    """The variant pipeline in `folder`: text encoder in torch (`dtype`), UNet and decoder compiled by OpenVINO in
    bfloat16 when `dtype` is, else float32."""
    from creator_kit.image import open_pipeline

    if device != "cpu":
        raise InvalidInputError(f"Converted models run on the CPU: use device='cpu', not {device!r}.")
    precision = "bf16" if dtype == torch.bfloat16 else "f32"
    parts = {"unet": OpenVINOUNet(folder / "unet", precision), "vae": OpenVINODecoder(folder / "vae", precision)}
    return open_pipeline(
        "AutoPipelineForText2Image", folder, dtype=dtype, use_safetensors=True, kind="text-to-image pipeline", **parts
    )


class _Graph:
    """An OpenVINO graph compiled for the shapes of its latest inputs (a new shape compiles again, in seconds)."""

    def __init__(self, path: Path, precision: str) -> None:
        import openvino

        self.core = openvino.Core()
        self.model = self.core.read_model(path, path.with_suffix(".weights"))
        if "BF16" not in self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            precision = "f32"  # bfloat16 asked of a CPU without it: float32, as torch's bfloat16 would be emulated
        self.precision = precision
        # What the compiled graph holds: the float16 weights on disk in its precision.
        self.bytes = path.with_suffix(".weights").stat().st_size * (2 if precision == "f32" else 1)
        self.settings = {
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision,
        }
        self.shapes: tuple | None = None
        self.request: Any = None

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        arrays = [t.detach().to("cpu", torch.float32).numpy() for t in tensors]
        shapes = tuple(a.shape for a in arrays)
        if shapes != self.shapes:
            model = self.model.clone()
            model.reshape({put: shape for put, shape in zip(model.inputs, shapes, strict=True)})
            self.request = self.core.compile_model(model, "CPU", self.settings).create_infer_request()
            self.shapes = shapes
        self.request.infer(arrays)
        return torch.from_numpy(self.request.get_output_tensor(0).data.copy())


class _Part(ModelMixin, ConfigMixin):
    """A converted part as the diffusers model it replaces (pipelines take only ModelMixins): its configuration,
    dtype and device, and no torch weights."""

    backend = "openvino"

    def __init__(self, folder: Path, precision: str) -> None:
        super().__init__()
        self._internal_dict = FrozenDict(json.loads((folder / "config.json").read_text(encoding="utf-8")))
        self.graph = _Graph(folder / GRAPH, precision)

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.graph.precision == "bf16" else torch.float32

    @property
    def graph_bytes(self) -> int:
        """What the runtime's memory budget counts for this part (it holds no torch tensors)."""
        return self.graph.bytes

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")


class OpenVINOUNet(_Part):
    """The UNet, called as diffusers pipelines call a UNet2DConditionModel."""

    def __init__(self, folder: Path, precision: str) -> None:
        super().__init__(folder, precision)
        if self.config.get("addition_embed_type") == "text_time":  # what SDXL pipelines check their time ids against
            width = self.config["projection_class_embeddings_input_dim"]
            self.add_embedding = SimpleNamespace(linear_1=SimpleNamespace(in_features=width))

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        timestep_cond: torch.Tensor | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        added_cond_kwargs: dict[str, torch.Tensor] | None = None,
        return_dict: bool = False,
    ) -> tuple[torch.Tensor]:
        if timestep_cond is not None or cross_attention_kwargs:
            raise InvalidInputError("An OpenVINO variant runs plain sampling: no timestep conditioning or LoRA scale.")
        added = [added_cond_kwargs[k] for k in ("text_embeds", "time_ids")] if added_cond_kwargs else []
        noise = self.graph(sample, torch.as_tensor(timestep).reshape(()), encoder_hidden_states, *added)
        return (noise.to(sample.dtype),)


class OpenVINODecoder(_Part):
    """The VAE, for decoding only (text-to-image never encodes)."""

    def decode(self, latents: torch.Tensor, return_dict: bool = False, generator: Any = None) -> tuple[torch.Tensor]:
        return (self.graph(latents).to(latents.dtype),)
