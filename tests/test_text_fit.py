"""Text fitted to its space: wrapped at word boundaries, shrunk, then shortened with "…"; on pictures, never cut.

Captions and contact-sheet labels are rendered for real at small sizes with long labels, and the pictures are
inspected pixel by pixel: no text touches or crosses a picture's edge or a neighbour's cell, and every output
keeps its size.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from creator_kit.core.text_fit import ELLIPSIS, fits_whole, shorten, wrap
from creator_kit.engines import frames, lettering
from creator_kit.engines.image import contact_sheet
from creator_kit.engines.sheets import MIN_CELL_PX

LONG = "A lighthouse at dawn over a stormy sea, gulls circling the lamp while the keeper climbs the stairs"
GREY = 100


def test_shorten_cuts_at_a_word_boundary_and_says_so():
    assert shorten("A red fox asleep in the snow", 16) == "A red fox…"
    assert shorten("A red   fox", 40) == "A red fox"  # fits: only the spaces tidied
    assert shorten("Supercalifragilistic", 8) == "Superca…"  # one word longer than the space: cut inside it
    assert shorten("Once upon a time, there", 17) == "Once upon a time…"  # no dangling comma before "…"
    assert shorten("anything", 0) == "" and shorten("anything", 1) == ELLIPSIS


def test_wrap_breaks_between_words_and_after_slashes_and_equals():
    assert wrap("A red fox asleep in the snow", 12) == ["A red fox", "asleep in", "the snow"]
    assert wrap("local/starter-image-copy", 10) == ["local/", "starter-", "image-copy"]
    assert wrap("seed=1 guidance=7.5", 10) == ["seed=1", "guidance=", "7.5"]
    lines = wrap("A red fox asleep in the snow", 12, max_lines=2)
    assert lines == ["A red fox", "asleep in…"] and not fits_whole("A red fox asleep in the snow", lines)
    assert wrap("one\ntwo three", 20) == ["one", "two three"]
    assert all(len(line) <= 8 for line in wrap("Supercalifragilistic word", 8))


def test_fit_shrinks_before_it_shortens():
    (whole,) = lettering.fit([LONG], 200, largest=24, max_lines=3)
    assert fits_whole(LONG, list(whole.lines)) and lettering.MIN_FONT_PX <= whole.size < 24
    assert len(whole.lines) <= 3 and all(whole.line_width(line) <= 200 for line in whole.lines)
    (short,) = lettering.fit([LONG * 5], 200, largest=24, max_lines=3)
    assert short.size == lettering.MIN_FONT_PX and short.lines[-1].endswith(ELLIPSIS)
    (roomy,) = lettering.fit(["fox"], 200, largest=24)
    assert roomy.size == 24 and roomy.lines == ("fox",)


def ink(picture: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Where `picture` differs from `background`: a boolean mask (height, width)."""
    return (picture.astype(int) != background.astype(int)).any(axis=-1)


@pytest.mark.parametrize("size", [(64, 64), (96, 48), (48, 96), (320, 180)])
@pytest.mark.parametrize("caption", ["Dawn", LONG, "Supercalifragilisticexpialidocious", "Éclair jumps égg"])
def test_a_storyboard_caption_stays_inside_its_frame(size, caption):
    width, height = size
    blank = np.full((height, width, 3), GREY, np.uint8)
    (frame,) = frames.with_captions([blank], [caption], frames.timeline([1.0], 1, 0.0))
    assert frame.shape == blank.shape  # the frame keeps its width x height
    drawn = ink(frame, blank)
    assert drawn.any(), "the caption is drawn"
    edge = np.ones_like(drawn)
    edge[1:-1, 1:-1] = False
    assert not (drawn & edge).any(), f"a caption touches the edge of a {width}x{height} frame"
    assert not drawn[: height // 2].any(), "the caption stays in the frame's lower part"


def test_a_caption_is_placed_by_the_font_inside_its_box():
    (caption,) = lettering.fit([LONG], 88, largest=24, max_height=20, outline=True)
    layer = Image.new("RGB", (96, 48))
    box = (4, 24, 92, 44)
    for xy, line in caption.placed(box):
        left, top, right, bottom = ImageDraw.Draw(layer).textbbox(
            xy, line, font=lettering.font(caption.size), anchor="la", stroke_width=caption.stroke
        )
        assert box[0] <= left and right <= box[2] and box[1] <= top and bottom <= box[3], (line, xy)


def test_a_caption_with_no_room_draws_nothing_rather_than_spill():
    blank = np.full((12, 12, 3), GREY, np.uint8)
    (frame,) = frames.with_captions([blank], [LONG], frames.timeline([1.0], 1, 0.0))
    assert np.array_equal(frame, blank)


COLOURS = ["red", "green", "blue", "gray", "purple", "orange"]


@pytest.mark.parametrize("cell", [(64, 64), (96, 48), (512, 512)])
def test_contact_sheet_labels_sit_in_a_band_inside_their_own_cells(cell):
    """A picture narrower than MIN_CELL_PX sits centred in a cell that wide: its label has room to be read."""
    picture_width, height = cell
    width = max(picture_width, MIN_CELL_PX)
    pictures = [Image.new("RGB", cell, colour) for colour in COLOURS]
    labels = ["local/starter-image-copy", LONG, "image", "seed=1 guidance=7.5", LONG * 3, "Éclair égg"]
    sheet = contact_sheet(pictures, labels, columns=3)
    band = sheet.height // 2 - height
    assert sheet.size == (3 * width, 2 * (band + height)) and band > 0
    pixels = np.asarray(sheet)
    for index, picture in enumerate(pictures):
        x, y = (index % 3) * width, (index // 3) * (band + height)
        left = x + (width - picture_width) // 2
        assert sheet.crop((left, y + band, left + picture_width, y + band + height)).tobytes() == picture.tobytes()
        label = ~(pixels[y : y + band, x : x + width] == 255).all(axis=-1)
        assert label.any(), f"label {index} is drawn"
        columns, rows = np.flatnonzero(label.any(axis=0)), np.flatnonzero(label.any(axis=1))
        assert columns[0] > 0 and columns[-1] < width - 1, f"label {index} reaches its neighbour's cell"
        assert rows[0] > 0 and rows[-1] < band - 1, f"label {index} touches the picture or the row above"


def test_contact_sheet_labels_that_fit_are_whole_and_long_ones_end_in_an_ellipsis():
    labels = ["seed=1 guidance=7.5", LONG * 3]
    (fitted_short, fitted_long) = lettering.fit(labels, 96 - 4, largest=10, max_lines=3)
    assert fits_whole(labels[0], list(fitted_short.lines))
    assert fitted_long.lines[-1].endswith(ELLIPSIS) and len(fitted_long.lines) == 3


def test_contact_sheet_refuses_mismatched_labels():
    from creator_kit import InvalidInputError

    with pytest.raises(InvalidInputError, match="one label each"):
        contact_sheet([Image.new("RGB", (8, 8))], ["a", "b"], columns=1)
