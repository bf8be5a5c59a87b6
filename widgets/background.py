"""A panel's long run in a worker thread: whether it runs, waiting for it, and its result or its error.

Panels start engine calls off the kernel's main thread so the notebook stays live. A notebook cell
(or papermill, or a test) that drives a panel waits for the run with `wait`, or with `finish`, which
also raises the run's error the way the engine call itself would have.
"""

from __future__ import annotations

import threading
from typing import Any


class BackgroundRun:
    """Mixin for a panel whose runs go to `_worker`; it records a failed run's error in `error`."""

    _worker: threading.Thread | None = None
    error: Exception | None = None

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends (for scripts, papermill and tests); returns its result, None if it failed."""
        if self._worker is not None:
            self._worker.join(timeout)
        return self.latest_result()

    def finish(self, timeout: float | None = None) -> Any:
        """Block until the run ends; return its result, or raise its error if it failed."""
        result = self.wait(timeout)
        if self.error is not None:
            raise self.error
        return result

    def latest_result(self) -> Any:
        """The newest finished run's result (each panel says where it keeps it)."""
        raise NotImplementedError
