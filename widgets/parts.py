"""Small parts the previewer's modes share: the model picker, the seed box, pictures as widget bytes, `Report`,
and the words every line of the previewer uses for runs and numbers (one naming for History and Saved)."""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any, Protocol

import ipywidgets as w

from creator_kit import CancelledError, InvalidInputError, Manifest, ModelStore, runtime, text_fit
from widgets.shared.style import text_html


class Report(Protocol):
    """How a mode's run tells the panel how it goes: a status line and, when known, the fraction done (0 to 1)."""

    def __call__(self, message: str, fraction: float | None = None) -> None: ...


def model_options(store: ModelStore, task: str) -> list[tuple[str, str]]:
    """The complete installed models of `task` as dropdown options, each labelled with its status."""
    loaded = set(runtime.loaded())
    models = [m for m in store.installed(task=task) if m.status != "incomplete"]
    return [(f"{m.repo_id} ({'loaded' if m.repo_id in loaded else m.status})", m.repo_id) for m in models]


def set_options(dropdown: w.Dropdown, options: list[tuple[str, Any]]) -> None:
    """Give `dropdown` these options, keeping its selection while it is among them (else the first)."""
    if tuple(options) == tuple(dropdown.options):
        return  # nothing changed: no flicker of the value through the first option, no observers woken
    current = dropdown.value
    _REPLACING.add(id(dropdown))
    try:
        dropdown.options = options  # the value may pass through the first option here: not a selection
    finally:
        _REPLACING.discard(id(dropdown))
    values = [value for _, value in options]
    dropdown.value = current if current in values else (values[0] if values else None)


_REPLACING: set[int] = set()  # the dropdowns whose options set_options is replacing now


def on_new_selection(dropdown: w.Dropdown, apply: Callable[[Any], None]) -> None:
    """Call `apply(value)` whenever `dropdown` selects another value; a refresh of its options (set_options)
    that keeps the selection does not count, so controls filled from the selection keep the user's edits."""
    chosen = [dropdown.value]

    def changed(change: dict[str, Any]) -> None:
        if id(dropdown) in _REPLACING or change["new"] == chosen[0]:
            return
        chosen[0] = change["new"]
        apply(change["new"])

    dropdown.observe(changed, "value")


def installed_models(dropdown: w.Dropdown, store: ModelStore, task: str) -> None:
    """Fill `dropdown` with the installed models of `task` and their status, keeping the selection."""
    set_options(dropdown, model_options(store, task))


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


def labelled_thumbnail(picture: Any, size: int, label: str, *below: w.Widget) -> w.VBox:
    """`picture` as a thumbnail of `size` pixels with a short `label` under it (and the widgets `below`)."""
    caption = w.HTML(f"<small>{html.escape(label)}</small>", layout={"width": f"{size}px"})
    return w.VBox([w.Image(value=encode(thumbnail(picture, size), "PNG"), format="png"), caption, *below])


def shown_once_set(media: w.Image | w.Video) -> w.Image | w.Video:
    """Hide `media` while it has no value (an empty Image shows a broken-image icon); returns `media`."""

    def show(_change: object = None) -> None:
        media.layout.display = None if media.value else "none"

    media.observe(show, "value")
    show()
    return media


def seconds(value: float) -> str:
    """A duration in the previewer's units: milliseconds below a second ("850 ms"), else seconds ("2.4 s")."""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def run_name(record: Manifest) -> str:
    """How History and Saved name a run: when it was made (UTC), the model, the seed, the prompt's start."""
    parameters = record.parameters
    prompt = parameters.get("prompt", parameters.get("idea", ""))
    when = record.created.replace("T", " ")[:16]
    return f"{when} · {record.model} · seed {record.seed} · “{text_fit.shorten(str(prompt), 40)}”"


def status_html(message: str, error: Exception | None, *, small: bool = False) -> str:
    """A status line: in the error tone for a failure; a run the user stopped is a plain status, not an error."""
    return text_html(message, error=error is not None and not isinstance(error, CancelledError), small=small)
