"""Contact sheets: pictures in a grid, each under its label in a caption band sized to the labels' text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from creator_kit.core.errors import InvalidInputError
from creator_kit.engines import lettering

if TYPE_CHECKING:
    from PIL import Image

LABEL_LINES = 3  # a label longer than this at the smallest size ends in "…"
MIN_CELL_PX = 128  # smaller pictures sit centred in cells this wide, so that their labels stay readable


def contact_sheet(images: list[Image.Image], labels: list[str], columns: int) -> Image.Image:
    """`images` in a grid of `columns` (as many rows as needed), each with its label in the band above it; a
    picture narrower than `MIN_CELL_PX` sits centred in a cell that wide.

    The labels share one font size, the largest (up to 24 px, a twelfth of a cell's width) at which each wraps
    at word boundaries into at most three lines of its cell's width; the band is as tall as the tallest label.
    Labels never reach into the pictures or a neighbour's cell; at the smallest size a longer one ends in "…".
    """
    from PIL import Image, ImageDraw

    if not images or len(labels) != len(images) or columns < 1:
        raise InvalidInputError(
            f"A contact sheet needs pictures, one label each and at least one column: got {len(images)} pictures, "
            f"{len(labels)} labels, {columns} columns."
        )
    cell_w, cell_h = max(MIN_CELL_PX, *(im.width for im in images)), max(im.height for im in images)
    pad = max(2, cell_w // 48)
    size = max(lettering.MIN_FONT_PX, min(24, cell_w // 12))
    letterings = lettering.fit(labels, cell_w - 2 * pad, largest=size, max_lines=LABEL_LINES)
    band = max(item.height for item in letterings) + 2 * pad
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * cell_w, rows * (band + cell_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (im, label) in enumerate(zip(images, letterings, strict=True)):
        x, y = (index % columns) * cell_w, (index // columns) * (band + cell_h)
        label.draw(draw, (x + pad, y + pad, x + cell_w - pad, y + band - pad))
        sheet.paste(im, (x + (cell_w - im.width) // 2, y + band))
    return sheet
