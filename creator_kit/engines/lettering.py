"""Text drawn on pictures, fitted to its space: video captions and contact-sheet labels (DejaVu Sans).

`fit` finds the largest font size, between a largest and a readable smallest, at which every text wraps at
word boundaries into the lines allowed; at the smallest size the text that does not fit ends in "…". A
`Lettering` then draws its lines centred in a box, never outside it:

    (caption,) = fit(["A lighthouse at dawn"], width=88, largest=24, max_height=20, outline=True)
    caption.draw(ImageDraw.Draw(picture), (4, 26, 92, 46))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from creator_kit.core.text_fit import fits_whole, wrap

if TYPE_CHECKING:
    from PIL import ImageDraw, ImageFont

MIN_FONT_PX = 9  # the smallest text drawn on a picture: still readable


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (shipped with matplotlib) at `size` pixels."""
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


@dataclass(frozen=True)
class Lettering:
    """Lines of text at one font size, with an outline `stroke` pixels wide (0: none)."""

    lines: tuple[str, ...]
    size: int
    stroke: int = 0

    @property
    def line_height(self) -> int:
        ascent, descent = font(self.size).getmetrics()
        return ascent + descent + 2 * self.stroke

    @property
    def height(self) -> int:
        return len(self.lines) * self.line_height

    def line_width(self, line: str) -> int:
        """The width of `line`'s ink, outline included."""
        left, _, right, _ = font(self.size).getbbox(line, stroke_width=self.stroke, anchor="la")
        return right - left if line else 0

    def placed(self, box: tuple[int, int, int, int]) -> list[tuple[tuple[int, int], str]]:
        """Where each line goes (its anchor, "la": left, ascender) to sit centred across `box` (left, top,
        right, bottom), the block at its bottom."""
        left, _, right, bottom = box
        top, spots = bottom - self.height, []
        for index, line in enumerate(self.lines):
            x = left + (right - left - self.line_width(line)) // 2 - self._ink_left(line)
            spots.append(((x, top + index * self.line_height + self.stroke), line))
        return spots

    def draw(
        self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], fill: str = "black", outline: str = "black"
    ) -> None:
        """Draw the lines centred across `box` (left, top, right, bottom), the block at its bottom."""
        for xy, line in self.placed(box):
            draw.text(
                xy, line, font=font(self.size), fill=fill, anchor="la", stroke_width=self.stroke, stroke_fill=outline
            )

    def _ink_left(self, line: str) -> int:
        return font(self.size).getbbox(line, stroke_width=self.stroke, anchor="la")[0]


def fit(
    texts: Sequence[str],
    width: int,
    *,
    largest: int,
    smallest: int = MIN_FONT_PX,
    max_lines: int | None = None,
    max_height: int | None = None,
    outline: bool = False,
) -> list[Lettering]:
    """One Lettering per text, all at the largest size from `largest` down to `smallest` at which every text
    fits whole in lines `width` pixels wide: at most `max_lines` lines and `max_height` pixels. When none does,
    the smallest size, each text shortened with "…" (no lines at all where not even one fits `max_height`).
    `outline` gives the letters an outline a tenth of their size (for text over a picture)."""
    largest = max(largest, smallest)
    for size in range(largest, smallest - 1, -1):
        letterings = _at_size(texts, width, size, max_lines, max_height, outline)
        if all(fits_whole(text, list(lettering.lines)) for text, lettering in zip(texts, letterings, strict=True)):
            return letterings
    return letterings


def _at_size(
    texts: Sequence[str], width: int, size: int, max_lines: int | None, max_height: int | None, outline: bool
) -> list[Lettering]:
    """Each text wrapped at `size` into the lines that fit `width`, `max_lines` and `max_height`."""
    stroke = max(1, round(size / 10)) if outline else 0
    measure = Lettering((), size, stroke)
    allowed = max_lines
    if max_height is not None:
        by_height = max_height // measure.line_height
        allowed = by_height if allowed is None else min(allowed, by_height)

    def fits(line: str) -> bool:  # no glyph is under a pixel wide: longer lines are not measured
        return len(line) <= width and measure.line_width(line) <= width

    return [Lettering(() if allowed == 0 else tuple(wrap(text, fits, allowed)), size, stroke) for text in texts]
