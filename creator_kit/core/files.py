"""Atomic writes and safe deletes: a file appears whole or not at all, and only what Creator Kit made is removed.

Everything Creator Kit writes (store records, manifests, outputs) goes through `atomic_path`: the
content is written to a hidden temporary file in the same folder, which is renamed over the target
only once it is complete, so a crash or a full disk leaves the old file (or none), never a torn one.

    with atomic_path(path) as partial:
        image.save(partial, format="PNG")
    write_text(path, manifest.to_json())

Operating-system errors while writing (a full disk, a read-only or file-backed folder) become the
Creator Kit error for them (`errors.from_os_error`). `remove_tree` deletes a folder only if it lies
inside the folder it belongs to (resolved, symlinks included) and holds a marker Creator Kit (or the
hub cache layout) wrote in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from creator_kit.core import readers
from creator_kit.core.errors import CreatorKitError, UnwritablePathError, from_os_error


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed to `path` when the block ends without error."""
    path = Path(path)
    # The suffix stays last: writers that pick a format by it (PIL, numpy, ffmpeg) see the real one.
    partial = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(3)}.partial{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield partial
        os.replace(partial, path)
    except OSError as error:
        raise from_os_error(error, path) from error
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def require_writable_folder(folder: str | Path) -> Path:
    """`folder`, created if need be, once it is known to take files; else the error saying why (before long work)."""
    folder = Path(folder)
    probe = folder / f".creator-kit-probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise from_os_error(error, folder) from error
    return folder


def check_removable(path: str | Path, *, inside: str | Path, markers: Sequence[str] = ()) -> None:
    """UnwritablePathError unless the folder `path` (when it is there) is Creator Kit's to delete: it lies within
    `inside` once resolved (a symlink in its place counts as inside: it is unlinked, never followed) and, when
    `markers` are given, holds one of them (a file or folder Creator Kit or the hub cache wrote in it)."""
    path, root = Path(path), Path(inside).resolve()
    if not (path.exists() or path.is_symlink()):
        return
    resolved = path.parent.resolve() / path.name if path.is_symlink() else path.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UnwritablePathError(f"{path} leads out of {inside} (through a symlink or ..): not deleting it.")
    if markers and not path.is_symlink() and not any((resolved / marker).exists() for marker in markers):
        raise UnwritablePathError(
            f"{path} was not made by Creator Kit (it holds no {' or '.join(markers)}): not deleting it."
        )


def remove_tree(path: str | Path, *, inside: str | Path, markers: Sequence[str] = ()) -> None:
    """Delete the folder `path`, if it is there, once `check_removable` agrees; a symlink is unlinked."""
    path = Path(path)
    check_removable(path, inside=inside, markers=markers)
    try:
        if path.is_symlink():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path.resolve())
    except OSError as error:
        raise from_os_error(error, path) from error


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns the path."""
    with atomic_path(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented, key-sorted JSON to `path` atomically; returns the path."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True))


def read_json(path: str | Path) -> dict[str, Any]:
    """The JSON object in `path` (read through `readers`: bounded, a regular file), or an empty dict when it is
    missing, unreadable or not an object: for records whose absence means "not done yet"."""
    try:
        data = readers.read_json(path, what="record")
    except CreatorKitError:
        return {}
    return data if isinstance(data, dict) else {}
