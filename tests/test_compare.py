"""Models side by side: the same prompts and seed on 2-6 installed models, outputs saved, metrics, tables, CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import TINY_GPT2, TINY_SD

from creator_kit import arena, compare, manifest
from creator_kit.cli import main as cli_main
from creator_kit.core.errors import InvalidInputError, ModelNotInstalledError, WrongTaskError


@pytest.fixture
def two_text_models(installed_store) -> list[str]:
    """The tiny GPT-2 and a second text model (a copy registered as local/gpt2-copy)."""
    installed_store.register_local("gpt2-copy", installed_store.get(TINY_GPT2).path, task="text-generation")
    return [TINY_GPT2, "local/gpt2-copy"]


def test_text_models_run_on_the_same_prompts_and_seed_with_their_metrics(two_text_models):
    prompts = ["Once upon a time", "The old lighthouse"]
    comparison = compare.run(prompts, models=two_text_models, seed=4, max_new_tokens=5)
    assert [(item.model, item.prompt) for item in comparison.items] == [
        (model, prompt) for model in two_text_models for prompt in prompts
    ]
    for item in comparison.items:
        assert item.path.is_file() and item.path.read_text(encoding="utf-8") == item.output
        record = manifest.read(item.path)
        assert (record.model, record.seed, record.parameters["prompt"]) == (item.model, 4, item.prompt)
        assert {"load_s", "first_token_s", "tokens_per_s", "peak_memory_bytes"} <= set(item.metrics)
        assert item.metrics["tokens_per_s"] > 0 and item.metrics["first_token_s"] > 0
    # the same weights, seed and prompt give the same text: the comparison is like for like
    assert comparison.items[0].output == comparison.items[2].output
    summary = comparison.summary()
    assert [row["model"] for row in summary] == two_text_models and all(row["items"] == 2 for row in summary)
    table = list(csv.DictReader(io.StringIO(comparison.to_csv())))
    assert [row["model"] for row in table] == two_text_models
    assert comparison.to_markdown().splitlines()[0] == "| model | prompts | speed | first token | load | peak memory |"


def test_image_models_report_time_to_first_preview_and_per_picture(installed_store):
    installed_store.register_local("sd-copy", installed_store.get(TINY_SD).path, task="text-to-image")
    comparison = compare.run("a red fox", models=[TINY_SD, "local/sd-copy"], seed=1, steps=2)
    assert len(comparison.items) == 2
    for item in comparison.items:
        assert item.path.suffix == ".png" and manifest.read(item.path).model == item.model
        assert item.metrics["seconds_per_picture"] > 0 and item.metrics["first_preview_s"] > 0


@pytest.mark.parametrize(
    ("models", "error", "message"),
    [
        ([TINY_GPT2], InvalidInputError, "2 to 6 different models"),
        ([TINY_GPT2, TINY_GPT2], InvalidInputError, "2 to 6 different models"),
        ([TINY_GPT2, TINY_SD], WrongTaskError, "one task"),
        ([TINY_GPT2, "nobody/nothing"], ModelNotInstalledError, "nobody/nothing"),
    ],
)
def test_bad_model_lists_are_refused_before_any_model_loads(installed_store, models, error, message):
    from creator_kit import runtime

    runtime.unload_all()
    with pytest.raises(error, match=message):
        compare.run("Once", models=models)
    assert runtime.loaded() == []


def test_the_cli_prints_the_table_or_the_json_and_refuses_bad_prompt_files(two_text_models, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Once upon a time\n\nThe sea\n", encoding="utf-8")
    base = ["compare", "--task", "text", "--models", *two_text_models, "--seed", "3"]
    assert cli_main([*base, "--prompts", str(prompts), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert [item["prompt"] for item in output["items"]] == ["Once upon a time", "The sea"] * 2
    assert {"model", "prompt", "output", "metrics"} <= set(output["items"][0])
    assert [row["model"] for row in output["summary"]] == two_text_models

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert cli_main([*base, "--prompts", str(empty)]) == 2
    assert "holds no prompts" in capsys.readouterr().err
    assert cli_main(["compare", "--task", "image", "--models", *two_text_models, "--prompt", "x"]) == 2
    assert cli_main([*base[:-2], "--prompts", str(tmp_path / "missing.txt")]) == 2


def scripted(*results: tuple[str, str, str]) -> list[dict]:
    return [{"a": a, "b": b, "winner": winner} for a, b, winner in results]


def test_the_leaderboard_follows_from_the_stored_votes():
    votes = scripted(*[("x", "y", "a")] * 6, *[("y", "z", "a")] * 6, ("x", "z", "tie"), ("z", "x", "b"))
    board = arena.leaderboard(votes)
    assert [s.model for s in board] == ["x", "y", "z"]  # x beats y beats z
    x, y, z = board
    assert (x.votes, x.wins, x.ties, x.losses) == (8, 7, 1, 0)
    assert (z.votes, z.wins, z.ties, z.losses) == (8, 0, 1, 7)
    assert x.rating > y.rating > z.rating and abs(sum(s.rating for s in board) / 3 - 1000) < 1
    even = arena.leaderboard(scripted(("p", "q", "a"), ("p", "q", "b"), ("q", "p", "tie")))
    assert abs(even[0].rating - even[1].rating) < 1e-6  # level votes, level ratings
    assert arena.leaderboard(list(reversed(votes))) == board  # the order of the votes does not matter


def test_an_anonymous_match_is_voted_on_kept_and_ranked(two_text_models):
    played = arena.match("Once upon a time", models=two_text_models, seed=2, max_new_tokens=4)
    assert sorted(played.models) == sorted(two_text_models) and all(played.outputs)
    assert arena.vote(played, "a") == played.models
    with pytest.raises(InvalidInputError, match="one of a, b, tie"):
        arena.vote(played, "left")
    (kept,) = arena.read_votes()
    assert (kept["a"], kept["b"], kept["winner"], kept["seed"]) == (*played.models, "a", 2)
    arena.votes_path().write_text(arena.votes_path().read_text() + "{torn", encoding="utf-8")
    assert arena.leaderboard()[0].model == played.models[0] and len(arena.read_votes()) == 1
