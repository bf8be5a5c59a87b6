"""Text fitted to a space: wrapped at word boundaries, and shortened with "…" at a word boundary when it must be.

The space is given as a limit in characters or as a test `fits(text) -> bool`, so the same rules serve a
label in a table (characters) and lettering on a picture (pixels, measured with the font):

    shorten("A red fox asleep in the snow", 16)     # 'A red fox…'
    wrap("A red fox asleep in the snow", 12)        # ['A red fox', 'asleep in', 'the snow']

Besides spaces, a line may break after "/", "=", "_" or "-", so model ids (``local/starter-image-copy``) and
axis values (``guidance=7.5``) wrap too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

ELLIPSIS = "…"
Fits = Callable[[str], bool]

_PIECE = re.compile(r"[^\s/=_-]*[/=_-]+|[^\s/=_-]+")  # a word, or part of one up to a "/", "=", "_" or "-"


def shorten(text: str, fits: int | Fits) -> str:
    """`text` (whitespace runs made single spaces) if it fits, else its longest start that fits with "…" after,
    cut at a word boundary (inside the first word only when that word alone does not fit); "" if not even "…"
    fits."""
    text, fits = " ".join(text.split()), _test(fits)
    return text if fits(text) else _ellipsized(text, fits)


def wrap(text: str, fits: int | Fits, max_lines: int | None = None) -> list[str]:
    """`text` in lines that each fit, broken at word boundaries (a line break in `text` stays one); at most
    `max_lines` lines, the last ending in "…" when more text did not fit. A word too long for a line alone is
    shortened too. `fits_whole(text, lines)` says whether nothing was left out."""
    fits, lines, more = _test(fits), [], False
    for paragraph in text.splitlines() or [""]:
        line = ""
        for piece, spaced in _pieces(paragraph):
            candidate = f"{line} {piece}" if line and spaced else line + piece
            if not line or fits(candidate):
                line = candidate
                continue
            lines.append(line)
            line = piece
            if max_lines is not None and len(lines) >= max_lines:
                break  # the rest cannot be shown: stop measuring it
        lines.append(line)
        if max_lines is not None and len(lines) > max_lines:
            more, lines = True, lines[:max_lines]
            break
    if more and lines:
        lines[-1] = _ellipsized(lines[-1], fits)
    return [shorten(line, fits) for line in lines]


def fits_whole(text: str, lines: list[str]) -> bool:
    """Whether `lines` (from `wrap` or `shorten`) hold all of `text`, nothing shortened."""
    return "".join("".join(lines).split()) == "".join(text.split())


def _test(fits: int | Fits) -> Fits:
    if isinstance(fits, int):
        return lambda text, limit=fits: len(text) <= limit
    return fits


def _pieces(text: str) -> Iterator[tuple[str, bool]]:
    """The pieces a line may break between, each with whether a space comes before it (made as they are read, so
    a wrap that stops early reads no further)."""
    for match in _PIECE.finditer(text):
        yield match.group(), match.start() > 0 and text[match.start() - 1].isspace()


def _ellipsized(text: str, fits: Fits) -> str:
    """The longest start of `text` that fits with "…" after, cut at a word boundary when one fits, else inside
    the first word; "" if not even "…" fits."""
    pieces = list(_pieces(text))
    count = _longest(len(pieces), lambda n: fits(_cut(pieces, n)))
    if count:
        return _cut(pieces, count)
    first = pieces[0][0] if pieces else ""
    length = _longest(len(first) - 1, lambda n: fits(first[:n] + ELLIPSIS))
    return first[:length] + ELLIPSIS if length or fits(ELLIPSIS) else ""


def _cut(pieces: list[tuple[str, bool]], count: int) -> str:
    """The first `count` pieces as text, trailing punctuation dropped, with "…" after."""
    text = "".join((" " if spaced and i else "") + piece for i, (piece, spaced) in enumerate(pieces[:count]))
    return text.rstrip(" ,;:.-/=_") + ELLIPSIS


def _longest(high: int, fits: Callable[[int], bool]) -> int:
    """The largest n in 1..`high` with `fits(n)` (which holds for every smaller n when it holds), else 0."""
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low
