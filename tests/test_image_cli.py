"""`creator-kit generate image` and `creator-kit reproduce`, as a user runs them."""

from __future__ import annotations

import json

from conftest import TINY_SD
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from test_cli import assert_one_line_error, run_cli


def generate(models_dir, out, *extra: str):
    return run_cli(
        "--models-dir",
        str(models_dir),
        "generate",
        "image",
        "--model",
        TINY_SD,
        "--prompt",
        "a red fox",
        "--steps",
        "2",
        "--out",
        str(out),
        *extra,
    )


def test_generate_writes_pngs_and_reproduce_confirms_them(installed_models_dir, tmp_path):
    result = generate(
        installed_models_dir, tmp_path / "fox.png", "--seed", "4", "--batch", "2", "--width", "40", "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["paths"] == [str(tmp_path / "fox.png"), str(tmp_path / "fox-1.png")]
    assert report["manifest"]["seed"] == 4
    with Image.open(tmp_path / "fox-1.png") as png:
        assert png.size == (40, 32) and "Seed: 5" in png.text["parameters"]

    for path in report["paths"]:
        reproduced = run_cli("--models-dir", str(installed_models_dir), "reproduce", path)
        assert reproduced.returncode == 0, reproduced.stderr
        assert "reproduced exactly" in reproduced.stdout


def test_reproduce_notices_a_changed_image(installed_models_dir, tmp_path):
    assert generate(installed_models_dir, tmp_path / "fox.png", "--seed", "1").returncode == 0
    with Image.open(tmp_path / "fox.png") as png:
        chunks, pixels = dict(png.text), png.convert("RGB")
    pixels.putpixel((0, 0), tuple(255 - c for c in pixels.getpixel((0, 0))))
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    pixels.save(tmp_path / "fox.png", pnginfo=info)

    result = run_cli("--models-dir", str(installed_models_dir), "reproduce", str(tmp_path / "fox.png"))
    assert result.returncode == 1 and "DIFFERS" in result.stdout


def test_image_errors_are_one_line(installed_models_dir, tmp_path):
    assert_one_line_error(generate(installed_models_dir, tmp_path / "a.png", "--width", "33"), 2, "multiple of 8")
    assert_one_line_error(generate(installed_models_dir, tmp_path / "a.jpg"), 2, ".png")
    missing = run_cli(
        "--models-dir",
        str(tmp_path / "empty"),
        "generate",
        "image",
        "--model",
        "segmind/tiny-sd",
        "--prompt",
        "x",
        "--out",
        str(tmp_path / "x.png"),
    )
    assert_one_line_error(missing, 3, "models download segmind/tiny-sd")
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert_one_line_error(run_cli("reproduce", str(plain)), 3, "no Creator Kit manifest")
