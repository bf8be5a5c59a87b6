"""Paths, offline mode and the hub endpoint, read in one place (devices and dtypes: `library.devices`).

Where models and outputs live is one rule, the same whichever folder a kernel, a script or the CLI starts in.
For each of the two folders, the first of:

1. the explicit setting: ``configure(models_dir=..., outputs_dir=...)`` (the CLI's ``--models-dir``, the
   notebooks' ``models_dir`` / ``outputs_dir`` parameters), else ``CREATOR_KIT_MODELS_DIR`` /
   ``CREATOR_KIT_OUTPUTS_DIR``;
2. the project the current folder belongs to: the nearest folder, the current one or one above it, that holds a
   `PROJECT_MARKER` file (``.creator-kit``; this repository has one at its root, and ``touch .creator-kit``
   makes any folder a project): its ``models/`` and ``outputs/``;
3. the user-wide `USER_FOLDER`: ``~/creator-kit/models`` and ``~/creator-kit/outputs``.

So a kernel started in ``notebooks/`` and the CLI started at the project's root share one store and one outputs
folder. `locate` finds an input file the same way from any folder of a project.

Other environment variables (all optional):

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

from creator_kit.core.errors import InvalidInputError, NotFoundError

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


#: The file that makes a folder a Creator Kit project: its models/ and outputs/ serve every folder below it.
PROJECT_MARKER = ".creator-kit"
#: The folder whose models/ and outputs/ serve everything started outside a project.
USER_FOLDER = Path("~/creator-kit")


def project_dir(start: str | Path | None = None) -> Path | None:
    """The project `start` (default: the current folder) belongs to: the nearest folder, itself or one above it,
    holding a PROJECT_MARKER file; None outside any project."""
    folder = Path(start if start is not None else Path.cwd()).expanduser().absolute()
    return next((f for f in (folder, *folder.parents) if (f / PROJECT_MARKER).is_file()), None)


def _folder(variable: str, name: str) -> Path:
    """The folder `variable` names, else `name` in the current project, else in USER_FOLDER."""
    explicit = os.environ.get(variable, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute()
    return (project_dir() or USER_FOLDER.expanduser()).absolute() / name


def _from_environment() -> Settings:
    return Settings(
        models_dir=_folder("CREATOR_KIT_MODELS_DIR", "models"),
        outputs_dir=_folder("CREATOR_KIT_OUTPUTS_DIR", "outputs"),
        offline=_env_flag("CREATOR_KIT_OFFLINE") or _env_flag("HF_HUB_OFFLINE"),
        memory_budget=_env_bytes("CREATOR_KIT_MEMORY_BUDGET"),
    )


def locate(path: str | Path) -> Path:
    """The input file or folder `path`, absolute: as given (``~`` expanded) when it is absolute or exists from the
    current folder, else the same relative path in the current folder's project, so that a path relative to the
    project's root (``notebooks/data/sample_stories.txt``) reads the same from any folder of it. NotFoundError,
    naming where it looked, when it is in neither."""
    given = Path(path).expanduser()
    project = None if given.is_absolute() else project_dir()
    candidates = [given.absolute(), *([project / given] if project is not None else [])]
    found = next((candidate for candidate in candidates if candidate.exists()), None)
    if found is None:
        looked = " or ".join(str(candidate) for candidate in candidates)
        raise NotFoundError(f"There is no file or folder {looked}: give the path of an existing one.")
    return found


def _env_bytes(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18 and int(value) > 0):  # 18 digits: < 1 EB
        raise InvalidInputError(f"{name} must be a positive number of bytes (digits 0-9), not {value[:40]!r}.")
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
