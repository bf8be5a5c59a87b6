"""Provenance: what made an output (model, exact revision, parameters, seed, library versions), and reproducing it.

Every result carries a `Manifest`. Text results save as ``name.txt`` with a ``name.json`` sidecar
beside them, PNGs embed theirs, videos get a sidecar; `read` gives the manifest back from any of them.
Each engine maps a manifest back to the call that made it (``text.call_from(manifest)``): its `replay`
runs that call, the panels' "copy parameters as code" prints it with `python_call`, and `reproduce`
runs it again and compares the new output with the file.

    path = result.save()           # outputs/text-20260101-120000-ab12cd.txt (+ .json)
    manifest.read(path).parameters
    reproduce(path).matches        # True: the same text, pixels or frames again
"""

from __future__ import annotations

import importlib
import json
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creator_kit import files
from creator_kit.config import get_settings
from creator_kit.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from PIL import Image

SCHEMA = "creator-kit/manifest/1"
PNG_KEY = "creator-kit"
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
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"Not a Creator Kit manifest: invalid JSON ({exc}).") from exc
        if not isinstance(data, dict):
            raise InvalidInputError("Not a Creator Kit manifest: expected a JSON object.")
        return cls.from_dict(data)


def output_path(kind: str, suffix: str, folder: str | Path | None = None, name: str | None = None) -> Path:
    """A new file path in `folder` (default: the outputs folder): ``<kind>-<time>-<random>.<suffix>``."""
    folder = Path(folder) if folder is not None else get_settings().outputs_dir
    folder.mkdir(parents=True, exist_ok=True)
    if name is None:
        name = f"{kind}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    elif Path(name).name != name or name.startswith("."):
        raise InvalidInputError(f"{name!r} is not a plain file name; give a name without folders.")
    return folder / f"{name}.{suffix}"


def sidecar(path: str | Path) -> Path:
    """The ``.json`` manifest beside an output file."""
    return Path(path).with_suffix(".json")


def save_text(text: str, manifest: Manifest, *, folder: str | Path | None = None, name: str | None = None) -> Path:
    """Write `text` as a .txt file and `manifest` as its .json sidecar; returns the .txt path."""
    path = output_path(manifest.kind, "txt", folder, name)
    files.write_text(sidecar(path), manifest.to_json())
    return files.write_text(path, text)


def save_png(
    image: Image.Image, manifest: Manifest, *, folder: str | Path | None = None, name: str | None = None
) -> Path:
    """Write `image` as PNG with `manifest` embedded in text chunks; returns the path.

    Two chunks: ``creator-kit`` (the manifest as JSON, read back by `read`) and ``parameters`` (the
    AUTOMATIC1111 format, which other Stable Diffusion tools read).
    """
    from PIL.PngImagePlugin import PngInfo

    path = output_path(manifest.kind, "png", folder, name)
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
    """The manifest of an output: a PNG with it embedded, or the .json sidecar (or the output beside it)."""
    if Path(path).suffix.lower() == ".png" and Path(path).is_file():
        from PIL import Image

        with Image.open(path) as png:
            embedded = png.text.get(PNG_KEY) if hasattr(png, "text") else None
        if embedded is None:
            raise NotFoundError(f"{path} carries no Creator Kit manifest (no '{PNG_KEY}' PNG text chunk).")
        return Manifest.from_json(embedded)
    path = sidecar(path)
    if not path.is_file():
        raise NotFoundError(f"No manifest at {path}: outputs saved by Creator Kit have a .json sidecar beside them.")
    return Manifest.from_json(path.read_text(encoding="utf-8"))


def of_kind(source: Manifest | str | Path, kind: str) -> Manifest:
    """`source` (a manifest, or an output carrying one) as a manifest of `kind`, else InvalidInputError."""
    record = source if isinstance(source, Manifest) else read(source)
    if record.kind != kind:
        raise InvalidInputError(f"This is a {record.kind} manifest; {kind}.replay runs {kind} manifests only.")
    return record


def python_call(module: str, arguments: dict[str, Any], then: str) -> str:
    """The notebook code that calls ``<module>.generate(**arguments)`` (the prompt first); `then` shows the result."""
    arguments = dict(arguments)
    lines = [repr(arguments.pop("prompt")), *(f"{name}={value!r}" for name, value in arguments.items())]
    body = ",\n    ".join(lines)
    return f"from creator_kit import {module}\n\nresult = {module}.generate(\n    {body},\n)\n{then}\n"


#: The engine module that replays each kind of manifest (``call_from``, ``replay``).
ENGINES = {"text": "creator_kit.text", "image": "creator_kit.image", "video": "creator_kit.video"}


@dataclass
class Reproduction:
    """An output made again from its manifest, and whether it came out the same."""

    path: Path
    manifest: Manifest
    compared: str  # what was compared: "text", "pixels" or "frames" (before encoding)
    matches: bool

    def summary(self) -> str:
        """One line: what the file is and whether it was reproduced."""
        verdict = "reproduced exactly" if self.matches else "DIFFERS from the original"
        record = self.manifest
        return f"{self.path}: {record.kind} from {record.model} @ {record.revision[:12]}, seed {record.seed}: {verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "manifest": self.manifest.to_dict(),
            "compared": self.compared,
            "matches": self.matches,
        }


def reproduce(path: str | Path) -> Reproduction:
    """Run the manifest of the output at `path` again and compare: text as saved, PNG pixels, video frames.

    Video frames are compared by the sha256 the manifest recorded before encoding (encoders need not give
    equal bytes); the new video is written to a scratch folder and deleted.
    """
    path = Path(path)
    record = read(path)
    if record.kind not in ENGINES:
        raise InvalidInputError(f"Reproducing {record.kind} outputs is not supported; image, text and video are.")
    engine = importlib.import_module(ENGINES[record.kind])
    if record.kind == "text":
        saved = path.with_suffix(".txt").read_text(encoding="utf-8")
        return Reproduction(path, record, "text", "\n\n".join(engine.replay(record).texts) == saved)
    if record.kind == "image":
        from PIL import Image

        with Image.open(path) as original:
            pixels = original.convert("RGB").tobytes()
        return Reproduction(path, record, "pixels", engine.replay(record).image.tobytes() == pixels)
    with tempfile.TemporaryDirectory(prefix="creator-kit-reproduce-") as scratch:
        again = engine.replay(record, out=Path(scratch) / "again.mp4")
    digest = record.parameters["frames_sha256"]
    return Reproduction(path, record, "frames", again.manifest.parameters["frames_sha256"] == digest)
