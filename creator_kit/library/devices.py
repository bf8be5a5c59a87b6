"""This machine's torch devices, and the dtype each runs fastest without losing quality (CUDA, then Apple MPS, then
the CPU, where bfloat16 is chosen only for diffusion models and only on processors with fast bfloat16 units)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from creator_kit.core.errors import InvalidInputError

if TYPE_CHECKING:
    import torch


def select_device(preferred: str | None = None) -> str:
    """The best torch device here: CUDA, then Apple MPS, then CPU; or `preferred`, once known to exist here."""
    import torch

    if preferred is not None:
        if not isinstance(preferred, str) or not device_available(preferred):
            raise InvalidInputError(
                f"device {preferred!r} is not available here: use 'cpu', or 'cuda' / 'mps' where there is one."
            )
        return preferred
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def device_available(device: str) -> bool:
    """Whether the torch device `device` ("cpu", "cuda", "cuda:1", "mps") exists on this machine."""
    import torch

    if device.startswith("cuda"):
        index = device.removeprefix("cuda").removeprefix(":") or "0"
        return torch.cuda.is_available() and index.isdigit() and int(index) < torch.cuda.device_count()
    if device == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return device == "cpu"


#: Pipeline tasks whose models are diffusion models (a UNet or transformer and a VAE).
DIFFUSION_TASKS = ("text-to-image", "text-to-video")
DTYPES = ("float32", "bfloat16", "float16")


def select_dtype(device: str, task: str | None = None) -> torch.dtype:
    """The dtype that runs fastest without losing quality on `device` for a model of `task`.

    CUDA: bfloat16 where the card supports it, else float16. MPS: float16. CPU: bfloat16 for diffusion
    models where the processor has fast bfloat16 matrix units (AVX512-BF16 / AMX: a Stable Diffusion UNet
    step runs about 3x faster than in float32, measured in benchmarks/RESULTS.md), else float32 — and
    float32 for text models, whose token-by-token decoding measured slower in bfloat16.
    """
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.bfloat16 if task in DIFFUSION_TASKS and cpu_has_fast_bf16() else torch.float32


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (oneDNN's check: AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def torch_dtype(name: str | None, device: str, task: str | None = None) -> torch.dtype:
    """The torch dtype called `name` ("float32", "bfloat16", "float16"), or the best one for `device` and `task`."""
    import torch

    if name is None:
        return select_dtype(device, task)
    if name not in DTYPES:
        raise InvalidInputError(f"dtype must be one of {', '.join(DTYPES)} or None (the best here), not {name!r}.")
    return getattr(torch, name)
