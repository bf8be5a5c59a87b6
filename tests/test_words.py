"""Messages build articles and counts with `with_article` and `counted`: no "a autoencoder", no "1 scenes"."""

from __future__ import annotations

import pytest

from creator_kit import counted, with_article


@pytest.mark.parametrize(
    ("phrase", "said"),
    [
        ("autoencoder", "an autoencoder"),
        ("image", "an image"),
        ("text-to-image", "a text-to-image"),
        ("unet", "a unet"),
        ("upscaler", "an upscaler"),
        ("hour", "an hour"),
        ("video", "a video"),
    ],
)
def test_the_article_is_the_one_said(phrase, said):
    assert with_article(phrase) == said


def test_a_count_names_one_thing_in_the_singular():
    assert [counted(n, "scene") for n in (0, 1, 2)] == ["0 scenes", "1 scene", "2 scenes"]
    assert counted(2, "person", "people") == "2 people"
