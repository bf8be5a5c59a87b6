"""The training monitor panel, driven through its callbacks and buttons on real (tiny) training runs."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ElementTree

import pytest
from conftest import TINY_GPT2

import creator_kit as ck
from creator_kit.core.events import Done, Metric, Preview, Progress
from creator_kit.train import TrainingConfig
from widgets.training_curves import smooth
from widgets.training_monitor import TrainingMonitor

WAIT_S = 60
PNG = b"\x89PNG"


def config(training_text, **overrides) -> TrainingConfig:
    settings = dict(
        model=TINY_GPT2, data=str(training_text), name="watched", block_size=32, batch_size=4, lr=2e-3, eval_every=4
    )
    return TrainingConfig(**{**settings, "max_steps": 12, **overrides})


def _wait_for(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def charts(plot_html: str) -> dict[str, ElementTree.Element]:
    """The plot's charts by title, parsed (the SVG must be well-formed to show)."""
    root = ElementTree.fromstring(f"<div>{plot_html}</div>")
    return {figure.find("figcaption/b").text: figure.find("svg") for figure in root.iter("figure")}


def points(chart: ElementTree.Element, series: str) -> int:
    """How many points the chart's polyline of `series` (its exact class) has; 0 when it is not drawn."""
    lines = [p for p in chart.iter("polyline") if p.get("class") == series]
    return len(lines[0].get("points").split()) if lines else 0


def train_points(plot_html: str) -> int:
    return points(charts(plot_html)["loss"], "ck-series-train")


def test_smoothing_is_a_debiased_moving_average():
    assert smooth([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    assert smooth([4.0, 4.0, 4.0], 0.9) == pytest.approx([4.0, 4.0, 4.0])
    assert smooth([0.0, 10.0], 0.5) == pytest.approx([0.0, 10 * 0.5 / 0.75])
    assert smooth([4.0, float("nan"), 4.0], 0.9)[2] == pytest.approx(4.0)  # a NaN is skipped, not carried on


def test_events_become_widget_values_and_svg_curves_on_refresh(tmp_path):
    monitor = TrainingMonitor(TrainingConfig(model=TINY_GPT2, data=str(tmp_path / "x.txt"), sample_prompt="Hi"))
    assert monitor.resume_button.disabled and monitor.stop_button.disabled
    empty = charts(monitor.plot.value)
    assert list(empty) == ["loss", "next-token accuracy / perplexity", "learning rate"]
    assert not list(empty["loss"].iter("polyline")) and "no steps logged yet" in monitor.plot.value

    train_values = {"learning_rate": 1e-3, "grad_norm": 1.0, "epoch": 0.1, "tokens_per_s": 2500.0}
    for step, loss in enumerate([3.0, 2.5, 2.0], start=1):
        monitor.handle(Progress("train", step, 10, unit="step"))
        monitor.handle(Metric("train", step, {"train_loss": loss, "eta_s": 70.0, **train_values}))
    monitor.handle(
        Metric("train", 2, {"eval_loss": 2.2, "perplexity": 9.03, "accuracy": 0.25, "epoch": 0.2, "best_step": 2})
    )
    monitor.handle(
        Metric("train", 3, {"eval_loss": 2.4, "perplexity": 11.0, "accuracy": 0.2, "epoch": 0.3, "best_step": 2})
    )
    monitor.handle(Preview("train", 3, {"prompt": "Hi", "text": " there <friend>"}))
    assert train_points(monitor.plot.value) == 0  # events only record; the render thread (or refresh) draws

    monitor.refresh()
    assert (monitor.progress.value, monitor.progress.max) == (3, 10)
    assert monitor.progress_label.value == "3/10 steps · ETA 1m10s · 2,500 tokens/s · lr 1.00e-03"
    assert "validation loss</b> 2.4000" in monitor.metrics.value
    assert "accuracy</b> 20.0%" in monitor.metrics.value
    assert "★ step 2 (validation 2.2000)" in monitor.metrics.value
    assert "<i>Hi</i> there &lt;friend&gt;" in monitor.sample_box.value
    drawn = charts(monitor.plot.value)
    loss, quality, rate = drawn.values()
    assert points(loss, "ck-series-train") == points(loss, "ck-series-train ck-faint") == 3
    assert points(loss, "ck-series-validation") == 2 and points(rate, "ck-series-lr") == 3
    assert points(quality, "ck-series-accuracy") == points(quality, "ck-series-perplexity ck-dashed") == 2
    assert len([m for m in loss.iter("polygon") if "ck-series-best" in m.get("class")]) == 1  # the star
    assert "best checkpoint" in monitor.plot.value and "20%" in monitor.plot.value  # legend; accuracy in percent

    linear = monitor.plot.value
    monitor.log_scale.value = True  # observers redraw at once
    assert monitor.plot.value != linear
    monitor.smoothing.value = 0.0
    assert "train loss</b> 2.0000" in monitor.metrics.value


def test_long_runs_stay_a_small_svg_and_unplottable_values_are_left_out(tmp_path):
    monitor = TrainingMonitor(TrainingConfig(model=TINY_GPT2, data=str(tmp_path / "x.txt")))
    for step in range(1, 5001):
        loss = float("nan") if step == 10 else 3.0 / step**0.2
        monitor.handle(Metric("train", step, {"train_loss": loss, "learning_rate": 1e-3}))
    monitor.handle(Progress("train", 5000, 5000, unit="step"))
    monitor.log_scale.value = True
    assert 300 <= train_points(monitor.plot.value) <= 401 and len(monitor.plot.value) < 40_000
    assert "nan" not in monitor.plot.value.lower()


def test_the_curves_grow_while_the_run_trains(installed_store, training_text):
    monitor = TrainingMonitor(config(training_text, max_steps=300, eval_every=100), redraw_interval=0.05)
    monitor.train()
    # before the run ends, with fewer steps done than it takes, the plot shows the logged steps
    _wait_for(lambda: train_points(monitor.plot.value) >= 3 or not monitor.running)
    assert monitor.running and monitor.progress.value < monitor.progress.max == 300
    assert points(charts(monitor.plot.value)["learning rate"], "ck-series-lr") >= 3
    monitor.stop()
    monitor.wait(WAIT_S)


def test_redraws_keep_up_with_fast_steps_and_the_curves_are_saved(installed_store, training_text):
    monitor = TrainingMonitor(config(training_text, max_steps=60, eval_every=20), redraw_interval=0.05)
    drawn = []  # the train points each plot update showed
    monitor.plot.observe(lambda change: drawn.append(train_points(change["new"])), "value")

    monitor.train_button.click()
    assert monitor.running and monitor.train_button.disabled and not monitor.stop_button.disabled
    result = monitor.wait(WAIT_S)
    _wait_for(lambda: monitor.progress.value == 60)  # the render thread's last refresh

    assert result is not None and result.model.repo_id == "local/watched"
    assert installed_store.is_installed("local/watched")
    assert monitor.status.value.startswith("<span>Done: local/watched · best step")
    assert "validation loss" in monitor.status.value and "eval_loss" not in monitor.status.value
    assert monitor.curves.train_steps == list(range(1, 61)) and monitor.curves.eval_steps == [20, 40, 60]
    growing = sorted({n for n in drawn if 0 < n < 60})
    assert len(growing) >= 6, f"the plot was redrawn with train data only at {growing} points"
    assert drawn[-1] == 60
    assert (result.run_dir / "curves.png").read_bytes().startswith(PNG)


def test_train_again_proposes_a_new_name_and_keeps_the_curves_until_the_new_run_starts(installed_store, training_text):
    monitor = TrainingMonitor(config(training_text, max_steps=4))
    assert monitor.save_as.value == "watched" and not monitor.replace.value
    monitor.train()
    assert monitor.finish(WAIT_S).model.repo_id == "local/watched"
    assert monitor.resume_button.disabled  # a finished run has nothing to resume
    assert ck.train.stopped_checkpoint(monitor.config) is None and ck.train.last_checkpoint(monitor.config)
    assert monitor.save_as.value == "watched-2" and not monitor.train_button.disabled
    assert "Train again to save local/watched-2" in monitor.message

    monitor.train_button.click()  # the second Train: a new model, the finished run's curves kept until it starts
    assert monitor.running and monitor.curves.train_steps == [1, 2, 3, 4] and train_points(monitor.plot.value) == 4
    assert monitor.step == 0 and monitor.progress_label.value == ""  # not the last run's "4/4 steps · ETA 0s"
    second = monitor.finish(WAIT_S)
    assert second.model.repo_id == "local/watched-2" and monitor.config.name == "watched-2"
    assert installed_store.is_installed("local/watched") and monitor.save_as.value == "watched-3"

    monitor.save_as.value = "watched"  # taken, Replace not ticked: Train waits, and the status line says why
    assert monitor.train_button.disabled and monitor.resume_button.disabled
    for said in (monitor.message, monitor.status.value):
        assert "local/watched exists already: type a new name in Save as, or tick Replace" in said
        assert "name=" not in said and "--" not in said
    monitor.train()  # from code: refused in the panel's words, the last run's results kept
    assert monitor.wait() is None and type(monitor.error).__name__ == "OutputExistsError"
    assert monitor.curves.train_steps == [1, 2, 3, 4] and monitor.config.name == "watched-2"

    monitor.replace.value = True
    assert not monitor.train_button.disabled and monitor.error is None
    assert monitor.message == f"Ready to train {TINY_GPT2} into local/watched again, replacing it."
    monitor.train()
    assert monitor.finish(WAIT_S).model.repo_id == "local/watched" and monitor.save_as.value == "watched"
    assert "Train again to replace local/watched" in monitor.message


def test_save_as_must_name_a_model(installed_store, training_text):
    monitor = TrainingMonitor(config(training_text))
    monitor.save_as.value = "my/stories"
    assert monitor.train_button.disabled and monitor.status.value.count("ck-error") == 1
    assert "Save as: 'my/stories' cannot name a model" in monitor.message
    monitor.train()
    assert not monitor.running and "cannot name a model" in str(monitor.error)
    odd = TrainingMonitor(TrainingConfig(model="a/b/c", data="x.txt"))  # not a model id: no "Save as" blame
    assert odd.message.startswith("a/b/c is not installed") and odd.error is None


def test_stop_saves_a_checkpoint_and_resume_finishes_the_run(installed_store, training_text):
    monitor = TrainingMonitor(config(training_text, max_steps=40, eval_every=20), redraw_interval=0.1)
    monitor.train()
    _wait_for(lambda: len(monitor.curves.train_steps) >= 2)
    monitor.stop_button.click()
    assert monitor.wait(WAIT_S) is None
    stopped_at = monitor.curves.train_steps[-1]
    assert stopped_at < 40
    assert "Stopped and saved" in monitor.status.value and monitor.error is None
    assert not monitor.resume_button.disabled and monitor.train_button.disabled  # Train would start it again
    assert (monitor.config.run_dir / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()

    reopened = TrainingMonitor(monitor.config)  # the notebook run again: the stopped run is found, and said
    assert not reopened.resume_button.disabled and reopened.train_button.disabled
    assert "A stopped run of local/watched is saved: press Resume" in reopened.message

    monitor.resume_button.click()
    result = monitor.wait(WAIT_S)
    assert result is not None and result.steps == 40
    assert monitor.curves.train_steps == list(range(1, 41))  # the restored history came back as events
    assert monitor.resume_button.disabled and TrainingMonitor(monitor.config).resume_button.disabled


def test_errors_are_shown_in_place(installed_store, tmp_path):
    monitor = TrainingMonitor(TrainingConfig(model=TINY_GPT2, data=str(tmp_path / "missing.txt")))
    monitor.train_button.click()
    assert monitor.wait(WAIT_S) is None
    assert "class='ck-error'" in monitor.status.value and "No training data at" in monitor.status.value
    assert type(monitor.error).__name__ == "NotFoundError"
    assert not monitor.train_button.disabled and monitor.stop_button.disabled


def test_show_curves_saves_a_png_in_the_run_folder(installed_store, tmp_path):
    monitor = TrainingMonitor(TrainingConfig(model=TINY_GPT2, data="x.txt", name="plot"))
    monitor.handle(Metric("train", 1, {"train_loss": 2.0, "learning_rate": 1e-3}))
    monitor.handle(Done("train", None))
    monitor.show_curves()
    assert (monitor.config.run_dir / "curves.png").read_bytes().startswith(PNG)
    assert re.search(r"<polyline class='ck-series-lr'", monitor.snapshot_html()) is None  # one point: no line yet


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_curve_colour_reads_on_the_panel_in_both_themes(theme):
    from test_panel_style import AA_CONTRAST, contrast, rgb, theme_variables, tones

    background = rgb(theme_variables(theme)["--jp-layout-color0"])
    series = {name: value for name, value in tones(theme).items() if name.startswith("--ck-plot-")}
    assert len(series) == 5
    for name, value in series.items():  # lines need 3:1 (WCAG 1.4.11); the perplexity axis's labels are text
        needed = AA_CONTRAST if name == "--ck-plot-perplexity" else 3.0
        assert contrast(rgb(value, background), background) >= needed, (theme, name, value)
