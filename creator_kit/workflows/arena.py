"""A blind arena: two anonymous outputs of the same prompt, a vote, and a leaderboard from every vote kept.

    match = arena.match("Once upon a time", models=["distilbert/distilgpt2", "gpt2", "local/stories"])
    match.outputs          # (output A, output B): which model made which is hidden
    arena.vote(match, "a") # "a", "b" or "tie": appended to outputs/arena.jsonl; the names are revealed
    arena.leaderboard()    # Bradley-Terry strengths on an Elo-like scale, with the number of votes

The leaderboard is fitted to all the stored votes (Hunter's MM algorithm for the Bradley-Terry model, a tie
counting half a win to each side), so it follows from the file alone and is the same however often it is read.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from creator_kit.core import files
from creator_kit.core.config import get_settings
from creator_kit.core.errors import InvalidInputError
from creator_kit.workflows import compare

VOTES_FILE = "arena.jsonl"
CHOICES = ("a", "b", "tie")
#: The leaderboard's scale: 400 points of rating is a strength ratio of 10 (as in Elo), the average at 1000.
SCALE, CENTRE = 400.0, 1000.0
ITERATIONS, TOLERANCE = 500, 1e-9


@dataclass(frozen=True)
class Match:
    """Two models' outputs of one prompt, shown as A and B; `models` stays hidden until the vote."""

    prompt: str
    outputs: tuple[str, str]
    models: tuple[str, str]
    seed: int


@dataclass(frozen=True)
class Standing:
    """A model's place on the leaderboard: its rating, and the votes it took part in (wins, ties, losses)."""

    model: str
    rating: float
    votes: int
    wins: int
    ties: int
    losses: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def votes_path() -> Path:
    return get_settings().outputs_dir / VOTES_FILE


def match(prompt: str, *, models: Sequence[str], seed: int | None = None, **params: Any) -> Match:
    """Two of `models` (chosen at random, in random order) on `prompt` with the same seed: an anonymous match."""
    pair = random.sample(list(dict.fromkeys(models)), 2) if len(set(models)) >= 2 else list(models)  # 1: refused
    comparison = compare.run(prompt, models=pair, seed=seed, **params)
    a, b = comparison.items
    return Match(prompt, (a.output, b.output), (a.model, b.model), comparison.seed)


def vote(result: Match, choice: str) -> tuple[str, str]:
    """Keep the vote for `result` ("a", "b" or "tie") in outputs/arena.jsonl; returns the models, revealed."""
    if choice not in CHOICES:
        raise InvalidInputError(f"A vote is one of {', '.join(CHOICES)}, not {choice!r}.")
    record = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "prompt": result.prompt,
        "a": result.models[0],
        "b": result.models[1],
        "winner": choice,
        "seed": result.seed,
    }
    path = votes_path()
    kept = path.read_text(encoding="utf-8") if path.is_file() else ""
    files.write_text(path, kept + json.dumps(record, sort_keys=True) + "\n")  # atomic: never a torn line
    return result.models


def read_votes(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Every vote kept (lines that are not a vote are skipped)."""
    path = Path(path) if path is not None else votes_path()
    if not path.is_file():
        return []
    votes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("winner") in CHOICES and {"a", "b"} <= entry.keys():
            votes.append(entry)
    return votes


def leaderboard(votes: Sequence[dict[str, Any]] | None = None) -> list[Standing]:
    """The Bradley-Terry fit of `votes` (default: every vote kept), best first."""
    votes = read_votes() if votes is None else list(votes)
    models = sorted({entry[side] for entry in votes for side in ("a", "b")})
    wins = dict.fromkeys(models, 0.0)  # ties count half to each side
    games: dict[tuple[str, str], int] = {}
    for entry in votes:
        a, b, winner = entry["a"], entry["b"], entry["winner"]
        wins[a] += {"a": 1.0, "b": 0.0, "tie": 0.5}[winner]
        wins[b] += {"a": 0.0, "b": 1.0, "tie": 0.5}[winner]
        games[tuple(sorted((a, b)))] = games.get(tuple(sorted((a, b))), 0) + 1
    strength = _fit(models, wins, games)
    standings = []
    for model in models:
        mine = [e for e in votes if model in (e["a"], e["b"])]
        won = sum(e["winner"] == ("a" if e["a"] == model else "b") for e in mine)
        tied = sum(e["winner"] == "tie" for e in mine)
        rating = CENTRE + SCALE * math.log10(strength[model])
        standings.append(Standing(model, round(rating, 1), len(mine), won, tied, len(mine) - won - tied))
    return sorted(standings, key=lambda s: (-s.rating, s.model))


def _fit(models: list[str], wins: dict[str, float], games: dict[tuple[str, str], int]) -> dict[str, float]:
    """Bradley-Terry strengths by Hunter's MM iterations, scaled to a geometric mean of 1.

    A small prior (one tie against an average opponent) keeps a model that never won, or never lost, finite.
    """
    strength = dict.fromkeys(models, 1.0)
    for _ in range(ITERATIONS):
        updated = {}
        for model in models:
            pairs = [(pair, n) for pair, n in games.items() if model in pair]
            denominator = 1.0 / (strength[model] + 1.0)  # the prior's game against strength 1
            for pair, n in pairs:
                other = pair[0] if pair[1] == model else pair[1]
                denominator += n / (strength[model] + strength[other])
            updated[model] = (wins[model] + 0.5) / denominator
        mean = math.exp(sum(math.log(v) for v in updated.values()) / len(updated)) if updated else 1.0
        updated = {model: value / mean for model, value in updated.items()}
        converged = all(abs(updated[m] - strength[m]) < TOLERANCE for m in models)
        strength = updated
        if converged:
            break
    return strength
