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

from creator_kit.core import files, readers
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
    kept = readers.read_bytes(path, what="vote file") if path.is_file() else b""  # kept as it is, damaged lines too
    if kept and not kept.endswith(b"\n"):
        kept += b"\n"
    with files.atomic_path(path) as partial:  # never a torn line
        partial.write_bytes(kept + json.dumps(record, sort_keys=True).encode("utf-8") + b"\n")
    return result.models


def read_votes(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Every vote kept, checked (`core.readers`): lines that are not a vote (not UTF-8, not JSON, fields of the
    wrong kind) are skipped."""
    path = Path(path) if path is not None else votes_path()
    if not path.is_file():
        return []
    votes = []
    for line in readers.read_bytes(path, what="vote file").splitlines():
        try:
            entry = readers.parse_json(line, what="vote", source=path)
        except InvalidInputError:
            continue
        if _is_vote(entry):
            votes.append(entry)
    return votes


def _is_vote(entry: Any) -> bool:
    """Whether `entry` is a vote: two different model ids as text and a winner among CHOICES."""
    if not isinstance(entry, dict) or entry.get("winner") not in CHOICES:
        return False
    a, b = entry.get("a"), entry.get("b")
    return isinstance(a, str) and isinstance(b, str) and a != b


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
    tally = {model: [0, 0, 0] for model in models}  # votes, wins, ties: one pass over the votes
    for entry in votes:
        for side in ("a", "b"):
            counts = tally[entry[side]]
            counts[0] += 1
            counts[1] += entry["winner"] == side
            counts[2] += entry["winner"] == "tie"
    standings = []
    for model, (seen, won, tied) in tally.items():
        rating = CENTRE + SCALE * math.log10(strength[model])
        standings.append(Standing(model, round(rating, 1), seen, won, tied, seen - won - tied))
    return sorted(standings, key=lambda s: (-s.rating, s.model))


def _fit(models: list[str], wins: dict[str, float], games: dict[tuple[str, str], int]) -> dict[str, float]:
    """Bradley-Terry strengths by Hunter's MM iterations, scaled to a geometric mean of 1.

    A small prior (one tie against an average opponent) keeps a model that never won, or never lost, finite.
    """
    opponents: dict[str, list[tuple[str, int]]] = {model: [] for model in models}  # each model's games, once
    for (a, b), n in games.items():
        opponents[a].append((b, n))
        opponents[b].append((a, n))
    strength = dict.fromkeys(models, 1.0)
    for _ in range(ITERATIONS):
        updated = {}
        for model in models:
            denominator = 1.0 / (strength[model] + 1.0)  # the prior's game against strength 1
            for other, n in opponents[model]:
                denominator += n / (strength[model] + strength[other])
            updated[model] = (wins[model] + 0.5) / denominator
        mean = math.exp(sum(math.log(v) for v in updated.values()) / len(updated)) if updated else 1.0
        updated = {model: value / mean for model, value in updated.items()}
        converged = all(abs(updated[m] - strength[m]) < TOLERANCE for m in models)
        strength = updated
        if converged:
            break
    return strength
