"""Atomic writes: a file appears whole or not at all, never half-written.

Everything Creator Kit writes (store records, manifests, outputs) goes through `atomic_path`: the
content is written to a hidden temporary file in the same folder, which is renamed over the target
only once it is complete, so a crash or a full disk leaves the old file (or none), never a torn one.

    with atomic_path(path) as partial:
        image.save(partial, format="PNG")
    write_text(path, manifest.to_json())
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed to `path` when the block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The suffix stays last: writers that pick a format by it (PIL, numpy, ffmpeg) see the real one.
    partial = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(3)}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns the path."""
    with atomic_path(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented, key-sorted JSON to `path` atomically; returns the path."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True))


def read_json(path: str | Path) -> dict[str, Any]:
    """The JSON object in `path`, or an empty dict when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
