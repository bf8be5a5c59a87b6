"""While the libraries work for Creator Kit, their own progress bars and advisories stay quiet.

Progress reaches the user as Creator Kit events (bars in the terminal, panels in the notebook), so the
loading bars and advisories of transformers, diffusers or datasets would only be noise beside them.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator


@contextlib.contextmanager
def quiet(*libraries: str) -> Iterator[None]:
    """Turn off the progress bars and warnings of `libraries` ("transformers", "diffusers", "datasets") meanwhile."""
    loggers = [importlib.import_module(f"{name}.utils.logging") for name in libraries]
    saved = [(logging.is_progress_bar_enabled(), logging.get_verbosity()) for logging in loggers]
    for logging in loggers:
        logging.disable_progress_bar()
        logging.set_verbosity_error()
    try:
        yield
    finally:
        for logging, (bar, verbosity) in zip(loggers, saved, strict=True):
            logging.set_verbosity(verbosity)
            if bar:
                logging.enable_progress_bar()
