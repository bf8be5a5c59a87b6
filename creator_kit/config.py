"""Paths, offline mode, hub endpoint and device choice, read in one place.

Environment variables (all optional):

- ``CREATOR_KIT_MODELS_DIR``: the local model store (default ``./models``).
- ``CREATOR_KIT_OUTPUTS_DIR``: where generated files go (default ``./outputs``).
- ``CREATOR_KIT_OFFLINE`` or ``HF_HUB_OFFLINE``: ``1`` makes every network call an OfflineError.
- ``HF_ENDPOINT``: the Hub or a mirror of it (olah, an internal proxy).
- ``CREATOR_KIT_MEMORY_BUDGET``: bytes that loaded models may take together (default: half the device's memory).

Hugging Face telemetry is switched off as soon as this module is imported, and OpenMP threads are told to
sleep rather than spin when idle (measured: spinning workers slowed the next generation up to 5x on 2 cores).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from creator_kit.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "true", "yes", "on"}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


@dataclass(frozen=True)
class Settings:
    """Where things live and whether the network may be used."""

    models_dir: Path
    outputs_dir: Path
    offline: bool
    memory_budget: int | None = None

    @property
    def endpoint(self) -> str:
        """The Hub endpoint, read at call time so HF_ENDPOINT set late is still honoured."""
        return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def _from_environment() -> Settings:
    return Settings(
        models_dir=Path(os.environ.get("CREATOR_KIT_MODELS_DIR", "models")).expanduser().absolute(),
        outputs_dir=Path(os.environ.get("CREATOR_KIT_OUTPUTS_DIR", "outputs")).expanduser().absolute(),
        offline=_env_flag("CREATOR_KIT_OFFLINE") or _env_flag("HF_HUB_OFFLINE"),
        memory_budget=_env_bytes("CREATOR_KIT_MEMORY_BUDGET"),
    )


def _env_bytes(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) <= 0:
        raise InvalidInputError(f"{name} must be a positive number of bytes, not {value!r}.")
    return int(value)


_settings: Settings | None = None


def get_settings() -> Settings:
    """The current settings (from the environment unless `configure` changed them)."""
    global _settings
    if _settings is None:
        _settings = _from_environment()
    return _settings


def configure(
    *,
    models_dir: str | Path | None = None,
    outputs_dir: str | Path | None = None,
    offline: bool | None = None,
) -> Settings:
    """Override settings for this process (the CLI's --models-dir and --offline land here)."""
    global _settings
    changes: dict = {}
    if models_dir is not None:
        changes["models_dir"] = Path(models_dir).expanduser().absolute()
    if outputs_dir is not None:
        changes["outputs_dir"] = Path(outputs_dir).expanduser().absolute()
    if offline is not None:
        changes["offline"] = offline
    _settings = replace(get_settings(), **changes)
    return _settings


def reset_settings() -> None:
    """Forget overrides; the next `get_settings()` reads the environment again."""
    global _settings
    _settings = None


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


def select_dtype(device: str) -> torch.dtype:
    """The dtype that runs fastest without losing quality on `device`.

    CPU: float32 (half precision is slow and lossy there). CUDA: bfloat16 where the card supports
    it, else float16. MPS: float16.
    """
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32
