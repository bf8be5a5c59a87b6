"""Small parts the previewer's modes share: the model picker, the seed box, pictures as widget bytes."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from creator_kit import InvalidInputError, ModelStore, runtime

Report = Callable[[str], None]


def installed_models(dropdown: w.Dropdown, store: ModelStore, task: str) -> None:
    """Fill `dropdown` with the installed models of `task` and their status, keeping the selection."""
    loaded = set(runtime.loaded())
    models = [m for m in store.installed(task=task) if m.status != "incomplete"]
    current = dropdown.value
    dropdown.options = [(f"{m.repo_id} ({'loaded' if m.repo_id in loaded else m.status})", m.repo_id) for m in models]
    ids = [m.repo_id for m in models]
    dropdown.value = current if current in ids else (ids[0] if ids else None)


def parse_seed(value: str) -> int | None:
    """The seed typed in a seed box: a whole number, or None (random) when empty."""
    value = value.strip()
    if value and not value.isdigit():
        raise InvalidInputError(f"The seed must be a whole number (or empty for random), not {value!r}.")
    return int(value) if value else None


def encode(picture: Any, kind: str) -> bytes:
    """`picture` (a PIL image) as `kind` ("PNG", "JPEG") bytes, what an ipywidgets Image shows."""
    buffer = io.BytesIO()
    picture.save(buffer, format=kind)
    return buffer.getvalue()


def thumbnail(picture: Any, size: int) -> Any:
    """A copy of `picture` that fits in `size` x `size`."""
    small = picture.copy()
    small.thumbnail((size, size))
    return small
