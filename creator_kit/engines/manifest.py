"""Provenance: what made an output (model, exact revision, parameters, seed, library versions), and reproducing it.

Every result carries a `Manifest`. Text results save as ``name.txt`` with a ``name.txt.json`` sidecar
beside them, PNGs embed theirs, videos get a sidecar (``name.mp4.json``); `read` gives the manifest back
from any of them.
Each engine maps a manifest back to the call that made it (``text.call_from(manifest)``): its `replay`
runs that call, the panels' "copy parameters as code" prints it with `python_call`, and `reproduce`
(`engines.tasks`) runs it again and compares the new output with the file (a `Reproduction`).

    path = result.save()           # outputs/text-20260101-120000-ab12cd.txt (+ .txt.json)
    manifest.read(path).parameters
    reproduce(path).matches        # True: the same text, pixels or frames again
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creator_kit.core import files, readers
from creator_kit.core.config import get_settings
from creator_kit.core.errors import InvalidInputError, NotFoundError, OutputExistsError
from creator_kit.core.words import with_article

if TYPE_CHECKING:
    from PIL import Image

SCHEMA = "creator-kit/manifest/1"
PNG_KEY = "creator-kit"
MAX_MANIFEST_BYTES = 4 * 1024**2  # a sidecar: parameters, prompts of 20,000 characters, scene lists
#: Distributions whose versions a manifest records (those installed).
VERSIONED = ("creator-kit", "torch", "transformers", "diffusers")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape outputs, read without importing them."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Manifest:
    """The provenance record of one output. `parameters` holds everything needed to run it again."""

    kind: str  # text | image | video
    model: str
    revision: str  # the exact commit of the model files
    parameters: dict[str, Any]
    seed: int | None
    versions: dict[str, str] = field(default_factory=library_versions)
    created: str = field(default_factory=_now)
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        missing = [name for name in ("kind", "model", "revision", "parameters", "seed") if name not in data]
        if missing:
            raise InvalidInputError(f"Not a Creator Kit manifest: missing {', '.join(missing)}.")
        types = {"kind": str, "model": str, "revision": str, "parameters": dict, "versions": dict, "created": str}
        wrong = [name for name, kind in types.items() if name in data and not isinstance(data[name], kind)]
        if wrong or not (
            data["seed"] is None or (isinstance(data["seed"], int) and not isinstance(data["seed"], bool))
        ):
            raise InvalidInputError(f"Not a Creator Kit manifest: {', '.join(wrong) or 'seed'} has the wrong type.")
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def from_json(cls, text: str, source: str | Path = "the manifest") -> Manifest:
        """The manifest in the JSON `text` (read from `source`, named in errors), checked through `core.readers`."""
        try:
            data = readers.parse_json(text, what="manifest", source=source)
        except InvalidInputError as exc:
            raise InvalidInputError(f"Not a Creator Kit manifest: invalid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise InvalidInputError("Not a Creator Kit manifest: expected a JSON object.")
        return cls.from_dict(data)


#: The file each kind of output is saved as (a text result may have any suffix).
OUTPUT_SUFFIXES = {"image": ".png", "video": ".mp4"}


def output_path(
    kind: str,
    suffix: str,
    folder: str | Path | None = None,
    name: str | None = None,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Where an output goes: exactly `out` when given (an image's or a video's must have `suffix`; a text may
    have any), else ``<name>.<suffix>`` in `folder` (default: the outputs folder; default name
    ``<kind>-<time>-<random>``).

    The folder is checked to take files before any work; an existing file (or its manifest sidecar) raises
    OutputExistsError unless `overwrite`.
    """
    if out is not None:
        path = Path(out)
        if kind in OUTPUT_SUFFIXES and path.suffix.lower() != f".{suffix}":
            raise InvalidInputError(f"The output must be a .{suffix} file, not {str(out)!r}.")
    else:
        if name is None:
            name = f"{kind}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        elif Path(name).name != name or name.startswith("."):
            raise InvalidInputError(f"{name!r} is not a plain file name; give a name without folders.")
        path = Path(folder) if folder is not None else get_settings().outputs_dir
        path = path / f"{name}.{suffix}"
    files.require_writable_folder(path.parent)
    if path.is_dir():
        raise OutputExistsError(f"{path} is a folder: name a file to write.")
    claim([path, sidecar(path)], overwrite=overwrite)
    return path


def claim(paths: list[Path], *, overwrite: bool) -> None:
    """OutputExistsError naming the first of `paths` that exists, unless `overwrite`."""
    taken = next((p for p in paths if p.exists() or p.is_symlink()), None)
    if taken is not None and not overwrite:
        raise OutputExistsError(
            f"{taken} exists already: choose another name, or replace it with --overwrite (overwrite=True)."
        )


def sidecar(path: str | Path) -> Path:
    """The manifest file beside an output: ``<file>.json`` (``notes.md`` -> ``notes.md.json``)."""
    return Path(f"{path}.json")


def save_text(
    text: str,
    manifest: Manifest,
    *,
    folder: str | Path | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `text` (a new .txt in `folder`, or exactly `out`) with `manifest` in its sidecar; returns the path."""
    path = output_path(manifest.kind, "txt", folder, name, out=out, overwrite=overwrite)
    files.write_text(sidecar(path), manifest.to_json())
    return files.write_text(path, text)


def save_png(
    image: Image.Image,
    manifest: Manifest,
    *,
    folder: str | Path | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `image` as PNG (a new file in `folder`, or exactly `out`) with `manifest` embedded; returns the path.

    Two chunks: ``creator-kit`` (the manifest as JSON, read back by `read`) and ``parameters`` (the
    AUTOMATIC1111 format, which other Stable Diffusion tools read).
    """
    from PIL.PngImagePlugin import PngInfo

    path = output_path(manifest.kind, "png", folder, name, out=out, overwrite=overwrite)
    info = PngInfo()
    info.add_text(PNG_KEY, manifest.to_json())
    info.add_text("parameters", a1111_parameters(manifest))
    with files.atomic_path(path) as partial:
        image.save(partial, format="PNG", pnginfo=info)
    return path


def a1111_parameters(manifest: Manifest) -> str:
    """An image manifest in the AUTOMATIC1111 ``parameters`` text format."""
    p = manifest.parameters
    lines = [p["prompt"]]
    if p.get("negative_prompt"):
        lines.append(f"Negative prompt: {p['negative_prompt']}")
    lines.append(
        f"Steps: {p['steps']}, Sampler: {p['scheduler']}, CFG scale: {p['guidance']}, Seed: {manifest.seed}, "
        f"Size: {p['width']}x{p['height']}, Model: {manifest.model}, Model hash: {manifest.revision[:10]}"
    )
    return "\n".join(lines)


def read(path: str | Path) -> Manifest:
    """The manifest of an output: embedded in a PNG, or its sidecar (given the output, or the sidecar itself).

    Anything that is not a readable Creator Kit manifest raises InvalidInputError (or NotFoundError when
    there is none), never a library's exception.
    """
    path = Path(path)
    if not path.name or path.is_dir():
        raise NotFoundError(f"{path} is a folder: give an output file made by Creator Kit, or its manifest.")
    if path.suffix.lower() == ".png" and path.is_file():
        return _from_png(path)
    candidates = [path] if path.suffix.lower() == ".json" else [sidecar(path), path.with_suffix(".json")]
    found = next((p for p in candidates if p.is_file()), None)  # <name>.json: sidecars written before 0.2
    if found is None:
        raise NotFoundError(f"No manifest at {candidates[0]}: outputs saved by Creator Kit carry one beside them.")
    return Manifest.from_json(readers.read_text(found, what="manifest", limit=MAX_MANIFEST_BYTES), found)


def output_of(path: str | Path) -> Path:
    """The output a manifest path belongs to: the file itself, or the one its sidecar sits beside."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return path
    beside = path.with_suffix("")
    return beside if beside.suffix else path.with_suffix(".txt")  # notes.md.json -> notes.md; old x.json -> x.txt


def _from_png(path: Path) -> Manifest:
    with readers.open_picture(path, what="PNG") as png:
        png.load()
        embedded = png.text.get(PNG_KEY) if hasattr(png, "text") else None
    if embedded is None:
        raise NotFoundError(f"{path} carries no Creator Kit manifest (no '{PNG_KEY}' PNG text chunk).")
    return Manifest.from_json(embedded, path)


def of_kind(source: Manifest | str | Path, kind: str) -> Manifest:
    """`source` (a manifest, or an output carrying one) as a manifest of `kind`, else InvalidInputError."""
    record = source if isinstance(source, Manifest) else read(source)
    if record.kind != kind:
        raise InvalidInputError(
            f"This is {with_article(record.kind)} manifest; {kind}.replay runs {kind} manifests only."
        )
    return record


def python_call(module: str, arguments: dict[str, Any], then: str) -> str:
    """The notebook code that calls ``<module>.generate(**arguments)`` (the prompt first); `then` shows the result."""
    arguments = dict(arguments)
    lines = [repr(arguments.pop("prompt")), *(f"{name}={value!r}" for name, value in arguments.items())]
    body = ",\n    ".join(lines)
    return f"from creator_kit import {module}\n\nresult = {module}.generate(\n    {body},\n)\n{then}\n"


@dataclass
class Reproduction:
    """An output made again from its manifest, and whether it came out the same."""

    path: Path
    manifest: Manifest
    compared: str  # what was compared: "text", "pixels" or "frames" (before encoding)
    matches: bool
    notes: list[str] = field(default_factory=list)  # what differs from where it was made (device, revision)

    def summary(self) -> str:
        """One line: what the file is and whether it was reproduced."""
        verdict = "reproduced exactly" if self.matches else "DIFFERS from the original"
        record, notes = self.manifest, "".join(f"; {note}" for note in self.notes)
        made = f"{record.kind} from {record.model} @ {record.revision[:12]}, seed {record.seed}"
        return f"{self.path}: {made}: {verdict}{notes}"

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), path=str(self.path), manifest=self.manifest.to_dict())
