"""Resumable download of one file into the blob store of a Hugging Face cache.

huggingface_hub writes each download to a process-unique temporary file and starts over after an
interruption. Here the bytes already on disk are kept in ``blobs/<etag>.incomplete`` and the
transfer continues from them with an HTTP Range request to the same resolve URL, under the same
lock file huggingface_hub uses, so two processes never write one blob. The finished file is checked
against its ETag (sha256 for LFS files, the git blob sha1 otherwise) before it is moved into place.

Each read waits `hub.BLOB_READ_S` at most (the transfer as a whole takes as long as it takes). An attempt that
breaks off is resumed, up to MAX_ATTEMPTS; one that waited in vain without a byte is not tried again.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2
from filelock import FileLock
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import get_session, hf_raise_for_status

from creator_kit.core.errors import CancelledError, InsufficientDiskError, IntegrityError, NetworkError
from creator_kit.library.hub import BLOB_READ_S, CONNECT_S, failure

CHUNK_SIZE = 1024 * 1024
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Transfer:
    """What fetching one blob cost: bytes found on disk and bytes that crossed the network."""

    resumed_from: int
    bytes_received: int


def new_hasher(etag: str, size: int) -> hashlib._Hash | None:
    """A hash object whose hexdigest equals `etag` for intact content, or None for unknown ETags."""
    if len(etag) == 64:
        return hashlib.sha256()
    if len(etag) == 40:
        hasher = hashlib.sha1(usedforsecurity=False)
        hasher.update(f"blob {size}\0".encode())
        return hasher
    return None


def file_digest(path: Path, etag: str) -> str | None:
    """The digest of `path` in the same form as `etag` (None when the ETag form is unknown)."""
    hasher = new_hasher(etag, path.stat().st_size)
    if hasher is None:
        return None
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            hasher.update(chunk)
    return hasher.hexdigest()


def fetch_blob(
    url: str,
    blob_path: Path,
    lock_path: Path,
    *,
    etag: str,
    size: int,
    headers: dict[str, str],
    on_bytes: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Transfer:
    """Download `url` into `blob_path`, resuming from a previous partial file.

    `on_bytes(n)` is called with the number of bytes of this file on disk as they arrive. Setting
    `cancel` stops the transfer between chunks with CancelledError; the partial file is kept.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_path):
        if blob_path.exists():
            return Transfer(resumed_from=size, bytes_received=0)
        part_path = blob_path.with_name(blob_path.name + ".incomplete")
        resumed_from = _size(part_path)
        received = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            had = _size(part_path)
            try:
                received += _transfer(url, part_path, etag, size, headers, on_bytes, cancel)
                break
            except (httpx2.TransportError, _ShortRead) as error:
                silent = isinstance(error, httpx2.TimeoutException) and _size(part_path) == had
                if attempt == MAX_ATTEMPTS or silent:
                    raise NetworkError(
                        f"Download of {url} failed ({failure(error)}). The {_size(part_path)} bytes received are kept: "
                        "check your connection or HF_ENDPOINT and run the same download again to resume."
                    ) from error
                time.sleep(min(2**attempt, 10))
            except HfHubHTTPError as error:
                raise NetworkError(
                    f"The server refused {url}: {failure(error)}. Check the repo id and HF_ENDPOINT."
                ) from error
        os.chmod(part_path, 0o644)
        os.replace(part_path, blob_path)
        return Transfer(resumed_from=resumed_from, bytes_received=received)


class _ShortRead(Exception):
    """The connection closed before the whole file arrived (retried with a resume)."""


def _size(path: Path) -> int:
    """The bytes of `path`; 0 when it is not there (yet)."""
    return path.stat().st_size if path.exists() else 0


def _transfer(
    url: str,
    part_path: Path,
    etag: str,
    size: int,
    headers: dict[str, str],
    on_bytes: Callable[[int], None] | None,
    cancel: threading.Event | None,
) -> int:
    """One attempt: append the missing bytes to `part_path`, then check the whole file. Returns bytes received."""
    have = _size(part_path)
    if have > size:
        part_path.unlink()
        have = 0
    hasher = new_hasher(etag, size)
    if hasher is not None and have:
        with part_path.open("rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                hasher.update(chunk)

    if have and on_bytes is not None:
        on_bytes(have)
    request_headers = dict(headers, **{"Accept-Encoding": "identity"})
    if have:
        request_headers["Range"] = f"bytes={have}-"
    received = 0
    timeout = httpx2.Timeout(BLOB_READ_S, connect=CONNECT_S)
    with get_session().stream("GET", url, headers=request_headers, follow_redirects=True, timeout=timeout) as response:
        if not (response.status_code == 416 and have == size):
            hf_raise_for_status(response)
            # A server that ignores Range answers 200 with the whole file: drop the prefix we already have.
            skip = have if response.status_code == 200 else 0
            try:
                with part_path.open("ab") as f:
                    for chunk in response.iter_bytes(CHUNK_SIZE):
                        received += len(chunk)
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                        if chunk:
                            f.write(chunk)
                            if hasher is not None:
                                hasher.update(chunk)
                            have += len(chunk)
                            if on_bytes is not None:
                                on_bytes(have)
                        if cancel is not None and cancel.is_set():
                            raise CancelledError(
                                f"Download cancelled; {have} bytes kept in {part_path.name}, run it again to resume."
                            )
            except OSError as error:
                if error.errno == 28:  # ENOSPC
                    raise InsufficientDiskError(
                        f"The disk filled up while writing {part_path}. Free some space and run the download "
                        "again: it resumes from the bytes already written."
                    ) from error
                raise

    if have < size:
        raise _ShortRead(f"got {have} of {size} bytes")
    if have > size or (hasher is not None and hasher.hexdigest() != etag):
        part_path.unlink()
        raise IntegrityError(
            f"The downloaded file does not match its published checksum {etag}; the bad copy was deleted. "
            "Run the download again."
        )
    return received
