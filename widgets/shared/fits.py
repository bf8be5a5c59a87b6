"""Will it fit: whether models fit this machine's free memory, worked out in a worker thread and offline.

The figures come from the catalog (a model not downloaded) or the installed files, never the network,
so a browser full of cards costs no request; the first answer waits for torch to say which device runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from creator_kit import CreatorKitError, ModelStore


class FitCard(Protocol):
    """A card that shows whether its model fits (the model browser's ModelCard)."""

    repo_id: str
    fit_verdict: str | None

    def show_fit(self, verdict: str, needed: int, available: int) -> None: ...


def assess_in_background(store: ModelStore, cards: list[FitCard], done: Callable[[], object]) -> threading.Thread:
    """Show on each of `cards` whether its model fits, in a worker thread that calls `done` at the end."""
    figures = ModelStore(store.models_dir, offline=True, user_cache=store.user_cache)

    def assess() -> None:
        for card in cards:
            try:
                memory = figures.info(card.repo_id).memory
            except (CreatorKitError, OSError):
                card.fit_verdict = ""  # neither in the catalog nor installed: nothing is known offline
                continue
            card.show_fit(memory.verdict, memory.needed, memory.available)
        done()

    worker = threading.Thread(target=assess, name="creator-kit-fits", daemon=True)
    worker.start()
    return worker
