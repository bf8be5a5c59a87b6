"""A comparison's figures for people: named, in ms, s, MB and tokens/s, never as field names or exponents."""

from __future__ import annotations

from pathlib import Path

import pytest

from creator_kit import compare


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("first_token_s", 0.00878, "8.78 ms"),
        ("first_preview_s", 1.3456, "1.35 s"),
        ("load_s", 12.34, "12.3 s"),
        ("load_s", 0.0, "loaded already"),
        ("tokens_per_s", 212.4, "212 tokens/s"),
        ("tokens_per_s", 1234.5, "1,234 tokens/s"),
        ("seconds_per_picture", 0.52, "520 ms per image"),
        ("seconds_per_picture", 2.5, "2.50 s per image"),
        ("peak_memory_bytes", 4.71e05, "0.47 MB"),
        ("peak_memory_bytes", 1.5e9, "1,500 MB"),
        ("peak_memory_bytes", 1e3, "under 0.01 MB"),
    ],
)
def test_each_metric_reads_in_its_unit(name, value, shown):
    assert compare.metric_value(name, value) == shown


def test_readable_metrics_put_the_speed_first_under_people_s_names():
    metrics = {"load_s": 0.2, "peak_memory_bytes": 4.71e05, "first_token_s": 0.00878, "tokens_per_s": 95.0}
    assert compare.readable(metrics) == {
        "speed": "95.0 tokens/s",
        "first token": "8.78 ms",
        "load": "200 ms",
        "peak memory": "0.47 MB",
    }


def item(model: str, **metrics: float) -> compare.Item:
    return compare.Item(model, "a prompt", "an output", Path("out.txt"), metrics)


def test_the_fastest_is_the_most_tokens_per_second_or_the_fewest_seconds_per_image():
    texts = [item("a", tokens_per_s=50), item("b", tokens_per_s=80), item("a", tokens_per_s=90)]
    assert compare.fastest(texts) == "b"  # a averages 70
    pictures = [item("a", seconds_per_picture=2.0), item("b", seconds_per_picture=3.0)]
    assert compare.fastest(pictures) == "a"
    assert compare.fastest([item("a", tokens_per_s=5)]) is None  # one model: nothing to beat


def test_the_markdown_table_names_and_units_the_means_and_marks_the_fastest(tmp_path):
    comparison = compare.Comparison("text-generation", ["a", "b"], ["p"], 0, tmp_path)
    comparison.items = [
        item("a", load_s=1.5, first_token_s=0.01, tokens_per_s=40, peak_memory_bytes=2e6),
        item("b", load_s=0.0, first_token_s=0.02, tokens_per_s=60, peak_memory_bytes=3e6),
    ]
    assert comparison.to_markdown().splitlines() == [
        "| model | prompts | speed | first token | load | peak memory |",
        "|---|---|---|---|---|---|",
        "| a | 1 | 40.0 tokens/s | 10.0 ms | 1.50 s | 2.00 MB |",
        "| b (fastest) | 1 | 60.0 tokens/s | 20.0 ms | loaded already | 3.00 MB |",
    ]
    assert "peak_memory_bytes" in comparison.to_csv()  # CSV and JSON keep the field names, for programs
