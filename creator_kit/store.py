"""ModelStore: the local model library, a Hugging Face cache in ``models/``.

Downloads land in the hub cache layout (``models--org--name/{blobs,snapshots,refs}``), so
``huggingface_hub.scan_cache_dir`` and ``from_pretrained(..., cache_dir=models)`` read it as usual.
Beside each repo folder's ``snapshots`` the store keeps ``creator-kit.json``: the pinned commit,
the files it chose with their ETags and sizes, whether the download finished, and where the model
came from (the Hub, or trained here).

    store = ModelStore()
    store.download("distilbert/distilgpt2", on_event=TqdmReporter())
    store.installed()
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from creator_kit import fit
from creator_kit.catalog import CatalogEntry, catalog_entries, catalog_entry
from creator_kit.config import get_settings
from creator_kit.errors import (
    InsufficientDiskError,
    InvalidInputError,
    InvalidRepoIdError,
    ModelNotFoundError,
    ModelNotInstalledError,
    NetworkError,
    OfflineError,
    UnsafeWeightsError,
)
from creator_kit.events import Done, EventCallback, Log, Progress, emit

RECORD_NAME = "creator-kit.json"
LOCAL_NAMESPACE = "local"
_NAME_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"^(?:{_NAME_PART}/)?{_NAME_PART}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
#: Weights for other frameworks or runtimes; never needed to load with torch.
FOREIGN_WEIGHT_SUFFIXES = (
    ".h5",
    ".msgpack",
    ".onnx",
    ".onnx_data",
    ".tflite",
    ".ot",
    ".gguf",
    ".mlmodel",
    ".pb",
)
#: Variant weights (fp16 copies, EMA / non-EMA) that diffusers repos publish beside the default ones.
_VARIANT = re.compile(r"\.(fp16|bf16|ema|non_ema)\.(safetensors|bin)$")


def human_size(n: float) -> str:
    """Bytes as people read them: 512 B, 3.4 MB, 1.2 GB (powers of 1000, as the Hub shows sizes)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def validate_repo_id(repo_id: str) -> str:
    """`repo_id` if it is a well-formed Hub id (``name`` or ``namespace/name``), else InvalidRepoIdError."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        raise InvalidRepoIdError(
            f"{repo_id!r} is not a valid model id. Use the Hub form 'namespace/name' "
            "(letters, digits, '-', '_', '.'), for example 'distilbert/distilgpt2'."
        )
    return repo_id


def validate_revision(revision: str) -> str:
    """`revision` if it is a safe branch, tag or commit name, else InvalidInputError."""
    if not _REVISION.fullmatch(revision) or ".." in revision:
        raise InvalidInputError(f"{revision!r} is not a valid revision: use a branch, tag or commit hash.")
    return revision


def _safe_relative_path(path: str) -> str:
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or "\\" in path or any(p in ("..", ".", "") for p in parts):
        raise InvalidInputError(f"The repository lists an unsafe file name {path!r}; refusing to write it.")
    return path


def repo_folder_name(repo_id: str) -> str:
    """The hub cache folder of a model repo: ``models--org--name``."""
    return "models--" + repo_id.replace("/", "--")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repo at a pinned commit, as the Hub describes it."""

    path: str
    size: int
    etag: str


@dataclass
class InstalledModel:
    """A model in the local store."""

    repo_id: str
    task: str | None
    status: str  # downloaded | incomplete | custom | starter | loaded
    source: str  # hub | custom | starter
    revision: str
    commit: str
    size_on_disk: int
    path: str
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    allow_pickle: bool = False  # the user opted in to pickle weights for this model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelSummary:
    """A Hub search hit."""

    repo_id: str
    task: str | None
    downloads: int | None
    likes: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerifyReport:
    """The result of checking installed files against their published checksums."""

    repo_id: str
    checked_files: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), ok=self.ok)


@dataclass(frozen=True)
class DiskUsage:
    """Bytes used by the store and left on its disk."""

    store_bytes: int
    free_bytes: int
    total_bytes: int
    models: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelStore:
    """The local model library.

    Args:
        models_dir: the store folder (default: settings, i.e. --models-dir / CREATOR_KIT_MODELS_DIR / ./models).
        offline: refuse every network call (default: settings, i.e. --offline / HF_HUB_OFFLINE).
        user_cache: an existing Hugging Face cache whose blobs are linked instead of downloaded again
            (default: huggingface_hub's, usually ~/.cache/huggingface/hub).
    """

    def __init__(
        self,
        models_dir: str | Path | None = None,
        *,
        offline: bool | None = None,
        user_cache: str | Path | None = None,
    ) -> None:
        settings = get_settings()
        self.models_dir = Path(models_dir).absolute() if models_dir is not None else settings.models_dir
        self.offline = settings.offline if offline is None else offline
        if user_cache is None:
            from huggingface_hub import constants

            user_cache = constants.HF_HUB_CACHE
        self.user_cache = Path(user_cache).expanduser().absolute()

    # ------------------------------------------------------------------ catalog and search

    def catalog(self, task: str | None = None) -> list[CatalogEntry]:
        """The curated models, all or for one task."""
        return catalog_entries(task)

    def search(self, query: str, *, task: str | None = None, limit: int = 20) -> list[ModelSummary]:
        """Search the Hub (or HF_ENDPOINT) for models; OfflineError in offline mode."""
        self._require_online("search the Hub")
        api = self._api()
        with _hub_errors(query):
            hits = api.list_models(search=query, pipeline_tag=task, limit=limit)
            return [ModelSummary(m.id, m.pipeline_tag, m.downloads, m.likes) for m in hits]

    # ------------------------------------------------------------------ download

    def download(
        self,
        repo_id: str,
        revision: str | None = None,
        *,
        allow_pickle: bool = False,
        on_event: EventCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> InstalledModel:
        """Download `repo_id` at `revision` (default ``main``) into the store, resuming any earlier attempt.

        Only safetensors weights are fetched; a repo whose weights are pickle files only raises
        UnsafeWeightsError unless `allow_pickle` is True. Progress arrives as byte Progress events;
        setting `cancel` stops between chunks with CancelledError, keeping what was fetched.
        """
        repo_id = validate_repo_id(repo_id)
        revision = validate_revision(revision or "main")
        if self.offline:
            installed = self._installed_at(repo_id, revision) or self._import_from_user_cache(repo_id, revision)
            if installed is not None:
                return installed
            raise OfflineError(
                f"{repo_id} is not installed and offline mode is on. Go online (unset HF_HUB_OFFLINE, drop "
                "--offline) and run `creator-kit models download " + repo_id + "`."
            )

        commit, remote_files = self._remote_files(repo_id, revision)
        files = select_files(repo_id, remote_files, allow_pickle=allow_pickle)
        repo_dir = self.models_dir / repo_folder_name(repo_id)
        blobs_dir = repo_dir / "blobs"
        blobs_dir.mkdir(parents=True, exist_ok=True)
        self._link_from_user_cache(repo_id, files, blobs_dir)
        self._check_free_disk(repo_id, files, blobs_dir)
        record = _new_record(repo_id, revision, commit, files, allow_pickle=allow_pickle)
        _write_json(repo_dir / RECORD_NAME, record)
        missing = [f for f in files if not (blobs_dir / f.etag).exists()]
        total = sum(f.size for f in files)
        done = total - sum(f.size for f in missing)
        emit(on_event, Log("download", f"{repo_id} @ {commit[:12]}: {len(files)} files, {total / 1e6:.1f} MB"))
        emit(on_event, Progress("download", done, total, unit="B", stage=repo_id))
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        from creator_kit.download import fetch_blob

        headers = build_hf_headers()
        for remote in missing:

            def on_bytes(n: int, offset: int = done) -> None:
                emit(on_event, Progress("download", offset + n, total, unit="B", stage=repo_id))

            fetch_blob(
                hf_hub_url(repo_id, remote.path, revision=commit, endpoint=self._endpoint()),
                blobs_dir / remote.etag,
                self.models_dir / ".locks" / repo_folder_name(repo_id) / f"{remote.etag}.lock",
                etag=remote.etag,
                size=remote.size,
                headers=headers,
                on_bytes=on_bytes,
                cancel=cancel,
            )
            done += remote.size
            emit(on_event, Progress("download", done, total, unit="B", stage=repo_id))

        self._finish(repo_dir, record, files)
        installed = self._describe(repo_dir)
        emit(on_event, Done("download", installed))
        return installed

    def _remote_files(self, repo_id: str, revision: str) -> tuple[str, list[RemoteFile]]:
        """The commit `revision` points at and every file of the repo there, with sizes and ETags."""
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.hf_api import RepoFile

        api = self._api()
        with _hub_errors(repo_id):
            commit = api.model_info(repo_id, revision=revision).sha
            tree = [e for e in api.list_repo_tree(repo_id, revision=commit, recursive=True) if isinstance(e, RepoFile)]
            files = []
            for entry in tree:
                path = _safe_relative_path(entry.path)
                if entry.lfs is not None:
                    files.append(RemoteFile(path, entry.lfs.size, entry.lfs.sha256))
                else:
                    meta = get_hf_file_metadata(hf_hub_url(repo_id, path, revision=commit, endpoint=self._endpoint()))
                    files.append(RemoteFile(path, meta.size if meta.size is not None else entry.size, meta.etag))
        return commit, files

    def _link_from_user_cache(self, repo_id: str, files: list[RemoteFile], blobs_dir: Path) -> None:
        """Hard-link (or, across disks, symlink) blobs that the user's own HF cache already holds."""
        source_blobs = self.user_cache / repo_folder_name(repo_id) / "blobs"
        if not source_blobs.is_dir() or source_blobs.resolve() == blobs_dir.resolve():
            return
        for remote in files:
            source, target = source_blobs / remote.etag, blobs_dir / remote.etag
            if not target.exists() and source.is_file() and source.stat().st_size == remote.size:
                _link_or_reference(source.resolve(), target)

    def _import_from_user_cache(self, repo_id: str, revision: str) -> InstalledModel | None:
        """Offline: take a snapshot the user's own HF cache holds, linking its blobs (no second copy)."""
        source_repo = self.user_cache / repo_folder_name(repo_id)
        commit = revision if _COMMIT.fullmatch(revision) else _read_ref(source_repo, revision)
        snapshot = source_repo / "snapshots" / (commit or "")
        if not commit or not snapshot.is_dir() or source_repo.resolve() == self.models_dir.resolve():
            return None
        files = [
            RemoteFile(p.relative_to(snapshot).as_posix(), p.stat().st_size, p.resolve().name)
            for p in sorted(snapshot.rglob("*"))
            if p.is_file()
        ]
        repo_dir = self.models_dir / repo_folder_name(repo_id)
        (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
        self._link_from_user_cache(repo_id, files, repo_dir / "blobs")
        self._finish(repo_dir, _new_record(repo_id, revision, commit, files), files)
        return self._describe(repo_dir)

    def _finish(self, repo_dir: Path, record: dict[str, Any], files: list[RemoteFile]) -> None:
        """Point the snapshot at the blobs, write the ref, and only then mark the record complete."""
        for remote in files:
            _link_snapshot_file(repo_dir, record["commit"], remote.path, remote.etag)
        _write_ref(repo_dir, record["revision"], record["commit"])
        record["complete"] = True
        record["installed_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        _write_json(repo_dir / RECORD_NAME, record)

    def _check_free_disk(self, repo_id: str, files: list[RemoteFile], blobs_dir: Path) -> None:
        needed = 0
        for remote in files:
            blob = blobs_dir / remote.etag
            if not blob.exists():
                part = blob.with_name(blob.name + ".incomplete")
                needed += remote.size - (part.stat().st_size if part.exists() else 0)
        free = shutil.disk_usage(self.models_dir).free
        if needed > free:
            raise InsufficientDiskError(
                f"{repo_id} needs {needed / 1e9:.2f} GB more but only {free / 1e9:.2f} GB is free under "
                f"{self.models_dir}. Free some space (`creator-kit models list` shows what is installed, "
                "`models remove` deletes) or use --models-dir on a larger disk."
            )

    # ------------------------------------------------------------------ local models

    def register_local(
        self,
        name: str,
        folder: str | Path,
        *,
        task: str,
        source: str = "custom",
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> InstalledModel:
        """Add a model made on this machine (a fine-tune, a starter model) as ``local/<name>``.

        The files of `folder` are copied into the cache layout under a commit hash derived from their
        content, so loading it works exactly like loading a downloaded model.
        """
        repo_id = name if name.startswith(f"{LOCAL_NAMESPACE}/") else f"{LOCAL_NAMESPACE}/{name}"
        validate_repo_id(repo_id)
        folder = Path(folder)
        sources = sorted(p for p in folder.rglob("*") if p.is_file())
        if not sources:
            raise InvalidInputError(f"{folder} holds no files to register as a model.")
        repo_dir = self.models_dir / repo_folder_name(repo_id)
        if repo_dir.exists():
            shutil.rmtree(repo_dir)
        blobs_dir = repo_dir / "blobs"
        blobs_dir.mkdir(parents=True)
        files = []
        for source_path in sources:
            etag = _sha256_file(source_path)
            shutil.copyfile(source_path, blobs_dir / etag)
            files.append(RemoteFile(source_path.relative_to(folder).as_posix(), source_path.stat().st_size, etag))
        listing = sorted((f.path, f.etag) for f in files)
        commit = hashlib.sha1(json.dumps(listing).encode(), usedforsecurity=False).hexdigest()
        record = _new_record(repo_id, "main", commit, files)
        record.update(source=source, task=task, description=description, metadata=metadata or {})
        self._finish(repo_dir, record, files)
        return self._describe(repo_dir)

    # ------------------------------------------------------------------ what is installed

    def installed(self) -> list[InstalledModel]:
        """Every model in the store (complete or not), sorted by id."""
        if not self.models_dir.is_dir():
            return []
        repo_dirs = sorted(
            p for p in self.models_dir.glob("models--*") if (p / "snapshots").is_dir() or (p / RECORD_NAME).is_file()
        )
        return [self._describe(repo_dir) for repo_dir in repo_dirs]

    def is_installed(self, repo_id: str) -> bool:
        """Whether `repo_id` is in the store and complete."""
        return self._installed_at(validate_repo_id(repo_id), None) is not None

    def get(self, repo_id: str) -> InstalledModel:
        """The installed model `repo_id`, or ModelNotInstalledError saying how to get it."""
        repo_id = validate_repo_id(repo_id)
        installed = self._installed_at(repo_id, None)
        if installed is None:
            if catalog_entry(repo_id) is None and not repo_id.startswith(f"{LOCAL_NAMESPACE}/"):
                hint = f"Run `creator-kit models download {repo_id}` (or search with `models catalog`)."
            elif repo_id.startswith(f"{LOCAL_NAMESPACE}/"):
                hint = "Train it again, or run `creator-kit models starter` for the starter models."
            else:
                hint = f"Run `creator-kit models download {repo_id}`."
            raise ModelNotInstalledError(f"{repo_id} is not installed in {self.models_dir}. {hint}")
        return installed

    def snapshot_path(self, repo_id: str) -> Path:
        """The folder holding the installed files of `repo_id` (what `from_pretrained` takes)."""
        return Path(self.get(repo_id).path)

    def _installed_at(self, repo_id: str, revision: str | None) -> InstalledModel | None:
        repo_dir = self.models_dir / repo_folder_name(repo_id)
        if not repo_dir.is_dir():
            return None
        installed = self._describe(repo_dir)
        if installed.status == "incomplete":
            return None
        if revision is not None and revision not in (installed.revision, installed.commit):
            return None
        return installed

    def _describe(self, repo_dir: Path) -> InstalledModel:
        record = _read_json(repo_dir / RECORD_NAME)
        repo_id = record.get("repo_id") or repo_dir.name.removeprefix("models--").replace("--", "/")
        revision = record.get("revision", "main")
        commit = record.get("commit") or _read_ref(repo_dir, revision) or _latest_snapshot(repo_dir)
        snapshot = repo_dir / "snapshots" / (commit or "")
        source = record.get("source", "hub")
        if (record and not record.get("complete")) or not commit or not snapshot.is_dir():
            status = "incomplete"
        else:
            status = {"hub": "downloaded"}.get(source, source)
        return InstalledModel(
            repo_id=repo_id,
            task=record.get("task") or _catalog_task(repo_id) or detect_task(snapshot),
            status=status,
            source=source,
            revision=revision,
            commit=commit or "",
            size_on_disk=_tree_size(repo_dir / "blobs"),
            path=str(snapshot),
            description=record.get("description", ""),
            metadata=record.get("metadata", {}),
            allow_pickle=bool(record.get("allow_pickle")),
        )

    # ------------------------------------------------------------------ verify, remove, usage, info

    def verify(self, repo_id: str) -> VerifyReport:
        """Re-hash every installed file and compare it with the size and checksum the Hub published."""
        from creator_kit.download import file_digest

        installed = self.get(repo_id)
        repo_dir = self.models_dir / repo_folder_name(installed.repo_id)
        snapshot = Path(installed.path)
        expected = _read_json(repo_dir / RECORD_NAME).get("files") or {
            p.relative_to(snapshot).as_posix(): {"etag": p.resolve().name, "size": p.stat().st_size}
            for p in snapshot.rglob("*")
            if p.is_file()
        }
        problems = []
        for relative, entry in sorted(expected.items()):
            path = snapshot / relative
            if not path.exists():
                problems.append(f"{relative}: missing")
            elif path.stat().st_size != entry["size"]:
                problems.append(f"{relative}: size {path.stat().st_size} != published {entry['size']}")
            elif file_digest(path, entry["etag"]) not in (entry["etag"], None):
                problems.append(f"{relative}: checksum does not match the published {entry['etag']}")
        return VerifyReport(installed.repo_id, checked_files=len(expected), problems=problems)

    def remove(self, repo_id: str) -> int:
        """Delete `repo_id` (complete or not) from the store; returns the bytes freed."""
        repo_id = validate_repo_id(repo_id)
        repo_dir = self.models_dir / repo_folder_name(repo_id)
        if not repo_dir.is_dir():
            raise ModelNotInstalledError(f"{repo_id} is not in {self.models_dir}; nothing to remove.")
        freed = _tree_size(repo_dir / "blobs")
        shutil.rmtree(repo_dir)
        shutil.rmtree(self.models_dir / ".locks" / repo_folder_name(repo_id), ignore_errors=True)
        return freed

    def disk_usage(self) -> DiskUsage:
        """How much the store takes and how much is left on its disk."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(self.models_dir)
        models = self.installed()
        return DiskUsage(sum(m.size_on_disk for m in models), usage.free, usage.total, len(models))

    def info(self, repo_id: str, *, dtype: str | None = None, device: str | None = None) -> fit.ModelInfo:
        """What `repo_id` is, what it needs on disk and in memory, and whether that fits here."""
        repo_id = validate_repo_id(repo_id)
        installed = self._installed_at(repo_id, None)
        entry = catalog_entry(repo_id)
        if installed is not None:
            snapshot = Path(installed.path)
            return fit.assess(
                repo_id,
                task=installed.task,
                parameters=fit.count_parameters(snapshot),
                download_bytes=0,
                size_on_disk=installed.size_on_disk,
                status=installed.status,
                models_dir=self.models_dir,
                dtype=dtype,
                device=device,
                description=installed.description,
            )
        if self.offline:
            if entry is None:
                raise OfflineError(f"{repo_id} is not installed and offline mode is on: nothing is known about it.")
            return fit.from_catalog(entry, models_dir=self.models_dir, dtype=dtype, device=device)
        try:
            _, remote_files = self._remote_files(repo_id, "main")
        except NetworkError:
            if entry is None:
                raise
            return fit.from_catalog(entry, models_dir=self.models_dir, dtype=dtype, device=device)
        files = select_files(repo_id, remote_files, allow_pickle=True)
        weight_bytes = sum(f.size for f in files if f.path.endswith((".safetensors", *PICKLE_SUFFIXES)))
        return fit.assess(
            repo_id,
            task=entry.task if entry else None,
            parameters=entry.parameters if entry else fit.parameters_from_bytes(weight_bytes),
            download_bytes=sum(f.size for f in files),
            size_on_disk=0,
            status="available",
            models_dir=self.models_dir,
            dtype=dtype,
            device=device,
            description=entry.description if entry else "",
        )

    # ------------------------------------------------------------------ helpers

    def _endpoint(self) -> str:
        return get_settings().endpoint

    def _api(self):
        from huggingface_hub import HfApi

        return HfApi(endpoint=self._endpoint())

    def _require_online(self, action: str) -> None:
        if self.offline:
            raise OfflineError(f"Cannot {action} in offline mode. Go online (unset HF_HUB_OFFLINE, drop --offline).")


def select_files(repo_id: str, files: Iterable[RemoteFile], *, allow_pickle: bool) -> list[RemoteFile]:
    """The files worth downloading: safetensors weights, configs and tokenizers.

    Pickle weights are skipped where a folder has safetensors; a folder with only pickle weights
    raises UnsafeWeightsError unless `allow_pickle`. Other frameworks' weights (TF, Flax, ONNX) and
    variant copies (fp16, EMA) are never fetched.
    """
    files = [f for f in files if not f.path.endswith(FOREIGN_WEIGHT_SUFFIXES) and not _VARIANT.search(f.path)]
    safetensors_dirs = {_folder(f.path) for f in files if f.path.endswith(".safetensors")}
    pickle_only = sorted(
        f.path for f in files if f.path.endswith(PICKLE_SUFFIXES) and _folder(f.path) not in safetensors_dirs
    )
    if pickle_only and not allow_pickle:
        raise UnsafeWeightsError(
            f"{repo_id} ships its weights only as pickle files ({', '.join(pickle_only[:3])}), which can run "
            "arbitrary code when loaded. If you trust its author, download it with --allow-pickle "
            "(allow_pickle=True); otherwise pick a model with safetensors weights."
        )
    keep_pickle = set(pickle_only) if allow_pickle else set()
    return [f for f in files if not f.path.endswith(PICKLE_SUFFIXES) or f.path in keep_pickle]


def detect_task(snapshot: Path) -> str | None:
    """Guess the task of a model folder from its config files (for models not from the catalog)."""
    model_index = _read_json(snapshot / "model_index.json")
    if model_index:
        pipeline = str(model_index.get("_class_name", ""))
        return "text-to-video" if "Video" in pipeline or "Wan" in pipeline else "text-to-image"
    config = _read_json(snapshot / "config.json")
    if any(str(a).endswith(("ForCausalLM", "LMHeadModel")) for a in config.get("architectures", [])):
        return "text-generation"
    return None


def _new_record(
    repo_id: str, revision: str, commit: str, files: list[RemoteFile], *, allow_pickle: bool = False
) -> dict[str, Any]:
    """The store record of a Hub model, not yet complete."""
    return {
        "repo_id": repo_id,
        "revision": revision,
        "commit": commit,
        "source": "hub",
        "complete": False,
        "allow_pickle": allow_pickle,
        "task": _catalog_task(repo_id),
        "files": {f.path: {"etag": f.etag, "size": f.size} for f in files},
    }


def _link_or_reference(source: Path, target: Path) -> None:
    """Hard-link `source` to `target`, or symlink it where a hard link is impossible (another disk)."""
    try:
        os.link(source, target)
    except OSError:
        target.symlink_to(source)


def _catalog_task(repo_id: str) -> str | None:
    entry = catalog_entry(repo_id)
    return entry.task if entry else None


def _folder(path: str) -> str:
    return str(PurePosixPath(path).parent)


def _link_snapshot_file(repo_dir: Path, commit: str, relative: str, etag: str) -> None:
    """Point ``snapshots/<commit>/<relative>`` at ``blobs/<etag>`` with a relative symlink, as the hub cache does."""
    pointer = repo_dir / "snapshots" / commit / relative
    pointer.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(repo_dir / "blobs" / etag, pointer.parent)
    if pointer.is_symlink() and os.readlink(pointer) == target:
        return
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    pointer.symlink_to(target)


def _write_ref(repo_dir: Path, revision: str, commit: str) -> None:
    if revision == commit or not _COMMIT.fullmatch(commit):
        return
    ref = repo_dir / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)


def _read_ref(repo_dir: Path, revision: str) -> str | None:
    ref = repo_dir / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else None


def _latest_snapshot(repo_dir: Path) -> str | None:
    if not (repo_dir / "snapshots").is_dir():
        return None
    snapshots = sorted((repo_dir / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime)
    return snapshots[-1].name if snapshots else None


def _tree_size(folder: Path) -> int:
    """Bytes of the regular files under `folder` (symlinks not followed, hard links counted once)."""
    seen: set[int] = set()
    total = 0
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        stat = path.stat()
        if stat.st_ino not in seen:
            seen.add(stat.st_ino)
            total += stat.st_size
    return total


def _sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` atomically: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _hub_errors(subject: str) -> Iterator[None]:
    """Translate huggingface_hub and HTTP exceptions into Creator Kit errors with a fix in the message."""
    import httpx2
    from huggingface_hub import errors

    endpoint = get_settings().endpoint
    try:
        yield
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError) as exc:
        raise ModelNotFoundError(
            f"{subject} was not found on {endpoint} (check the spelling, the revision, or your access "
            "token for gated and private models)."
        ) from exc
    except errors.OfflineModeIsEnabled as exc:
        raise OfflineError(f"Cannot reach the Hub for {subject}: offline mode is on.") from exc
    except (errors.HfHubHTTPError, httpx2.HTTPError) as exc:
        raise NetworkError(
            f"Could not reach {endpoint} for {subject}: {exc}. Check your connection or HF_ENDPOINT, "
            "or use --offline to work with installed models."
        ) from exc
    except json.JSONDecodeError as exc:
        raise NetworkError(
            f"{endpoint} did not answer like the Hub API for {subject} (some mirrors do not implement every "
            "endpoint, e.g. search). Check HF_ENDPOINT."
        ) from exc
