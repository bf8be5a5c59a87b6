"""The outputs folder as a list: each saved output with its manifest, newest first, and deleting one.

Outputs are the files the engines save in ``outputs/`` (`Settings.outputs_dir`): texts with a ``.json``
sidecar, PNGs with the manifest embedded, videos with a sidecar. A file counts as an output when its
manifest reads (`manifest.read`); keyframe sheets, GIFs and anything else in the folder do not.

    for output in outputs.listing("image", limit=10):
        print(output.summary())
    reproduce(output.path).summary()
    outputs.delete(output.path)        # the PNG; for a text or a video, its sidecar (and keyframe sheet, GIF) too
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from creator_kit.core import readers
from creator_kit.core.config import get_settings
from creator_kit.core.errors import CreatorKitError, UnwritablePathError, from_os_error
from creator_kit.engines import manifest as manifests

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Output:
    """One saved output: its file and the manifest that made it."""

    path: Path
    manifest: manifests.Manifest

    @property
    def kind(self) -> str:
        return self.manifest.kind

    def summary(self) -> str:
        """One line: when it was made (UTC), by which model, the seed and the start of the prompt."""
        record = self.manifest
        prompt = record.parameters.get("prompt", record.parameters.get("idea", ""))
        when = record.created.replace("T", " ")[:16]
        return f"{when} · {record.model} · seed {record.seed} · {str(prompt)[:40]!r} · {self.path.name}"

    def read_text(self) -> str:
        """The text of a text output, as saved."""
        return readers.read_text(self.path, what="saved text")

    def read_image(self) -> Image.Image:
        """The picture of an image output (read whole, so the file is not held open)."""
        with readers.open_picture(self.path, what="saved picture") as picture:
            return picture.convert("RGB")

    def files(self) -> list[Path]:
        """The output and the files saved with it that are there: its sidecar; a video's keyframe sheet and GIF (only
        for an MP4: a file whose manifest claims another kind than its own suffix has nothing else beside it)."""
        beside = [manifests.sidecar(self.path)]
        if self.kind == "video" and self.path.suffix.lower() == manifests.OUTPUT_SUFFIXES["video"]:
            from creator_kit.engines.video import sheet_path

            beside += [sheet_path(self.path), self.path.with_suffix(".gif")]
        return [self.path, *(path for path in beside if path.is_file())]


def listing(kind: str | None = None, *, folder: str | Path | None = None, limit: int | None = None) -> list[Output]:
    """The outputs in `folder` (default: the outputs folder), newest first; only those of `kind` ("text",
    "image", "video") when given, and at most `limit`. Files whose manifest does not read are left out."""
    root = Path(folder) if folder is not None else get_settings().outputs_dir
    if not root.is_dir():
        return []
    found: list[Output] = []
    for _, path in sorted(_candidates(root), reverse=True):
        try:
            record = manifests.read(path)
        except CreatorKitError:
            continue
        if kind is None or record.kind == kind:
            found.append(Output(path, record))
            if limit is not None and len(found) >= limit:
                break
    return found


def find(path: str | Path) -> Output:
    """The output at `path` (the file, or its sidecar) in the outputs folder itself, once its manifest reads.

    UnwritablePathError for a link or a file outside the outputs folder (resolved): Creator Kit acts only on
    its own outputs; NotFoundError or InvalidInputError when it carries no readable manifest.
    """
    path = manifests.output_of(path)
    root = get_settings().outputs_dir.resolve()
    if path.is_symlink() or path.resolve().parent != root:
        raise UnwritablePathError(f"{path} is not an output in {root} (the outputs folder): leaving it alone.")
    return Output(path, manifests.read(path))


def delete(path: str | Path) -> list[Path]:
    """Delete the output at `path` (see `find`) with the files saved with it (`Output.files`); returns them."""
    doomed = find(path).files()
    try:
        for file in doomed:
            file.unlink(missing_ok=True)
    except OSError as error:
        raise from_os_error(error, file) from error
    return doomed


def _candidates(root: Path) -> list[tuple[int, Path]]:
    """(modification time, path) of the files in `root` that may be outputs: PNGs, and files with a sidecar."""
    found = []
    for path in root.iterdir():
        if path.name.startswith(".") or path.suffix.lower() == ".json" or not path.is_file():
            continue
        if path.suffix.lower() == ".png" or manifests.sidecar(path).is_file():
            try:
                found.append((path.stat().st_mtime_ns, path))
            except OSError:
                continue
    return found
