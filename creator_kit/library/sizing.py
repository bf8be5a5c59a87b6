"""Will it fit?: disk and memory a model needs, against what this machine has.

Memory to load = parameters x bytes per parameter of the dtype x (1 + LOAD_OVERHEAD) + FIXED_OVERHEAD,
with the overheads measured on real loads (tests/test_sizing.py checks the estimate against the
resident memory a real `from_pretrained` adds). A download is refused before it starts when the
bytes it still needs are more than the disk has free. `sampling_step_bytes` estimates what one diffusion
sampling step adds at a given size, so a picture or video too large for this machine is refused before it starts.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from creator_kit.core import readers, validate
from creator_kit.core.errors import CreatorKitError, InsufficientDiskError, IntegrityError
from creator_kit.library.catalog import CatalogEntry
from creator_kit.library.devices import select_device, select_dtype
from creator_kit.library.hub import WEIGHT_SUFFIXES, RemoteFile
from creator_kit.library.variants import VARIANT_FILE

if TYPE_CHECKING:
    from creator_kit.library.cache import InstalledModel

#: The largest safetensors header the format allows (100 MB).
SAFETENSORS_HEADER_BYTES = 100_000_000
BYTES_PER_PARAMETER = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
#: Extra resident memory per byte of weights (allocator slack, activations of a short forward pass).
#: Measured: a DistilGPT-2-sized model (328 MB of float32 weights) adds 436 MB after load + forward.
LOAD_OVERHEAD = 0.05
#: Fixed cost of the first load in a process (modelling code, buffers), measured on a 0.1M-parameter GPT-2:
#: 110 MB, 148 MB where transformers also finds optional libraries to import (protobuf, which Ray brings), and
#: 172-174 MB in a just-installed environment (the same packages; tests/test_sizing.py measures it).
FIXED_OVERHEAD_BYTES = 140 * 1000**2
#: Headroom to keep free: at or below TIGHT of what is available it fits, up to 100% it is tight.
TIGHT = 0.75
#: Resident bytes one sampling step adds, per element of the UNet's first-level activation (latents seen at once
#: x first-level channels x latent pixels). Peak RSS growth measured on the tiny Stable Diffusion (CPU, float32,
#: fused attention): 37 at 128x128 pixels, 39 at 256x256, 32 at 512x512; rounded up.
STEP_ACTIVATIONS = 40
#: Devices where torch's scaled_dot_product_attention (what diffusers' attention calls) runs tiled kernels that never
#: hold the attention scores whole. Elsewhere the scores are counted whole, in float32: MPS's attention holds them so.
FUSED_ATTENTION_DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Fit:
    """`needed` bytes against `available` bytes, with a verdict: fits, tight or won't fit."""

    needed: int
    available: int

    @property
    def verdict(self) -> str:
        if self.needed <= TIGHT * self.available:
            return "fits"
        return "tight" if self.needed <= self.available else "won't fit"

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), verdict=self.verdict)


@dataclass(frozen=True)
class ModelInfo:
    """What a model is and what it needs here."""

    repo_id: str
    task: str | None
    status: str
    parameters: int
    download_bytes: int
    size_on_disk: int
    dtype: str
    device: str
    disk: Fit
    memory: Fit
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["disk"], data["memory"] = self.disk.to_dict(), self.memory.to_dict()
        return data


def human_size(n: float) -> str:
    """Bytes as people read them: 512 B, 3.4 MB, 1.2 GB (powers of 1000, as the Hub shows sizes)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def require_free_disk(repo_id: str, needed: int, folder: Path) -> None:
    """InsufficientDiskError when the disk of `folder` has less free than the `needed` bytes `repo_id` still needs."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise InsufficientDiskError(
            f"{repo_id} needs {needed / 1e9:.2f} GB more but only {free / 1e9:.2f} GB is free under "
            f"{folder}. Free some space (`creator-kit models list` shows what is installed, "
            "`models remove` deletes) or use --models-dir on a larger disk."
        )


def estimate_load_bytes(parameters: int, dtype: str) -> int:
    """Resident memory that loading a model of `parameters` in `dtype` adds."""
    return int(parameters * BYTES_PER_PARAMETER[dtype] * (1 + LOAD_OVERHEAD) + FIXED_OVERHEAD_BYTES)


def parameters_from_bytes(weight_bytes: int, stored_dtype: str = "float32") -> int:
    """Parameter count implied by the size of weight files in `stored_dtype`."""
    return weight_bytes // BYTES_PER_PARAMETER[stored_dtype]


def count_parameters(snapshot: Path) -> int:
    """Parameters in the safetensors files of a model folder, read from their headers only; for a converted
    variant, whose graphs hold most of them, its source's count as recorded at conversion. A header that does not
    read is IntegrityError naming the file."""
    variant = Path(snapshot) / VARIANT_FILE
    if variant.is_file():
        about = readers.read_json(variant, what="variant record")
        if isinstance(about, dict) and isinstance(about.get("parameters"), int):
            return about["parameters"]
    return sum(_header_parameters(path) for path in Path(snapshot).rglob("*.safetensors"))


def _header_parameters(path: Path) -> int:
    """The parameters a safetensors file declares in its header (at most SAFETENSORS_HEADER_BYTES, as the format
    allows), checked before use."""
    try:
        with os.fdopen(readers.open_regular(path, what="weights file"), "rb") as f:
            (header_size,) = struct.unpack("<Q", f.read(8))
            if header_size > SAFETENSORS_HEADER_BYTES:
                raise ValueError(f"a header of {header_size:,} bytes")
            header = readers.parse_json(f.read(header_size), what="safetensors header", source=path)
        shapes = [tensor["shape"] for name, tensor in header.items() if name != "__metadata__"]
        if not all(isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape) for shape in shapes):
            raise ValueError("tensor shapes that are not lists of sizes")
    except (CreatorKitError, OSError, ValueError, struct.error, AttributeError, KeyError, TypeError) as exc:
        raise IntegrityError(
            f"The weights file {path} is damaged ({exc}): `creator-kit models verify MODEL` names the damaged "
            "files and the repair."
        ) from exc
    return sum(math.prod(shape) for shape in shapes)


def sampling_step_bytes(
    unet: Mapping[str, Any], latent_size: tuple[int, int], *, latents: int, element_bytes: int, device: str
) -> int:
    """Peak memory one sampling step of the UNet configured by `unet` adds for `latents` (height, width) latents.

    `latents` counts what the UNet sees at once: the batch, x2 with classifier-free guidance, x frames for video.
    The estimate is STEP_ACTIVATIONS x latents x first-level channels x latent pixels x `element_bytes`. Where
    attention is not fused (`device` not in FUSED_ATTENTION_DEVICES) it adds the self-attention scores and their
    softmax at the attention level where they are largest: 2 x latents x heads x (latent pixels at that level)^2
    x 4 bytes (with torch's unfused attention the tiny Stable Diffusion at 128x128 grew by 2.46 GB: this says
    2.19 GB). Not counted: the weights (loaded already), the VAE decode at the end, temporal attention.
    """
    height, width = latent_size
    channels = unet["block_out_channels"]
    needed = STEP_ACTIVATIONS * latents * channels[0] * height * width * element_bytes
    if device.split(":")[0] not in FUSED_ATTENTION_DEVICES:
        heads = unet.get("num_attention_heads") or unet["attention_head_dim"]  # diffusers reads it so, too
        heads = list(heads) if isinstance(heads, list | tuple) else [heads] * len(channels)
        levels = [level for level, block in enumerate(unet["down_block_types"]) if "Attn" in block]
        scores = [heads[level] * ((height >> level) * (width >> level)) ** 2 for level in levels]
        needed += 2 * latents * max(scores, default=0) * 4
    return needed


def available_memory(device: str) -> int:
    """Free memory on `device`: the GPU's free memory for CUDA, otherwise available system RAM."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        return int(free)
    return int(psutil.virtual_memory().available)


def assess(
    repo_id: str,
    *,
    task: str | None,
    parameters: int,
    download_bytes: int,
    size_on_disk: int,
    status: str,
    models_dir: Path,
    dtype: str | None = None,
    device: str | None = None,
    description: str = "",
) -> ModelInfo:
    """Put a model's needs against this machine's free disk and memory."""
    device = device or select_device()
    dtype = dtype or str(select_dtype(device, task)).removeprefix("torch.")
    validate.choice("dtype", dtype, BYTES_PER_PARAMETER)
    models_dir.mkdir(parents=True, exist_ok=True)
    return ModelInfo(
        repo_id=repo_id,
        task=task,
        status=status,
        parameters=parameters,
        download_bytes=download_bytes,
        size_on_disk=size_on_disk,
        dtype=dtype,
        device=device,
        disk=Fit(download_bytes, shutil.disk_usage(models_dir).free),
        memory=Fit(estimate_load_bytes(parameters, dtype), available_memory(device)),
        description=description,
    )


def from_catalog(entry: CatalogEntry, *, models_dir: Path, dtype: str | None, device: str | None) -> ModelInfo:
    """The fit of a catalog model, from the catalog's figures (offline, or when the Hub is unreachable)."""
    return assess(
        entry.repo_id,
        task=entry.task,
        parameters=entry.parameters,
        download_bytes=entry.size_bytes,
        size_on_disk=0,
        status="available",
        models_dir=models_dir,
        dtype=dtype,
        device=device,
        description=entry.description,
    )


def from_installed(model: InstalledModel, *, models_dir: Path, dtype: str | None, device: str | None) -> ModelInfo:
    """The fit of an installed model, with the parameters counted in its files (nothing left to download)."""
    return assess(
        model.repo_id,
        task=model.task,
        parameters=count_parameters(Path(model.path)),
        download_bytes=0,
        size_on_disk=model.size_on_disk,
        status=model.status,
        models_dir=models_dir,
        dtype=dtype,
        device=device,
        description=model.description,
    )


def from_hub_files(
    repo_id: str,
    files: list[RemoteFile],
    entry: CatalogEntry | None,
    *,
    models_dir: Path,
    dtype: str | None,
    device: str | None,
) -> ModelInfo:
    """The fit of a model not installed, from the files a download would fetch (and the catalog, if it lists it)."""
    weight_bytes = sum(f.size for f in files if f.path.endswith(WEIGHT_SUFFIXES))
    return assess(
        repo_id,
        task=entry.task if entry else None,
        parameters=entry.parameters if entry else parameters_from_bytes(weight_bytes),
        download_bytes=sum(f.size for f in files),
        size_on_disk=0,
        status="available",
        models_dir=models_dir,
        dtype=dtype,
        device=device,
        description=entry.description if entry else "",
    )
