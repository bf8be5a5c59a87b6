"""The training monitor panel, driven through its callbacks and buttons on real (tiny) training runs."""

from __future__ import annotations

import time

import pytest
from conftest import TINY_GPT2

from creator_kit.core.events import Done, Metric, Preview, Progress
from creator_kit.train import TrainingConfig
from widgets.training_monitor import TrainingMonitor, smooth

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


def test_smoothing_is_a_debiased_moving_average():
    assert smooth([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    assert smooth([4.0, 4.0, 4.0], 0.9) == pytest.approx([4.0, 4.0, 4.0])
    assert smooth([0.0, 10.0], 0.5) == pytest.approx([0.0, 10 * 0.5 / 0.75])


def test_events_become_widget_values_on_refresh(tmp_path):
    monitor = TrainingMonitor(TrainingConfig(model=TINY_GPT2, data=str(tmp_path / "x.txt"), sample_prompt="Hi"))
    assert monitor.resume_button.disabled and not monitor.train_button.disabled and monitor.stop_button.disabled

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
    assert bytes(monitor.plot.value) == b""  # events only record; the render thread (or refresh) draws

    monitor.refresh()
    assert (monitor.progress.value, monitor.progress.max) == (3, 10)
    assert monitor.progress_label.value == "3/10 steps · ETA 1m10s · 2,500 tokens/s · lr 1.00e-03"
    assert "validation loss</b> 2.4000" in monitor.metrics.value
    assert "accuracy</b> 20.0%" in monitor.metrics.value
    assert "★ step 2 (validation 2.2000)" in monitor.metrics.value
    assert "<i>Hi</i> there &lt;friend&gt;" in monitor.sample_box.value
    assert bytes(monitor.plot.value).startswith(PNG)
    best = monitor.live_plot.best
    assert best.get_label() == "best checkpoint"
    assert (list(best.get_xdata()), list(best.get_ydata())) == ([2], [2.2])

    linear = bytes(monitor.plot.value)
    monitor.log_scale.value = True  # observers redraw at once
    assert monitor.live_plot.loss_ax.get_yscale() == "log" and bytes(monitor.plot.value) != linear
    monitor.smoothing.value = 0.0
    assert "train loss</b> 2.0000" in monitor.metrics.value


def test_train_runs_in_a_worker_with_throttled_redraws_and_saves_the_curves(installed_store, training_text):
    monitor = TrainingMonitor(config(training_text), redraw_interval=0.2)
    redraws = []
    monitor.plot.observe(lambda change: redraws.append(time.monotonic()), "value")

    started = time.monotonic()
    monitor.train_button.click()
    assert monitor.running and monitor.train_button.disabled and not monitor.stop_button.disabled
    result = monitor.wait(WAIT_S)
    _wait_for(lambda: monitor.progress.value == 12)  # the render thread's last refresh
    elapsed = time.monotonic() - started

    assert result is not None and result.model.repo_id == "local/watched"
    assert installed_store.is_installed("local/watched")
    assert monitor.status.value.startswith("<span>Done: local/watched · best step 12")
    assert monitor.progress.max == 12 and not monitor.train_button.disabled and monitor.stop_button.disabled
    assert not monitor.resume_button.disabled  # the run's checkpoints are there
    assert monitor.curves.train_steps == list(range(1, 13)) and monitor.curves.eval_steps == [4, 8, 12]
    assert len(redraws) <= elapsed / 0.2 + 2  # 12 steps, dozens of events, a few redraws a second at most
    assert (result.run_dir / "curves.png").read_bytes().startswith(PNG)


def test_stop_saves_a_checkpoint_and_resume_finishes_the_run(installed_store, training_text):
    monitor = TrainingMonitor(config(training_text, max_steps=40, eval_every=20), redraw_interval=0.1)
    monitor.train()
    _wait_for(lambda: len(monitor.curves.train_steps) >= 2)
    monitor.stop_button.click()
    assert monitor.wait(WAIT_S) is None
    stopped_at = monitor.curves.train_steps[-1]
    assert stopped_at < 40
    assert "Stopped and saved" in monitor.status.value and monitor.error is None
    assert not monitor.resume_button.disabled and not monitor.train_button.disabled
    assert (monitor.config.run_dir / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()

    monitor.resume_button.click()
    result = monitor.wait(WAIT_S)
    assert result is not None and result.steps == 40
    assert monitor.curves.train_steps == list(range(1, 41))  # the restored history came back as events


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
