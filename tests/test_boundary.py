"""The boundary keeps the contract when something is missed: a bug is one line naming a log of its traceback."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from creator_kit import cli
from creator_kit.core.config import configure

#: Minimal valid arguments of every sub-command (nothing runs: each handler is replaced by one that fails).
ARGUMENTS = {
    "models catalog": [],
    "models list": [],
    "models download": ["tiny/gpt2"],
    "models info": ["tiny/gpt2"],
    "models bench": ["tiny/gpt2"],
    "models verify": ["tiny/gpt2"],
    "models remove": ["tiny/gpt2"],
    "models starter": [],
    "models convert": ["tiny/gpt2", "--to", "openvino"],
    "generate text": ["--model", "tiny/gpt2", "--prompt", "hi"],
    "generate image": ["--model", "tiny/sd", "--prompt", "hi", "--out", "a.png"],
    "generate video": ["--model", "tiny/t2v", "--prompt", "hi", "--out", "a.mp4"],
    "reproduce": ["a.png"],
    "lab": [],
    "compare": ["--task", "text", "--models", "a/b", "c/d", "--prompt", "hi"],
    "queue run": ["queue.json"],
    "queue status": ["queue.json"],
    "train text": ["--model", "tiny/gpt2", "--data", "data.txt"],
    "train config": ["run.json"],
}
#: The errors injected, in turn: none of them a CreatorKitError.
INJECTED = [RuntimeError("boom in the handler"), KeyError("missing-key"), TypeError("a wrong type\nsecond line")]


def subcommands() -> dict[str, object]:
    """Each sub-command's name ("models list") and its handler, read from the parser itself."""
    parser = cli.build_parser()
    return {
        command.prog.removeprefix("creator-kit "): command.get_default("handler")
        for command in cli.subcommand_parsers(parser)
    }


def inject(monkeypatch: pytest.MonkeyPatch, handler, error: Exception) -> None:
    """Replace `handler` in its CLI module (the parser picks it up when `main` builds it) by one raising `error`."""

    def broken(_args) -> int:
        raise error

    monkeypatch.setattr(sys.modules[handler.__module__], handler.__name__, broken)


def test_the_argument_table_covers_every_subcommand():
    assert set(subcommands()) == set(ARGUMENTS)


@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_an_internal_error_in_any_subcommand_is_one_line_exit_1_and_a_log(name, monkeypatch, tmp_path, capsys):
    error = INJECTED[sorted(ARGUMENTS).index(name) % len(INJECTED)]
    inject(monkeypatch, subcommands()[name], error)
    monkeypatch.chdir(tmp_path)
    configure(outputs_dir=tmp_path / "outputs")

    arguments = ["--models-dir", str(tmp_path / "models"), *name.split(), *ARGUMENTS[name]]
    assert cli.main(arguments) == 1

    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"creator-kit: Internal error in '{name}': "), captured.err
    assert type(error).__name__ in lines[0] and "This is a bug in Creator Kit" in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    logs = list((tmp_path / "outputs" / "logs").glob("*.log"))
    assert len(logs) == 1 and lines[0].endswith(f"the traceback is in {logs[0]}")
    log = logs[0].read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and str(error).splitlines()[0] in log
    assert f"command: {shlex.join(['creator-kit', *arguments])}\n" in log and "Python: " in log


def test_a_log_that_cannot_be_written_still_gives_one_line(monkeypatch, tmp_path, capsys):
    inject(monkeypatch, subcommands()["models list"], RuntimeError("boom"))
    (tmp_path / "outputs").write_text("a file where the outputs folder should be")
    configure(outputs_dir=tmp_path / "outputs")

    assert cli.main(["models", "list"]) == 1

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "RuntimeError: boom. This is a bug in Creator Kit" in lines[0]
    assert "its traceback could not be saved either" in lines[0]


def test_python_m_creator_kit_goes_through_the_same_boundary(tmp_path):
    script = (
        "import runpy, creator_kit.cli.models as models\n"
        "def broken(args): raise RuntimeError('boom')\n"
        "models.cmd_list = broken\n"
        "runpy.run_module('creator_kit', run_name='__main__')\n"
    )
    env = {**os.environ, "CREATOR_KIT_OUTPUTS_DIR": str(tmp_path / "outputs")}
    result = subprocess.run(
        [sys.executable, "-c", script, "models", "list"], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "creator-kit: Internal error in 'models list': RuntimeError: boom" in lines[0]
    assert Path(lines[0].rsplit(" ", 1)[-1]).parent == tmp_path / "outputs" / "logs"


def test_a_panel_shows_an_unexpected_error_as_one_line_naming_its_log(store, monkeypatch, tmp_path):
    from widgets import ModelBrowser

    configure(outputs_dir=tmp_path / "outputs")
    browser = ModelBrowser(store)

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom in a search")

    monkeypatch.setattr(store, "search", broken)
    browser.query.value = "anything"
    browser.search()
    browser.wait(60)

    assert isinstance(browser.error, RuntimeError) and not browser.working
    line = browser.message
    assert "\n" not in line and line.startswith("Internal error in this panel: RuntimeError: boom in a search.")
    assert "This is a bug in Creator Kit" in line
    logs = list((tmp_path / "outputs" / "logs").glob("*.log"))
    assert len(logs) == 1 and line.endswith(f"the traceback is in {logs[0]}")
    assert "Traceback" in logs[0].read_text(encoding="utf-8")
    browser.close()
