"""OpenVINO variants of text-to-image pipelines at run time (made by `creator_kit.convert`).

A variant folder is the source pipeline's folder with two parts replaced: ``unet/`` and ``vae/`` keep their
configuration and hold an OpenVINO graph (``model.xml`` and ``model.weights``, float16 weights on disk) in place
of their torch weights. `parts` gives stand-ins for the two, which the image engine passes to the source's own
diffusers pipeline class, so every scheduler, guidance and size works as on the source. The graphs compile, at
each new input shape, for that shape (static shapes measured 1.6x faster per UNet step than torch's bfloat16 here,
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

from creator_kit.core.errors import InvalidInputError
from creator_kit.library.variants import damaged, read_about

#: The pipeline parts a variant runs in OpenVINO: the folder each lives in.
CONVERTED = ("unet", "vae")
GRAPH = "model.xml"


def parts(folder: Path, *, device: str, dtype: torch.dtype) -> dict[str, Any]:
    """The converted parts of the variant in `folder` (``unet``, ``vae``), compiled by OpenVINO in bfloat16 when
    `dtype` is, else float32: the components the image engine gives the pipeline in place of the torch ones."""
    if device != "cpu":
        raise InvalidInputError(f"Converted models run on the CPU: use device='cpu', not {device!r}.")
    precision = "bf16" if dtype == torch.bfloat16 else "f32"
    about = read_about(folder)
    return {
        "unet": OpenVINOUNet(folder / "unet", precision, about),
        "vae": OpenVINODecoder(folder / "vae", precision, about),
    }


class _Graph:
    """An OpenVINO graph compiled for the shapes of its latest inputs (a new shape compiles again, in seconds); one
    that does not read or compile is IntegrityError naming it and the conversion that makes it again."""

    def __init__(self, path: Path, precision: str, about: dict[str, Any]) -> None:
        import openvino

        self.path, self.about = path, about
        self.core = openvino.Core()
        try:
            self.model = self.core.read_model(path, path.with_suffix(".weights"))
            weights = path.with_suffix(".weights").stat().st_size
        except Exception as exc:  # whatever OpenVINO says of a graph it cannot read
            raise damaged(path, about) from exc
        if "BF16" not in self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            precision = "f32"  # bfloat16 asked of a CPU without it: float32, as torch's bfloat16 would be emulated
        self.precision = precision
        # What the compiled graph holds: the float16 weights on disk in its precision.
        self.bytes = weights * (2 if precision == "f32" else 1)
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
            try:
                model.reshape({put: shape for put, shape in zip(model.inputs, shapes, strict=True)})
                self.request = self.core.compile_model(model, "CPU", self.settings).create_infer_request()
            except Exception as exc:  # the pipeline checked the sizes: a graph that will not compile is damaged
                raise damaged(self.path, self.about) from exc
            self.shapes = shapes
        self.request.infer(arrays)
        return torch.from_numpy(self.request.get_output_tensor(0).data.copy())


class _Part(ModelMixin, ConfigMixin):
    """A converted part as the diffusers model it replaces (pipelines take only ModelMixins): its configuration,
    dtype and device, and no torch weights."""

    backend = "openvino"

    def __init__(self, folder: Path, precision: str, about: dict[str, Any]) -> None:
        super().__init__()
        self._internal_dict = FrozenDict(json.loads((folder / "config.json").read_text(encoding="utf-8")))
        self.graph = _Graph(folder / GRAPH, precision, about)

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

    def __init__(self, folder: Path, precision: str, about: dict[str, Any]) -> None:
        super().__init__(folder, precision, about)
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
