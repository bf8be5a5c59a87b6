"""The engine of each task, for callers that hold only a model id or a file: `load_installed` loads an
installed model with its task's engine (a "Load" button), `reproduce` runs an output's manifest again with
the engine that made it and compares the new output with the file."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from creator_kit.core import readers
from creator_kit.core.errors import InvalidInputError, WrongTaskError
from creator_kit.engines import companions, image, text, video
from creator_kit.engines import manifest as manifests
from creator_kit.engines.manifest import Reproduction
from creator_kit.engines.runtime import LoadedModel
from creator_kit.library.devices import device_available, select_device
from creator_kit.library.store import ModelStore

#: The engine that loads models of each task (each has ``load_model(repo_id)``).
LOADERS: dict[str, ModuleType] = {
    "text-generation": text,
    "text-to-image": image,
    "text-to-video": video,
    "autoencoder": companions,  # a companion: tiny autoencoders
}
#: The engine that replays each kind of manifest (``call_from``, ``replay``).
REPLAYERS: dict[str, ModuleType] = {"text": text, "image": image, "video": video}


def load_installed(repo_id: str, *, store: ModelStore | None = None) -> LoadedModel:
    """Load an installed model with the engine of its task (what a "Load" button does)."""
    task = (store or ModelStore()).get(repo_id).task
    if task not in LOADERS:
        raise WrongTaskError(f"{repo_id} has no known task ({task!r}), so no engine can load it.")
    return LOADERS[task].load_model(repo_id)


def reproduce(path: str | Path, *, cancel: threading.Event | None = None) -> Reproduction:
    """Run the manifest of the output at `path` again and compare: text as saved, PNG pixels, video frames.

    Video frames are compared by the sha256 the manifest recorded before encoding (encoders need not give
    equal bytes); the new video is written to a scratch folder and deleted. A manifest made on a device this
    machine lacks runs on the device here, and a model revision other than the recorded one is named: the
    `notes` say so, since either can change the output. Setting `cancel` stops the run with CancelledError.
    """
    record = manifests.read(path)
    output = manifests.output_of(path)
    if record.kind not in REPLAYERS:
        raise InvalidInputError(f"Reproducing {record.kind} outputs is not supported; image, text and video are.")
    expected, suffix = manifests.OUTPUT_SUFFIXES.get(record.kind), output.suffix.lower()
    if (expected and suffix != expected) or (not expected and suffix in manifests.OUTPUT_SUFFIXES.values()):
        raise InvalidInputError(f"{path} holds a {record.kind} manifest: it does not belong to a {suffix} file.")
    engine = REPLAYERS[record.kind]
    overrides, notes = _here(record)
    overrides["cancel"] = cancel
    try:
        if record.kind == "text":
            saved = readers.read_text(output, what="saved text")
            again = "\n\n".join(engine.replay(record, **overrides).texts)
            return Reproduction(Path(path), record, "text", again == saved, notes)
        if record.kind == "image":
            pixels, again = _pixels(output), engine.replay(record, **overrides).image.tobytes()
            return Reproduction(Path(path), record, "pixels", again == pixels, notes)
        digest = record.parameters["frames_sha256"]
        with tempfile.TemporaryDirectory(prefix="creator-kit-reproduce-") as scratch:
            again = engine.replay(record, out=Path(scratch) / "again.mp4", **overrides)
        matches = again.manifest.parameters["frames_sha256"] == digest
        return Reproduction(Path(path), record, "frames", matches, notes)
    except KeyError as exc:
        raise InvalidInputError(f"The {record.kind} manifest of {path} lacks {exc}: it cannot be run again.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Cannot read the output {output} to compare with: {exc}.") from exc


def _here(record: manifests.Manifest) -> tuple[dict[str, Any], list[str]]:
    """Overrides that run `record` on this machine, and notes on what differs from where it was made."""
    overrides, notes = {}, []
    recorded = record.parameters.get("device")
    if isinstance(recorded, str) and not device_available(recorded):
        overrides["device"] = select_device()
        notes.append(f"made on {recorded}, run on {overrides['device']} here: results may differ across devices")
    installed = ModelStore().get(record.model)
    if installed.commit != record.revision:
        notes.append(
            f"{record.model} is installed at {installed.commit[:12]}; the manifest names {record.revision[:12]}"
        )
    return overrides, notes


def _pixels(path: Path) -> bytes:
    with readers.open_picture(path, what="PNG") as original:
        return original.convert("RGB").tobytes()
