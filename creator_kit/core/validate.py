"""The shared rules for what users give: ids and names, seeds, whole numbers and ranges, keywords.

Each rule lives here once; the engines, the panels and the CLI call it, so a rule reads the same
wherever it is broken:

    validate.whole_number("steps", 0, 1, 200)   # InvalidInputError: steps must be a whole number from 1 to 200, not 0.
    validate.seed(None)                         # None stays None: the engine draws one with `random_seed()`
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from creator_kit.core.errors import InvalidInputError, InvalidRepoIdError

#: The longest prompt, idea or scene text accepted (far past what any model here reads: 4096 tokens).
MAX_PROMPT_CHARS = 20_000

#: Engines seed image i of a batch and scene i of a video with ``seed + i``: the largest seed leaves room for them.
SEED_OFFSETS = 64
MAX_SEED = 2**32 - 1 - SEED_OFFSETS

_NAME_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"^(?:{_NAME_PART}/)?{_NAME_PART}$")
_NAME = re.compile(rf"^{_NAME_PART}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")


#: The namespace of the models made on this machine (``local/<name>``): fine-tunes, starters, variants.
LOCAL_NAMESPACE = "local"


def repo_id(value: Any) -> str:
    """`value` if it is a well-formed Hub id (``name`` or ``namespace/name``), else InvalidRepoIdError."""
    if not isinstance(value, str) or not _REPO_ID.fullmatch(value) or ".." in value or "--" in value:
        raise InvalidRepoIdError(
            f"{value!r} is not a valid model id. Use the Hub form 'namespace/name' "
            "(letters, digits, '-', '_', '.'), for example 'distilbert/distilgpt2'."
        )
    return value


def model_name(value: Any) -> str:
    """`value` (``name`` or ``local/name``) if it can name a model made here: one safe folder name, else
    InvalidInputError. It becomes ``local/<name>`` in the store and ``outputs/runs/<name>`` for training."""
    name = value.removeprefix("local/") if isinstance(value, str) else value
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name or "--" in name:
        raise InvalidInputError(
            f"{value!r} cannot name a model: use up to 96 letters, digits, '-', '_' and '.', starting and ending "
            "with a letter or digit (no folders), for example 'my-stories'."
        )
    return name


def prompt(value: Any, name: str = "prompt", *, allow_empty: bool = False) -> str:
    """`value` if it is text of at most MAX_PROMPT_CHARS characters (non-empty unless `allow_empty`)."""
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise InvalidInputError(f"The {name} must be non-empty text, not {value!r}."[:200])
    if len(value) > MAX_PROMPT_CHARS:
        raise InvalidInputError(f"The {name} has {len(value):,} characters; at most {MAX_PROMPT_CHARS:,} are accepted.")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, which JSON's \ud800 escapes can carry
            raise InvalidInputError(f"The {name} is not valid text (character {exc.start}).") from exc
    return value


def revision(value: Any) -> str:
    """`value` if it is a safe branch, tag or commit name, else InvalidInputError."""
    if not isinstance(value, str) or not _REVISION.fullmatch(value) or ".." in value:
        raise InvalidInputError(f"{value!r} is not a valid revision: use a branch, tag or commit hash.")
    return value


def relative_file(path: str) -> str:
    """`path` if it is a plain relative file path (no ``..``, no absolute part), else InvalidInputError."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or "\\" in path or any(p in ("..", ".", "") for p in parts):
        raise InvalidInputError(f"The repository lists an unsafe file name {path!r}; refusing to write it.")
    return path


def whole_number(
    name: str, value: Any, low: int, high: int | None = None, *, optional: bool = False, hint: str = ""
) -> int | None:
    """`value` if it is a whole number from `low` to `high` (no upper bound when None), else InvalidInputError.

    `optional` lets None through; `hint` is added to the message (what the limit means, another way).
    """
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f">= {low}"
        raise InvalidInputError(
            f"{name} must be a whole number {allowed}{' or None' if optional else ''}{hint}, not {value!r}."
        )
    return value


def number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    above: bool = False,
    optional: bool = False,
    hint: str = "",
) -> float | None:
    """`value` if it is a finite number within [`low`, `high`] (`above`: strictly more than `low`), else
    InvalidInputError. Booleans, NaN and infinities are refused."""
    if optional and value is None:
        return None
    is_number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    too_low = low is not None and (value <= low if above else value < low) if is_number else False
    too_high = high is not None and value > high if is_number else False
    if not is_number or too_low or too_high:
        if low is not None and high is not None:
            allowed = f"a number {'>' if above else 'from'} {low:g}{' and <=' if above else ' to'} {high:g}"
        elif low is not None:
            allowed = f"a number {'>' if above else '>='} {low:g}"
        else:
            allowed = f"a number <= {high:g}" if high is not None else "a finite number"
        raise InvalidInputError(f"{name} must be {allowed}{hint}, not {value!r}.")
    return value


def seed(value: Any, name: str = "seed") -> int | None:
    """`value` if it is None (draw one) or a whole number from 0 to MAX_SEED, else InvalidInputError."""
    return whole_number(name, value, 0, MAX_SEED, optional=True)


def random_seed() -> int:
    """A fresh seed in the range every engine accepts."""
    return random.randint(0, MAX_SEED)


def known_keywords(given: Iterable[str], known: Iterable[str], what: str) -> None:
    """InvalidInputError naming the keywords of `given` that are not `known` (`what`: "image parameter")."""
    known = list(known)
    unknown = sorted({str(name) for name in given} - set(known))  # YAML keys may be numbers
    if unknown:
        shown = [name[:40] if name.isprintable() else repr(name[:40]) for name in unknown[:5]]  # one line, short
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise InvalidInputError(f"Unknown {what}(s) {', '.join(shown)}{more}; known: {', '.join(known)}.")


def choice(name: str, value: Any, options: Iterable[Any]) -> Any:
    """`value` if it is one of `options`, else InvalidInputError listing them."""
    options = list(options)
    if value not in options:
        raise InvalidInputError(f"{name} must be one of {', '.join(map(str, options))}, not {value!r}.")
    return value
