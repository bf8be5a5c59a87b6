"""The transformers glue of the text engine: a stopping criterion that cancels cleanly after the current token,
and streamers that count the generated tokens (reporting them as Progress events, or feeding a `TextStream`)."""

from __future__ import annotations

import threading
import time
from typing import Any

import torch
from transformers import StoppingCriteria, TextIteratorStreamer
from transformers.generation.streamers import BaseStreamer

from creator_kit.core.events import EventCallback, Progress, emit


class CancelCriteria(StoppingCriteria):
    """Ends generation once either event is set: a clean stop after the current token."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        stop = any(event.is_set() for event in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class TokenCounter(BaseStreamer):
    """Counts generated tokens, notes when the first came, and reports them as Progress events."""

    def __init__(self, total: int, on_event: EventCallback | None) -> None:
        self.total = total
        self.on_event = on_event
        self.tokens = 0
        self.first_token_at: float | None = None
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.tokens += 1
        self.first_token_at = self.first_token_at or time.perf_counter()
        emit(self.on_event, Progress("generate", self.tokens, self.total, unit="token"))

    def end(self) -> None:
        """Nothing to flush."""


class CountingStreamer(TextIteratorStreamer):
    """TextIteratorStreamer that also counts the generated tokens and notes when the first came."""

    tokens = 0
    first_token_at: float | None = None

    def put(self, value: torch.Tensor) -> None:
        is_prompt = self.skip_prompt and self.next_tokens_are_prompt
        super().put(value)
        if not is_prompt:
            self.tokens += 1
            self.first_token_at = self.first_token_at or time.perf_counter()
