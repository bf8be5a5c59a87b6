"""The Hugging Face cache layout on disk, and the store's typed record of each model in it.

A repo lives in ``models--org--name/``: its files once each in ``blobs/<etag>``, the tree of a commit
as relative symlinks in ``snapshots/<commit>/``, branch and tag names in ``refs/``, exactly as
huggingface_hub writes it, so its own tools (``scan_cache_dir``, ``from_pretrained(cache_dir=...)``)
read the store. Beside ``snapshots/`` the store keeps ``creator-kit.json``, a `ModelRecord`: the pinned
commit, the chosen files with their ETags and sizes, whether the install finished and where the
model came from. Blobs another cache already holds are hard-linked (or symlinked), never copied.

    record = read_record(models_dir / repo_folder_name("distilbert/distilgpt2"))
    record.status  # 'downloaded'
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from creator_kit import files, validate
from creator_kit.catalog import catalog_entry
from creator_kit.hub import RemoteFile

RECORD_NAME = "creator-kit.json"


def repo_folder_name(repo_id: str) -> str:
    """The hub cache folder of a model repo: ``models--org--name``."""
    return "models--" + repo_id.replace("/", "--")


@dataclass(frozen=True)
class FileEntry:
    """One installed file as published: its ETag (the blob's name) and size in bytes."""

    etag: str
    size: int


@dataclass(frozen=True)
class ModelRecord:
    """What the store knows of one model: the content of ``creator-kit.json``."""

    repo_id: str
    revision: str
    commit: str
    source: str = "hub"  # hub | custom | starter
    complete: bool = False  # every file is in place (read as False when the snapshot is gone)
    allow_pickle: bool = False  # the user opted in to pickle weights for this model
    task: str | None = None
    files: dict[str, FileEntry] = field(default_factory=dict)  # snapshot-relative path -> entry
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    installed_at: str | None = None  # ISO time the install finished

    @property
    def status(self) -> str:
        """``downloaded`` (from the Hub), ``custom`` or ``starter`` (made here) once complete, else ``incomplete``."""
        if not self.complete:
            return "incomplete"
        return "downloaded" if self.source == "hub" else self.source


@dataclass
class InstalledModel:
    """A model in the local store."""

    repo_id: str
    task: str | None
    status: str  # downloaded | incomplete | custom | starter (panels show "loaded" from the runtime)
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


def new_record(repo_id: str, revision: str, commit: str, remote: Iterable[RemoteFile], **fields: Any) -> ModelRecord:
    """The record of `repo_id` at `commit` with the files `remote`, not complete yet (task: the catalog's)."""
    fields.setdefault("task", _catalog_task(repo_id))
    entries = {f.path: FileEntry(f.etag, f.size) for f in remote}
    return ModelRecord(repo_id, revision, commit, files=entries, **fields)


def read_record(repo_dir: Path) -> ModelRecord:
    """The record of `repo_dir`; for a folder without one (written by huggingface_hub), what its layout says."""
    data = files.read_json(repo_dir / RECORD_NAME)
    revision = data.get("revision", "main")
    commit = data.get("commit") or _read_ref(repo_dir, revision) or _latest_snapshot(repo_dir) or ""
    in_place = bool(commit) and (repo_dir / "snapshots" / commit).is_dir()
    return ModelRecord(
        repo_id=data.get("repo_id") or repo_dir.name.removeprefix("models--").replace("--", "/"),
        revision=revision,
        commit=commit,
        source=data.get("source", "hub"),
        complete=in_place and (bool(data.get("complete")) if data else True),
        allow_pickle=bool(data.get("allow_pickle")),
        task=data.get("task"),
        files={path: FileEntry(e["etag"], e["size"]) for path, e in (data.get("files") or {}).items()},
        description=data.get("description", ""),
        metadata=data.get("metadata", {}),
        installed_at=data.get("installed_at"),
    )


def write_record(repo_dir: Path, record: ModelRecord) -> None:
    """Write `record` as ``creator-kit.json`` of `repo_dir`, atomically."""
    files.write_json(repo_dir / RECORD_NAME, asdict(record))


def describe(repo_dir: Path) -> InstalledModel:
    """The installed model in `repo_dir`, its task from the record, else the catalog, else its config files."""
    record = read_record(repo_dir)
    snapshot = snapshot_dir(repo_dir, record.commit)
    return InstalledModel(
        repo_id=record.repo_id,
        task=record.task or _catalog_task(record.repo_id) or detect_task(snapshot),
        status=record.status,
        source=record.source,
        revision=record.revision,
        commit=record.commit,
        size_on_disk=tree_size(repo_dir / "blobs"),
        path=str(snapshot),
        description=record.description,
        metadata=record.metadata,
        allow_pickle=record.allow_pickle,
    )


def finish(repo_dir: Path, record: ModelRecord) -> ModelRecord:
    """Point the snapshot at the blobs, write the ref, and only then write the record as complete."""
    for path, entry in record.files.items():
        _link_snapshot_file(repo_dir, record.commit, path, entry.etag)
    _write_ref(repo_dir, record.revision, record.commit)
    record = replace(record, complete=True, installed_at=datetime.now(UTC).isoformat(timespec="seconds"))
    write_record(repo_dir, record)
    return record


def repo_folders(models_dir: Path) -> list[Path]:
    """The model repo folders under `models_dir` (complete or not), sorted."""
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.glob("models--*") if (p / "snapshots").is_dir() or (p / RECORD_NAME).is_file())


def snapshot_dir(repo_dir: Path, commit: str) -> Path:
    """The folder of the files of `commit` (what ``from_pretrained`` takes)."""
    return repo_dir / "snapshots" / commit


def lock_path(models_dir: Path, repo_id: str, etag: str) -> Path:
    """The lock file huggingface_hub takes while writing the blob `etag` of `repo_id`."""
    return models_dir / ".locks" / repo_folder_name(repo_id) / f"{etag}.lock"


def missing_bytes(blobs_dir: Path, remote: Iterable[RemoteFile]) -> int:
    """Bytes of `remote` still to fetch into `blobs_dir`, counting what partial downloads already hold."""
    needed = 0
    for f in remote:
        blob = blobs_dir / f.etag
        if not blob.exists():
            part = blob.with_name(blob.name + ".incomplete")
            needed += f.size - (part.stat().st_size if part.exists() else 0)
    return needed


def snapshot_files(snapshot: Path) -> list[RemoteFile]:
    """The files of a snapshot folder, each with its size and the name of its blob as ETag."""
    return [
        RemoteFile(p.relative_to(snapshot).as_posix(), p.stat().st_size, p.resolve().name)
        for p in sorted(snapshot.rglob("*"))
        if p.is_file()
    ]


def import_snapshot(cache_dir: Path, repo_dir: Path, repo_id: str, revision: str) -> ModelRecord | None:
    """Install `repo_id` at `revision` into `repo_dir` from the snapshot another cache holds, linking its blobs.

    Returns the complete record, or None when `cache_dir` has no such snapshot.
    """
    source_repo = cache_dir / repo_folder_name(repo_id)
    commit = revision if validate.COMMIT.fullmatch(revision) else _read_ref(source_repo, revision)
    if not commit or not snapshot_dir(source_repo, commit).is_dir():
        return None
    found = snapshot_files(snapshot_dir(source_repo, commit))
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    reuse_blobs(cache_dir, repo_id, found, repo_dir / "blobs")
    return finish(repo_dir, new_record(repo_id, revision, commit, found))


def verify(repo_dir: Path) -> VerifyReport:
    """Re-hash the installed files of `repo_dir` against the sizes and ETags of its record.

    A folder without a record is checked against the names of its own blobs.
    """
    from creator_kit.download import file_digest

    record = read_record(repo_dir)
    snapshot = snapshot_dir(repo_dir, record.commit)
    expected = record.files or {f.path: FileEntry(f.etag, f.size) for f in snapshot_files(snapshot)}
    problems = []
    for relative, entry in sorted(expected.items()):
        path = snapshot / relative
        if not path.exists():
            problems.append(f"{relative}: missing")
        elif path.stat().st_size != entry.size:
            problems.append(f"{relative}: size {path.stat().st_size} != published {entry.size}")
        elif file_digest(path, entry.etag) not in (entry.etag, None):
            problems.append(f"{relative}: checksum does not match the published {entry.etag}")
    return VerifyReport(record.repo_id, checked_files=len(expected), problems=problems)


def reuse_blobs(cache_dir: Path, repo_id: str, remote: Iterable[RemoteFile], blobs_dir: Path) -> None:
    """Hard-link (or, across disks, symlink) into `blobs_dir` the blobs of `remote` that `cache_dir` holds."""
    source_blobs = cache_dir / repo_folder_name(repo_id) / "blobs"
    if not source_blobs.is_dir() or source_blobs.resolve() == blobs_dir.resolve():
        return
    for f in remote:
        source, target = source_blobs / f.etag, blobs_dir / f.etag
        if not target.exists() and source.is_file() and source.stat().st_size == f.size:
            try:
                os.link(source.resolve(), target)
            except OSError:
                target.symlink_to(source.resolve())


def copy_into_blobs(folder: Path, blobs_dir: Path) -> tuple[str, list[RemoteFile]]:
    """Copy every file of `folder` into `blobs_dir` under its sha256.

    Returns a commit hash derived from the content (the same files give the same commit) and the files.
    """
    blobs_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(p for p in folder.rglob("*") if p.is_file()):
        with source.open("rb") as f:
            etag = hashlib.file_digest(f, "sha256").hexdigest()
        shutil.copyfile(source, blobs_dir / etag)
        copied.append(RemoteFile(source.relative_to(folder).as_posix(), source.stat().st_size, etag))
    listing = sorted((f.path, f.etag) for f in copied)
    return hashlib.sha1(json.dumps(listing).encode(), usedforsecurity=False).hexdigest(), copied


def remove_repo(models_dir: Path, repo_id: str) -> int:
    """Delete the repo folder of `repo_id` and its locks; returns the bytes freed."""
    repo_dir = models_dir / repo_folder_name(repo_id)
    freed = tree_size(repo_dir / "blobs")
    shutil.rmtree(repo_dir)
    shutil.rmtree(models_dir / ".locks" / repo_folder_name(repo_id), ignore_errors=True)
    return freed


def tree_size(folder: Path) -> int:
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


def detect_task(snapshot: Path) -> str | None:
    """Guess the task of a model folder from its config files (for models not from the catalog)."""
    model_index = files.read_json(snapshot / "model_index.json")
    if model_index:
        pipeline = str(model_index.get("_class_name", ""))
        return "text-to-video" if "Video" in pipeline or "Wan" in pipeline else "text-to-image"
    config = files.read_json(snapshot / "config.json")
    if any(str(a).endswith(("ForCausalLM", "LMHeadModel")) for a in config.get("architectures", [])):
        return "text-generation"
    return None


def _link_snapshot_file(repo_dir: Path, commit: str, relative: str, etag: str) -> None:
    """Point ``snapshots/<commit>/<relative>`` at ``blobs/<etag>`` with a relative symlink, as the hub cache does."""
    pointer = snapshot_dir(repo_dir, commit) / relative
    pointer.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(repo_dir / "blobs" / etag, pointer.parent)
    if pointer.is_symlink() and os.readlink(pointer) == target:
        return
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    pointer.symlink_to(target)


def _write_ref(repo_dir: Path, revision: str, commit: str) -> None:
    if revision == commit or not validate.COMMIT.fullmatch(commit):
        return
    files.write_text(repo_dir / "refs" / revision, commit)


def _read_ref(repo_dir: Path, revision: str) -> str | None:
    ref = repo_dir / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else None


def _latest_snapshot(repo_dir: Path) -> str | None:
    if not (repo_dir / "snapshots").is_dir():
        return None
    snapshots = sorted((repo_dir / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime)
    return snapshots[-1].name if snapshots else None


def _catalog_task(repo_id: str) -> str | None:
    entry = catalog_entry(repo_id)
    return entry.task if entry else None
