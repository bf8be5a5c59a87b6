"""The one exception hierarchy of Creator Kit.

Every error says what went wrong and what to do about it. Library exceptions are translated into
these at the boundary; the CLI maps `exit_code` to its exit status and prints the message alone.
"""

from __future__ import annotations

import errno
from pathlib import Path


class CreatorKitError(Exception):
    """Base class of every error Creator Kit raises on purpose."""

    exit_code = 1

    def _render_traceback_(self) -> list[str]:
        """What IPython shows in place of the traceback (in a notebook, and in what papermill prints): the error's
        one line, as the CLI prints it, since its message already says what went wrong and what to do."""
        return [f"{type(self).__name__}: {self}"]


class InvalidInputError(CreatorKitError, ValueError):
    """A parameter, id, file or piece of data the user gave is not acceptable."""

    exit_code = 2


class InvalidRepoIdError(InvalidInputError):
    """A repository id is malformed (bad characters, path traversal, wrong shape)."""


class WrongTaskError(InvalidInputError):
    """A model was given for a task it cannot do (an image model where a text model is needed)."""


class NotFoundError(CreatorKitError):
    """Something asked for does not exist."""

    exit_code = 3


class ModelNotFoundError(NotFoundError):
    """The model (or revision) does not exist on the Hub or in the catalog."""


class ModelNotInstalledError(NotFoundError):
    """The model is not in the local store."""


class OutputExistsError(InvalidInputError):
    """The file or model to write exists already, and replacing it was not asked for (overwrite)."""


class UnwritablePathError(InvalidInputError):
    """A folder to write into is read-only, not a folder, or otherwise cannot take the file."""


class MissingExtraError(CreatorKitError):
    """An optional backend's packages are not installed (the message names the extra to install)."""

    exit_code = 3


class UnsafeModelError(CreatorKitError):
    """Loading the model would run code from its files: refused."""

    exit_code = 4


class UnsafeWeightsError(UnsafeModelError):
    """The model only ships pickle weights, which can run arbitrary code when loaded."""


class RemoteCodeError(UnsafeModelError):
    """The model needs Python code from its repository (``auto_map``, a custom pipeline), which never runs."""


class NetworkError(CreatorKitError):
    """The Hub (or the mirror in HF_ENDPOINT) could not be reached or answered with an error."""

    exit_code = 5


class OfflineError(NetworkError):
    """The operation needs the network but offline mode is on."""


class InsufficientDiskError(CreatorKitError):
    """Not enough free disk space for the operation."""

    exit_code = 6


class IntegrityError(CreatorKitError):
    """Files on disk do not match what the Hub published (corrupt or incomplete)."""

    exit_code = 7


class TrainingDivergedError(CreatorKitError):
    """The training loss became NaN or infinite; the last good checkpoint was kept."""

    exit_code = 8


class CancelledError(CreatorKitError):
    """A long operation was cancelled by the user; work done so far was kept for a resume."""

    exit_code = 130


def from_os_error(error: OSError, path: str | Path | None = None) -> CreatorKitError:
    """The Creator Kit error for an operating-system error while writing `path` (disk full: 6; else: 2)."""
    where = path or error.filename or "the output"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientDiskError(f"The disk is full: could not write {where}. Free some space and try again.")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UnwritablePathError(f"Cannot write {where}: permission denied or read-only. Choose another folder.")
    if error.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
        return UnwritablePathError(f"Cannot write {where}: a file stands where a folder should be, or the reverse.")
    if error.errno == errno.ENAMETOOLONG:
        return InvalidInputError(f"Cannot write {where}: the name is too long for this file system.")
    return UnwritablePathError(f"Cannot write {where}: {error.strerror or error}.")
