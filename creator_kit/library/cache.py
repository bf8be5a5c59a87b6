"""The Hugging Face cache layout on disk, and the store's typed record of each model in it.

A repo lives in ``models--org--name/``: its files once each in ``blobs/<etag>``, the tree of a commit
as relative symlinks in ``snapshots/<commit>/``, branch and tag names in ``refs/``, exactly as
huggingface_hub writes it, so its own tools (``scan_cache_dir``, ``from_pretrained(cache_dir=...)``)
read the store. Beside ``snapshots/`` the store keeps ``creator-kit.json``, a `ModelRecord`: the pinned
commit, the chosen files with their ETags and sizes, whether the install finished and where the
model came from. Blobs another cache already holds are hard-linked (or symlinked), never copied, once
their content matches.

Each file's entry also keeps a stamp (size, mtime_ns and inode of its blob) from when its content was
last checked against its ETag: `verify(changed_only=True)`, run before every load, re-hashes only the
files whose stamp changed, so an unchanged model is checked in milliseconds. A change that keeps size,
mtime and inode (bytes rewritten in place, then the mtime set back) is caught only by a full `verify`.

    record = read_record(models_dir / repo_folder_name("distilbert/distilgpt2"))
    record.status  # 'downloaded'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from creator_kit.core import files, readers, validate
from creator_kit.core.errors import CreatorKitError, IntegrityError
from creator_kit.core.words import counted
from creator_kit.library import hub
from creator_kit.library.catalog import catalog_entry
from creator_kit.library.hub import RemoteFile

RECORD_NAME = "creator-kit.json"
#: What a repo folder holds, one at least: the store's record, or the hub cache's own layout.
REPO_MARKERS = (RECORD_NAME, "snapshots", "blobs")


def repo_folder_name(repo_id: str) -> str:
    """The hub cache folder of a model repo: ``models--org--name``."""
    return "models--" + repo_id.replace("/", "--")


#: What `stamp` returns: size, mtime_ns and inode of a file.
Stamp = tuple[int, int, int]


@dataclass(frozen=True)
class FileEntry:
    """One installed file as published: its ETag (the blob's name), its size in bytes, and the stamp of its blob
    when its content last matched the ETag (None: never checked here)."""

    etag: str
    size: int
    stamp: Stamp | None = None


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
    """The result of checking installed files against their checksums (the Hub's, or those recorded when saved)."""

    repo_id: str
    checked_files: int
    problems: list[str]
    repair: str = ""  # what repairs a damaged model (the store fills it in)
    source: str = "hub"  # hub | custom | starter: where the checksums come from

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """What was checked, in a sentence ("5 files match their published checksums."), or the problems found."""
        against = "their published checksums" if self.source == "hub" else "the checksums recorded when it was saved"
        files = counted(self.checked_files, "file") + (" matches" if self.checked_files == 1 else " match")
        return f"{'; '.join(self.problems)}." if self.problems else f"{files} {against}."

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), ok=self.ok)


def new_record(repo_id: str, revision: str, commit: str, remote: Iterable[RemoteFile], **fields: Any) -> ModelRecord:
    """The record of `repo_id` at `commit` with the files `remote`, not complete yet (task: the catalog's)."""
    fields.setdefault("task", _catalog_task(repo_id))
    entries = {f.path: FileEntry(f.etag, f.size) for f in remote}
    return ModelRecord(repo_id, revision, commit, files=entries, **fields)


def read_record(repo_dir: Path) -> ModelRecord:
    """The record of `repo_dir`; for a folder without one (written by huggingface_hub), what its layout says.
    A record that does not read, or holds a field of the wrong kind, is IntegrityError naming it and the repair."""
    data = _record_data(repo_dir / RECORD_NAME)
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
        files={path: _entry(e) for path, e in (data.get("files") or {}).items()},
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
    """Point the snapshot at the blobs, write the ref, and only then write the record as complete.

    Every blob must have been checked against its ETag on its way in: each file is stamped as checked now.
    """
    for path, entry in record.files.items():
        _link_snapshot_file(repo_dir, record.commit, path, entry.etag)
    _write_ref(repo_dir, record.revision, record.commit)
    stamped = {path: replace(e, stamp=stamp(repo_dir / "blobs" / e.etag)) for path, e in record.files.items()}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    record = replace(record, files=stamped, complete=True, installed_at=now)
    write_record(repo_dir, record)
    return record


def repo_folders(models_dir: Path) -> list[Path]:
    """The model repo folders under `models_dir` (complete or not), sorted."""
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.glob("models--*") if _is_repo_folder(p))


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


def cached_snapshot(cache_dir: Path, repo_id: str, revision: str) -> Path | None:
    """The snapshot folder of `repo_id` at `revision` (a name or a commit) in the hub cache `cache_dir`, if any."""
    source_repo = cache_dir / repo_folder_name(repo_id)
    commit = revision if validate.COMMIT.fullmatch(revision) else _read_ref(source_repo, revision)
    return snapshot_dir(source_repo, commit) if commit and snapshot_dir(source_repo, commit).is_dir() else None


def import_snapshot(source: Path, repo_dir: Path, repo_id: str, revision: str) -> ModelRecord | None:
    """Install `source`, a `cached_snapshot` of `repo_id`, into `repo_dir` at `revision`, linking its blobs.

    Returns the complete record, or None when some of its blobs are missing or do not match their names.
    """
    found = snapshot_files(source)
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    reuse_blobs(source.parents[2], repo_id, found, repo_dir / "blobs")
    if not all((repo_dir / "blobs" / f.etag).exists() for f in found):
        return None
    return finish(repo_dir, new_record(repo_id, revision, source.name, found))


def snapshot_configs(snapshot: Path) -> tuple[dict[str, dict[str, Any]], list[RemoteFile]]:
    """The CODE_CONFIGS of a snapshot folder (what `hub.remote_code` reads) and all its files."""
    found = snapshot_files(snapshot)
    return {f.path: files.read_json(snapshot / f.path) for f in found if hub.is_code_config(f.path)}, found


def verify(repo_dir: Path, *, changed_only: bool = False) -> VerifyReport:
    """Re-hash the installed files of `repo_dir` against the sizes and ETags of its record; with `changed_only`,
    only the files whose stamp changed since they were last checked (or that were never checked here).

    The files found intact get a fresh stamp in the record, the damaged ones lose theirs (so loading and
    downloading check them again). A folder without a record (written by huggingface_hub) is checked
    against the names of its own blobs, and gets a record.
    """
    record = read_record(repo_dir)
    snapshot = snapshot_dir(repo_dir, record.commit)
    expected = record.files or {f.path: FileEntry(f.etag, f.size) for f in snapshot_files(snapshot)}
    problems, checked = [], dict(expected)
    for relative, entry in sorted(expected.items()):
        path = snapshot / relative
        if changed_only and path.exists() and entry.stamp == stamp(path):
            continue
        problem = _problem(path, entry)
        if problem:
            problems.append(f"{relative}: {problem}")
        checked[relative] = replace(entry, stamp=None if problem else stamp(path))  # damaged: re-hashed next time
    if checked != record.files and record.complete:
        # A read-only store still loads: its changed files are then hashed again next time.
        with contextlib.suppress(OSError, CreatorKitError):
            write_record(repo_dir, replace(record, files=checked))
    return VerifyReport(record.repo_id, checked_files=len(expected), problems=problems, source=record.source)


def discard_damaged(repo_dir: Path, remote: Iterable[RemoteFile]) -> list[RemoteFile]:
    """Delete the blobs of `remote` in `repo_dir` that no longer match their ETag, so they are fetched again.

    Blobs whose stamp is the one the record kept when they were last checked are trusted; the others are
    re-hashed. Returns the files whose blob was deleted.
    """
    stamps = {e.etag: e.stamp for e in read_record(repo_dir).files.values() if e.stamp is not None}
    damaged = []
    for f in {f.etag: f for f in remote}.values():
        blob = repo_dir / "blobs" / f.etag
        if blob.exists() and stamps.get(f.etag) != stamp(blob) and _problem(blob, FileEntry(f.etag, f.size)):
            blob.unlink()
            damaged.append(f)
    return damaged


def stamp(path: Path) -> Stamp:
    """Size, mtime_ns and inode of `path` (symlinks followed): what changes when a file is rewritten."""
    status = path.stat()
    return status.st_size, status.st_mtime_ns, status.st_ino


def reuse_blobs(cache_dir: Path, repo_id: str, remote: Iterable[RemoteFile], blobs_dir: Path) -> None:
    """Hard-link (or, across disks, symlink) into `blobs_dir` the blobs of `remote` that `cache_dir` holds
    and whose content matches their ETag."""
    source_blobs = cache_dir / repo_folder_name(repo_id) / "blobs"
    if not source_blobs.is_dir() or source_blobs.resolve() == blobs_dir.resolve():
        return
    for f in remote:
        source, target = source_blobs / f.etag, blobs_dir / f.etag
        if not target.exists() and source.is_file() and not _problem(source, FileEntry(f.etag, f.size)):
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
    """Delete the repo folder of `repo_id` and its locks; returns the bytes freed.

    Nothing is deleted unless both lie inside `models_dir` (resolved, symlinks included) and the repo folder
    looks like one (a record, or the hub layout); a symlink in the place of either is unlinked, never followed.
    """
    repo_dir = models_dir / repo_folder_name(repo_id)
    locks = models_dir / ".locks" / repo_folder_name(repo_id)
    files.check_removable(repo_dir, inside=models_dir, markers=REPO_MARKERS)
    files.check_removable(locks, inside=models_dir)
    freed = 0 if repo_dir.is_symlink() else tree_size(repo_dir / "blobs")
    files.remove_tree(repo_dir, inside=models_dir, markers=REPO_MARKERS)
    files.remove_tree(locks, inside=models_dir)
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
    return "autoencoder" if config.get("_class_name") == "AutoencoderTiny" else None  # a tiny autoencoder (TAESD)


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


def _problem(path: Path, entry: FileEntry) -> str | None:
    """How the file `path` differs from `entry` (missing, not a regular file, other size, other checksum), or None
    when it matches."""
    from creator_kit.library.download import file_digest

    if not path.exists():
        return "missing"
    if not path.is_file():  # a folder, a FIFO, a device (a link is followed): never read as weights
        return "not a regular file"
    if path.stat().st_size != entry.size:
        return f"size {path.stat().st_size} != published {entry.size}"
    if file_digest(path, entry.etag) not in (entry.etag, None):
        return f"checksum does not match the published {entry.etag}"
    return None


#: The kind of each field of a record (`ModelRecord`); `files` maps paths to entries checked by `_entry_problem`.
RECORD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "repo_id": str,
    "revision": str,
    "commit": str,
    "source": str,
    "complete": bool,
    "allow_pickle": bool,
    "task": (str, type(None)),
    "files": dict,
    "description": str,
    "metadata": dict,
    "installed_at": (str, type(None)),
}


def _record_data(path: Path) -> dict[str, Any]:
    """The checked content of the record at `path` ({} when there is none)."""
    if not (path.exists() or path.is_symlink()):
        return {}
    repair = f"remove the model ({path.parent}) and add it again"
    try:
        data = readers.read_json(path, what="store record")
    except CreatorKitError as exc:
        raise IntegrityError(f"{exc} To repair it, {repair}.") from exc
    problem = _record_problem(data)
    if problem:
        raise IntegrityError(f"The store record {path} is damaged ({problem}): {repair}.")
    return data


def _record_problem(data: Any) -> str | None:
    """What is wrong with a record's content, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    wrong = [name for name, kind in RECORD_FIELDS.items() if name in data and not isinstance(data[name], kind)]
    if wrong:
        return f"{', '.join(wrong)} of the wrong kind"
    for name, entry in data.get("files", {}).items():
        problem = _entry_problem(entry) if isinstance(entry, dict) else "not an object"
        if problem:
            return f"the entry of {str(name)[:80]!r} is {problem}"
    return None


def _entry_problem(entry: Mapping[str, Any]) -> str | None:
    size, stamp = entry.get("size"), entry.get("stamp")
    if not isinstance(entry.get("etag"), str):
        return "without an etag"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "without a size"
    whole = all(isinstance(n, int) and not isinstance(n, bool) for n in stamp or ())
    if stamp is not None and not (isinstance(stamp, list) and len(stamp) == 3 and whole):
        return "with a damaged stamp"
    return None


def _entry(data: Mapping[str, Any]) -> FileEntry:
    """A FileEntry from its JSON form (records of earlier versions have no stamp)."""
    return FileEntry(data["etag"], data["size"], tuple(data["stamp"]) if data.get("stamp") else None)


def _is_repo_folder(path: Path) -> bool:
    """Whether `path` holds a model repo: the store's record, or the snapshots of the hub layout."""
    return (path / RECORD_NAME).is_file() or (path / "snapshots").is_dir()


def _write_ref(repo_dir: Path, revision: str, commit: str) -> None:
    if revision == commit or not validate.COMMIT.fullmatch(commit):
        return
    files.write_text(repo_dir / "refs" / revision, commit)


def _read_ref(repo_dir: Path, revision: str) -> str | None:
    ref = repo_dir / "refs" / revision
    return readers.read_text(ref, what="revision ref", limit=256).strip() if ref.is_file() else None


def _latest_snapshot(repo_dir: Path) -> str | None:
    if not (repo_dir / "snapshots").is_dir():
        return None
    snapshots = sorted((repo_dir / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime)
    return snapshots[-1].name if snapshots else None


def _catalog_task(repo_id: str) -> str | None:
    entry = catalog_entry(repo_id)
    return entry.task if entry else None
