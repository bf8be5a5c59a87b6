"""The one reader for every file that comes from outside: prompts, queues, storyboards, manifests and sidecars,
votes, bench caches, store records, training configs, pictures.

Each read is bounded before any work: regular files only (a FIFO, a device or a folder is refused before it is
opened), at most `limit` bytes (read in one bounded call, never the whole file first), UTF-8, nesting at most
`MAX_DEPTH` deep, and YAML through a safe loader that refuses aliases (so a few hundred bytes cannot expand to
gigabytes). Every failure, a missing file included, is one InvalidInputError naming the file. Callers
then validate what they read into their typed records before using any field.

    data = readers.read_json(path, what="queue file")          # any JSON value, checked
    rows = readers.read_jsonl(path, what="vote file")          # one value per line
    with readers.open_picture(path) as picture: ...            # its size from the header, before decoding
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creator_kit.core.errors import CreatorKitError, InvalidInputError

if TYPE_CHECKING:
    from PIL import Image

#: The largest file read whole, unless a reader says otherwise: far above any real queue, manifest or prompt list.
MAX_FILE_BYTES = 16 * 1024**2
#: How deeply JSON or YAML may nest: real files here nest fewer than ten levels.
MAX_DEPTH = 64
#: The largest picture decoded (width x height): 8192 x 8192, four times the largest size the engines make.
MAX_PICTURE_PIXELS = 8192 * 8192


def open_regular(path: str | Path, *, what: str) -> int:
    """A read-only descriptor of `path` once it is known to be a regular file (links followed); else the error."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:  # a file named by the user that is not there: a bad argument
        raise InvalidInputError(f"No {what} at {path}.") from exc
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the {what} {path}: {exc.strerror or exc}.") from exc
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(f"The {what} {path} is not a regular file ({_kind(info.st_mode)}).")
    try:
        # O_NONBLOCK: a file swapped for a FIFO between the check and the open cannot block the open.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the {what} {path}: {exc.strerror or exc}.") from exc
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InvalidInputError(f"The {what} {path} is not a regular file.")
    return descriptor


def read_bytes(path: str | Path, *, what: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them (InvalidInputError past that)."""
    descriptor = open_regular(path, what=what)
    try:
        with os.fdopen(descriptor, "rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the {what} {path}: {exc.strerror or exc}.") from exc
    if len(data) > limit:
        raise InvalidInputError(f"The {what} {path} is larger than {limit:,} bytes: not read.")
    return data


def read_text(path: str | Path, *, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of `path` (a byte-order mark dropped), bounded as `read_bytes`."""
    data = read_bytes(path, what=what, limit=limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"The {what} {path} is not UTF-8 text (byte {exc.start}).") from exc


def parse_json(text: str | bytes, *, what: str, source: str | Path) -> Any:
    """The JSON value in `text` (from `source`, named in errors), at most `MAX_DEPTH` deep."""
    if not text.strip():
        raise InvalidInputError(f"The {what} {source} is empty.")
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise InvalidInputError(f"The {what} {source} nests deeper than {MAX_DEPTH} levels.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"The {what} {source} is not valid JSON: {exc}".splitlines()[0]) from exc
    check_depth(data, what=what, source=source)
    return data


def read_json(path: str | Path, *, what: str, limit: int = MAX_FILE_BYTES) -> Any:
    """The JSON value in the file `path`, read and checked as above."""
    return parse_json(read_text(path, what=what, limit=limit), what=what, source=path)


def read_jsonl(path: str | Path, *, what: str, limit: int = MAX_FILE_BYTES) -> list[Any]:
    """One JSON value per non-empty line of `path` (a line that is not JSON is an error naming its number)."""
    rows = []
    for number, line in enumerate(read_text(path, what=what, limit=limit).splitlines(), start=1):
        if line.strip():
            rows.append(parse_json(line, what=what, source=f"{path}, line {number},"))
    return rows


def read_yaml(path: str | Path, *, what: str, limit: int = MAX_FILE_BYTES) -> Any:
    """The YAML document in `path`, through a safe loader that refuses aliases and tags beyond plain data."""
    text = read_text(path, what=what, limit=limit)
    if not text.strip():
        raise InvalidInputError(f"The {what} {path} is empty.")
    try:
        import yaml
    except ImportError as exc:
        raise InvalidInputError(f"The {what} {path} is YAML, which needs PyYAML: pip install pyyaml.") from exc

    class _NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise InvalidInputError(f"The {what} {path} uses a YAML alias (*name): write the value out instead.")
            return super().compose_node(parent, index)

    try:
        data = yaml.load(text, Loader=_NoAliases)  # _NoAliases is a SafeLoader: plain data only
    except RecursionError as exc:
        raise InvalidInputError(f"The {what} {path} nests deeper than {MAX_DEPTH} levels.") from exc
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"The {what} {path} is not valid YAML: {exc}".splitlines()[0]) from exc
    check_depth(data, what=what, source=path)
    return data


def read_data(path: str | Path, *, what: str, limit: int = MAX_FILE_BYTES) -> Any:
    """JSON, or YAML for a .yaml / .yml file."""
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        return read_yaml(path, what=what, limit=limit)
    return read_json(path, what=what, limit=limit)


def read_object(path: str | Path, *, what: str, limit: int = MAX_FILE_BYTES) -> dict[str, Any]:
    """`read_data`, which must give one object (a mapping), else InvalidInputError."""
    data = read_data(path, what=what, limit=limit)
    if not isinstance(data, dict):
        raise InvalidInputError(f"The {what} {path} must hold one object, not {type(data).__name__}.")
    return data


def check_depth(data: Any, *, what: str, source: str | Path) -> None:
    """InvalidInputError when `data` nests more than `MAX_DEPTH` lists or mappings deep (checked without recursion)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise InvalidInputError(f"The {what} {source} nests deeper than {MAX_DEPTH} levels.")
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)


@contextlib.contextmanager
def open_picture(path: str | Path, *, what: str = "picture") -> Iterator[Image.Image]:
    """The picture in `path`, opened (not decoded) once its header is read: InvalidInputError when it is not a
    picture, or declares more than `MAX_PICTURE_PIXELS` (a decompression bomb). A picture that fails to decode
    inside the block is InvalidInputError too."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PICTURE_PIXELS  # Pillow's own check, everywhere in this process, at the same limit
    unreadable = (OSError, SyntaxError, UnidentifiedImageError, ValueError)
    with os.fdopen(open_regular(path, what=what), "rb") as file:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                picture = Image.open(file)  # reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InvalidInputError(
                f"The {what} {path} declares too many pixels to decode (more than {MAX_PICTURE_PIXELS:,})."
            ) from exc
        except unreadable as exc:
            raise InvalidInputError(f"The {what} {path} is not a readable picture ({exc}).") from exc
        with picture:
            width, height = picture.size
            if width * height > MAX_PICTURE_PIXELS:
                limit = f"{MAX_PICTURE_PIXELS:,}"
                raise InvalidInputError(
                    f"The {what} {path} declares {width}x{height} pixels, more than the {limit} read."
                )
            try:
                yield picture
            except CreatorKitError:
                raise
            except unreadable as exc:  # truncated or damaged pixel data, met while decoding
                raise InvalidInputError(f"The {what} {path} is not a readable picture ({exc}).") from exc


def _kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a device", stat.S_ISBLK: "a device"}
    return next((name for test, name in kinds.items() if test(mode)), "a special file")
