"""The compare panel, driven through its widgets: columns and metrics, the same outputs as the engine, the arena."""

from __future__ import annotations

from conftest import TINY_GPT2

from creator_kit import arena, compare
from widgets.compare_panel import ComparePanel

WAIT_S = 120


def test_the_panel_compares_like_the_engine_and_shows_every_column(installed_store):
    installed_store.register_local("gpt2-copy", installed_store.get(TINY_GPT2).path, task="text-generation")
    models = [TINY_GPT2, "local/gpt2-copy"]
    panel = ComparePanel("text", store=installed_store)
    assert set(models) <= {value for _, value in panel.models.options}
    panel.models.value = tuple(models)
    panel.prompts.value = "Once upon a time\nThe sea"
    panel.seed.value = "5"
    panel.run_button.click()
    shown = panel.finish(WAIT_S)

    assert len(panel.columns.children) == 4 and "compare-" in panel.status.value
    engine = compare.run(["Once upon a time", "The sea"], models=models, seed=5)
    assert [item.output for item in shown.items] == [item.output for item in engine.items]
    assert [row["model"] for row in shown.summary()] == [row["model"] for row in engine.summary()]


def test_arena_mode_hides_the_names_until_the_vote_and_keeps_it(installed_store):
    installed_store.register_local("gpt2-copy", installed_store.get(TINY_GPT2).path, task="text-generation")
    panel = ComparePanel("text", store=installed_store)
    panel.models.value = (TINY_GPT2, "local/gpt2-copy")
    panel.prompts.value = "Once upon a time"
    panel.arena_mode.value = True
    panel.run_button.click()
    match = panel.finish(WAIT_S)

    titles = [column.children[0].value for column in panel.columns.children]
    assert titles == ["<b>A</b>", "<b>B</b>"] and not any(button.disabled for button in panel.votes)
    panel.votes[0].click()  # A is better
    assert [column.children[0].value for column in panel.columns.children] == [f"<b>{m}</b>" for m in match.models]
    assert arena.read_votes()[-1]["winner"] == "a" and match.models[0] in panel.board.value


def test_bad_choices_are_said_in_the_panel_before_anything_runs(installed_store):
    panel = ComparePanel("text", store=installed_store)
    panel.models.value = (TINY_GPT2,)
    panel.prompts.value = "Once"
    panel.run_button.click()
    assert panel.wait(WAIT_S) is None and "2 to 6 different models" in panel.status.value
