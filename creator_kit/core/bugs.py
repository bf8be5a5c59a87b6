"""Errors Creator Kit did not expect, which are bugs: the traceback goes to a log file, the user gets one line.

Every error Creator Kit raises on purpose is a `CreatorKitError` that says what to do. Anything else that
reaches a boundary (the CLI's `main`, a panel's run) is recorded by `report_bug`:

    report_bug(error, "'models list'", command="creator-kit models list")
    # "Internal error in 'models list': RuntimeError: boom. This is a bug in Creator Kit; the traceback is in
    #  /.../outputs/logs/20250101-120000-1a2b3c.log"
"""

from __future__ import annotations

import importlib.metadata
import platform
import secrets
import shlex
import sys
import time
import traceback
from pathlib import Path

from creator_kit.core.config import get_settings
from creator_kit.core.errors import CreatorKitError
from creator_kit.core.files import write_text

#: The folder, in the outputs folder, that holds the bug logs.
LOGS = "logs"


def report_bug(error: BaseException, what: str, *, command: str | None = None) -> str:
    """Write `error`'s traceback to a new log in the outputs folder's logs/, and return the one line to show:
    what failed (`what`, and the error), that it is a bug, and the log's path (or why no log could be written).
    `command` is the command line recorded in the log (default: this process's)."""
    message = str(error).strip().splitlines()
    summary = f"Internal error in {what}: {type(error).__name__}" + (f": {message[0]}" if message else "")
    try:
        path = _write_log(error, what, command or shlex.join(sys.argv))
    except CreatorKitError as failure:
        reason = str(failure).splitlines()[0]
        return f"{summary}. This is a bug in Creator Kit; its traceback could not be saved either: {reason}"
    return f"{summary}. This is a bug in Creator Kit; the traceback is in {path}"


def _write_log(error: BaseException, what: str, command: str) -> Path:
    """Write `error`'s traceback, with the command, Creator Kit's version and the platform, to a new log file in
    the outputs folder's logs/ (atomically); returns its path. A CreatorKitError when it cannot be written."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = get_settings().outputs_dir / LOGS / f"{stamp}-{secrets.token_hex(3)}.log"
    header = [
        f"Internal error in {what}: a bug in Creator Kit.",
        f"command: {command}",
        f"Creator Kit: {_version()}",
        f"Python: {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}",
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
    ]
    return write_text(path, "\n".join(header) + "\n\n" + "".join(traceback.format_exception(error)))


def _version() -> str:
    try:
        return importlib.metadata.version("creator-kit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"
