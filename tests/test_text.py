"""Text generation on the tiny GPT-2 from the test hub: results, streaming, seeds, stops, cancel, chat, manifests."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from conftest import TINY_GPT2

from creator_kit import manifest, text
from creator_kit.core.errors import InvalidInputError, InvalidRepoIdError, ModelNotInstalledError
from creator_kit.core.events import Done, Preview, Progress

PROMPT = "Once upon a time"


def test_generate_returns_text_token_counts_speed_and_manifest(installed_store):
    result = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=12, seed=3)

    tokenizer = text.load_model(TINY_GPT2).processor
    assert result.prompt_tokens == len(tokenizer(PROMPT)["input_ids"])
    assert 1 <= result.new_tokens <= 12
    assert result.finish_reason in ("length", "eos")
    assert result.text and result.texts == [result.text]
    assert result.tokens_per_s > 0 and result.elapsed_s > 0
    record = result.manifest
    assert (record.kind, record.model, record.seed) == ("text", TINY_GPT2, 3)
    assert record.revision == installed_store.get(TINY_GPT2).commit
    assert record.parameters["prompt"] == PROMPT
    assert record.parameters["max_new_tokens"] == 12 and record.parameters["temperature"] == 0.7
    assert {"torch", "transformers", "creator-kit"} <= record.versions.keys()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streamed_pieces_arrive_in_order_and_join_to_the_final_text(installed_store, seed):
    events = []
    stream = text.stream(PROMPT, model=TINY_GPT2, max_new_tokens=30, seed=seed, on_event=events.append)
    pieces = list(stream)

    assert len(pieces) > 1
    assert "".join(pieces) == stream.result.text
    assert stream.result.text == text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=30, seed=seed).text
    assert [e.value for e in events if isinstance(e, Preview)] == pieces
    counts = [e.completed for e in events if isinstance(e, Progress)]
    assert counts == sorted(counts) and counts[-1] == stream.result.new_tokens
    assert all(e.unit == "token" for e in events if isinstance(e, Progress))
    assert isinstance(events[-1], Done) and events[-1].result is stream.result
    assert stream.result.first_token_s is not None and 0 < stream.result.first_token_s <= stream.result.elapsed_s


def test_generate_reports_token_progress_then_done(installed_store):
    events = []
    result = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=8, seed=0, on_event=events.append)

    progress = [e for e in events if isinstance(e, Progress)]
    assert [e.completed for e in progress] == list(range(1, result.new_tokens + 1))
    assert all(e.total == 8 for e in progress)
    assert events[-1] == Done("generate", result, time=events[-1].time)
    assert result.first_token_s is not None


def test_same_seed_gives_same_text_and_other_seeds_differ(installed_store):
    def run(seed: int) -> list[str]:
        return text.generate(PROMPT, model=TINY_GPT2, preset="creative", max_new_tokens=24, seed=seed).texts

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_unseeded_runs_record_the_seed_that_reproduces_them(installed_store):
    first = text.generate(PROMPT, model=TINY_GPT2, preset="creative", max_new_tokens=16)

    assert isinstance(first.manifest.seed, int)
    assert text.replay(first.manifest).text == first.text


def test_several_return_sequences(installed_store):
    result = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=16, num_return_sequences=3, seed=5)

    assert len(result.texts) == 3 and len(set(result.texts)) == 3


def _first_unique_ascii_letter(text_: str) -> int:
    return next(i for i, c in enumerate(text_) if i >= 2 and c.isascii() and c.isalpha() and text_.find(c) == i)


def test_stop_strings_end_the_text_before_them(installed_store):
    full = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=40, seed=4)
    cut = _first_unique_ascii_letter(full.text)
    stop = full.text[cut]

    stopped = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=40, seed=4, stop=[stop, "never-seen"])
    assert stopped.text == full.text[:cut]
    assert stopped.finish_reason == "stop"
    assert stopped.new_tokens < full.new_tokens

    stream = text.stream(PROMPT, model=TINY_GPT2, max_new_tokens=40, seed=4, stop=stop)
    pieces = list(stream)
    assert "".join(pieces) == stream.result.text == full.text[:cut]
    assert stream.result.finish_reason == "stop"


def test_cancel_event_stops_generation_after_the_current_token(installed_store):
    cancel = threading.Event()

    def on_event(event) -> None:
        if isinstance(event, Progress) and event.completed == 5:
            cancel.set()

    full = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=60, seed=2, preset="precise")
    cancelled = text.generate(
        PROMPT, model=TINY_GPT2, max_new_tokens=60, seed=2, preset="precise", cancel=cancel, on_event=on_event
    )
    assert cancelled.finish_reason == "cancelled"
    assert 5 <= cancelled.new_tokens <= 6  # the token being computed when cancel came is kept
    assert full.text.startswith(cancelled.text) and len(cancelled.text) < len(full.text)


def test_cancel_while_streaming_keeps_the_text_so_far(installed_store):
    cancel = threading.Event()
    stream = text.stream(PROMPT, model=TINY_GPT2, max_new_tokens=100, seed=1, cancel=cancel)
    pieces = []
    for piece in stream:
        pieces.append(piece)
        cancel.set()

    assert stream.result.finish_reason == "cancelled"
    assert stream.result.new_tokens < 100
    assert "".join(pieces) == stream.result.text


def test_leaving_a_stream_early_ends_its_generation(installed_store):
    stream = text.stream(PROMPT, model=TINY_GPT2, max_new_tokens=100, seed=1)
    pieces = iter(stream)
    next(pieces)
    pieces.close()

    assert not stream.running and stream.result is None
    quick = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=2, seed=1)  # the engine is free again
    assert quick.new_tokens <= 2


def test_presets_set_parameters_and_can_be_extended(installed_store):
    precise = text.generate(PROMPT, model=TINY_GPT2, preset="precise", max_new_tokens=10)
    assert precise.manifest.parameters["do_sample"] is False
    assert precise.text == text.generate(PROMPT, model=TINY_GPT2, preset="precise", max_new_tokens=10, seed=9).text

    text.add_preset("tiny_test", max_new_tokens=3, do_sample=False)
    try:
        short = text.generate(PROMPT, model=TINY_GPT2, preset="tiny_test")
        assert short.new_tokens <= 3 and short.manifest.parameters["preset"] == "tiny_test"
        assert text.generate(PROMPT, model=TINY_GPT2, preset="tiny_test", max_new_tokens=4).new_tokens <= 4
    finally:
        del text.PRESETS["tiny_test"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be a whole number from 1 to 4096"),
        ({"max_new_tokens": 5000}, "max_new_tokens"),
        ({"max_new_tokens": "10"}, "max_new_tokens"),
        ({"max_new_tokens": True}, "max_new_tokens"),
        ({"temperature": 0}, "temperature must be a number > 0"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_k": -1}, "top_k must be a whole number >= 0"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 0}, "top_p must be a number > 0 and <= 1"),
        ({"top_p": 1.5}, "top_p"),
        ({"repetition_penalty": -1.0}, "repetition_penalty must be a number > 0"),
        ({"do_sample": "yes"}, "do_sample must be True or False"),
        ({"num_return_sequences": 0}, "num_return_sequences"),
        ({"num_return_sequences": 17}, "num_return_sequences"),
        ({"num_return_sequences": 2, "do_sample": False}, "needs do_sample=True"),
        ({"stop": [""]}, "stop must be a list of non-empty strings"),
        ({"stop": [3]}, "stop"),
        ({"seed": -1}, "seed must be a whole number from 0 to 4294967231"),
        ({"seed": 2**32 - 64}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"temprature": 0.5}, "Unknown generation parameter(s) temprature; known: max_new_tokens"),
        ({"preset": "wild"}, "preset must be one of precise, balanced, creative, not 'wild'"),
        ({"max_new_tokens": 125}, "reads at most 128 tokens"),
        ({"chat": True}, "has no chat template"),
        ({"quantize": "int4"}, "quantize must be one of int8"),
        ({"quantize": "int8", "device": "cuda"}, "runs on the CPU only"),
    ],
)
def test_bad_parameters_say_what_is_allowed(installed_store, params, message):
    with pytest.raises(InvalidInputError) as error:
        text.generate(PROMPT, model=TINY_GPT2, **params)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "The prompt must be non-empty text"),
        ("   ", "non-empty text"),
        (None, "non-empty text"),
        (42, "non-empty text"),
        ([], "list of {'role'"),
        ([{"text": "hi"}], "list of {'role'"),
        ([{"role": "user", "content": "hi"}], "has no chat template"),
    ],
)
def test_bad_prompts_are_refused(installed_store, prompt, message):
    with pytest.raises(InvalidInputError) as error:
        text.generate(prompt, model=TINY_GPT2)
    assert message in str(error.value)


def test_bad_models_are_refused_with_the_fix(installed_store):
    with pytest.raises(InvalidRepoIdError):
        text.generate(PROMPT, model="../etc")
    with pytest.raises(InvalidInputError, match="model must be a model id"):
        text.generate(PROMPT, model=42)
    with pytest.raises(ModelNotInstalledError, match="creator-kit models download someone/model"):
        text.generate(PROMPT, model="someone/model")
    with pytest.raises(InvalidInputError, match="stream\\(\\) yields one text"):
        text.stream(PROMPT, model=TINY_GPT2, num_return_sequences=2)


def test_chat_template_is_used_when_the_tokenizer_has_one(installed_store, hub, tmp_path):
    folder = shutil.copytree(hub.sources[TINY_GPT2], tmp_path / "chatty")
    (folder / "chat_template.jinja").write_text(
        "{% for m in messages %}<|endoftext|>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    chatty = installed_store.register_local("chatty", folder, task="text-generation").repo_id
    tokenizer = text.load_model(chatty).processor
    rendered = f"<|endoftext|>user: {PROMPT}\nassistant:"

    result = text.generate(PROMPT, model=chatty, max_new_tokens=4, seed=0)
    assert result.manifest.parameters["chat"] is True
    assert result.prompt_tokens == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]
    assert text.generate(messages, model=chatty, max_new_tokens=4, seed=0).manifest.parameters["prompt"] == messages
    plain = text.generate(PROMPT, model=chatty, max_new_tokens=4, seed=0, chat=False)
    assert plain.prompt_tokens == len(tokenizer(PROMPT)["input_ids"]) and plain.manifest.parameters["chat"] is False


def test_results_save_as_text_with_a_manifest_sidecar_that_replays(installed_store, tmp_path):
    result = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=10, seed=8, stop=["zzz"])
    path = result.save(tmp_path, name="story")

    assert path == tmp_path / "story.txt" and path.read_text() == result.text
    record = manifest.read(path)
    assert record == result.manifest
    assert manifest.read(tmp_path / "story.txt.json") == record  # the sidecar itself reads too
    assert text.replay(path).text == result.text
    assert text.replay(path, max_new_tokens=2).new_tokens <= 2


def test_results_save_into_the_outputs_folder_by_default(installed_store):
    from creator_kit.core.config import get_settings

    path = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=2, seed=0).save()
    assert path.parent == get_settings().outputs_dir and path.suffix == ".txt"
    assert Path(f"{path}.json").is_file()  # the manifest sidecar, named after the whole file name


def test_bad_manifests_and_names_are_refused(tmp_path):
    from creator_kit.core.errors import NotFoundError

    with pytest.raises(NotFoundError, match="No manifest"):
        manifest.read(tmp_path / "missing.txt")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="invalid JSON"):
        manifest.read(tmp_path / "broken.json")
    (tmp_path / "partial.json").write_text('{"kind": "text"}')
    with pytest.raises(InvalidInputError, match="missing model, revision, parameters, seed"):
        manifest.read(tmp_path / "partial.json")
    record = manifest.Manifest(kind="image", model="a/b", revision="0" * 40, parameters={}, seed=1)
    with pytest.raises(InvalidInputError, match="plain file name"):
        manifest.save_text("x", record, folder=tmp_path, name="../escape")
    with pytest.raises(InvalidInputError, match=r"text\.replay runs text manifests only"):
        text.replay(record)


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from creator_kit.cli import main

    code = main(["generate", "text", "--model", TINY_GPT2, "--prompt", PROMPT, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_generates_streams_and_saves_the_same_text(installed_store, capsys, tmp_path):
    import json

    expected = text.generate(PROMPT, model=TINY_GPT2, max_new_tokens=8, seed=6).text

    code, out, err = _cli(capsys, "--max-new-tokens", "8", "--seed", "6", "--json")
    assert code == 0 and json.loads(out)["texts"] == [expected]
    assert json.loads(out)["manifest"]["seed"] == 6 and "tokens/s" in err

    code, out, _ = _cli(capsys, "--max-new-tokens", "8", "--seed", "6", "--stream", "--out", str(tmp_path / "s.txt"))
    assert code == 0 and out == expected + "\n"
    assert (tmp_path / "s.txt").read_text() == expected
    assert manifest.read(tmp_path / "s.txt").parameters["max_new_tokens"] == 8


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--temperature", "0"], 2, "temperature must be a number > 0"),
        (["--preset", "wild"], 2, "preset must be one of precise, balanced, creative"),
        (["--max-new-tokens", "0"], 2, "max_new_tokens must be a whole number from 1 to 4096"),
        (["--model", "someone/model"], 3, "creator-kit models download someone/model"),
    ],
)
def test_cli_errors_exit_with_their_code_and_the_fix(installed_store, capsys, args, code, message):
    status, _, err = _cli(capsys, *args)
    assert status == code
    assert message in err and "Traceback" not in err


def test_loading_shows_no_library_bars_and_leaves_their_settings_as_they_were(installed_store, capfd):
    from transformers.utils import logging

    from creator_kit import runtime

    runtime.unload_all()
    logging.enable_progress_bar()
    logging.set_verbosity_warning()
    text.load_model(TINY_GPT2)

    assert "Loading weights" not in capfd.readouterr().err  # progress comes as our own events
    assert logging.is_progress_bar_enabled() and logging.get_verbosity() == logging.WARNING
