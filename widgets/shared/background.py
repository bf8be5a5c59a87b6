"""A panel's long run in a worker thread: whether it runs, waiting for it, and its result or its error.

Panels start engine calls off the kernel's main thread so the notebook stays live. A notebook cell
(or papermill, or a test) that drives a panel waits for the run with `wait`, or with `finish`, which
also raises the run's error the way the engine call itself would have. The panel's state is in traits
(`message`, `error`, `working`, and what each panel adds) that the engine's callbacks set and the
panel's views observe.
"""

from __future__ import annotations

import threading
from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Bool, HasTraits, Unicode


class BackgroundRun(HasTraits):
    """Mixin for a panel whose runs go to `_worker`; it records a failed run's error in `error`."""

    message = Unicode("", help="the status line: what the panel is doing, or how its last run went")
    error = AnyTrait(None, allow_none=True, help="why the last run failed (the exception), None when it did not")
    working = Bool(False, help="a run is under way: the panel shows it, its Start buttons wait")

    _worker: threading.Thread | None = None

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
