"""Fuzzing with Hypothesis: untrusted manifests (PNG text chunks, JSON sidecars) and CLI argument values.

Whatever comes in, each run ends with an exit code from the contract, one line on stderr, no traceback,
and no file written outside the output folder. Offline throughout: nothing reaches the network.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from creator_kit.cli import main as cli_main

#: Every exit status the CLI may end with (README: errors and exit codes).
CONTRACT = {0, 1, 2, 3, 4, 5, 6, 7, 8, 130}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
names = st.sampled_from(["kind", "model", "revision", "parameters", "seed", "versions", "created", "schema"])
parameter_names = st.sampled_from(
    ["prompt", "idea", "device", "steps", "width", "height", "seed", "frames_sha256", "chat", "quantize", "batch_index"]
)
manifests = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["text", "image", "video", "model", "image-sweep"]) | st.text(max_size=10),
        "model": st.sampled_from(["tiny/none", "../../etc/passwd", "local/x", ""]) | st.text(max_size=20),
        "revision": st.text(alphabet="0123456789abcdef", min_size=0, max_size=40) | st.text(max_size=10),
        "parameters": st.dictionaries(parameter_names | st.text(max_size=8), values, max_size=6) | values,
        "seed": values,
    },
).flatmap(lambda base: st.dictionaries(names, values, max_size=2).map(lambda extra: {**extra, **base}))


def run(argv: list[str]) -> tuple[int, str]:
    """`creator-kit argv` in this process: its exit code and its stderr (argparse's SystemExit included).

    Exit 1 is `reproduce`'s "the output differs", said on stdout: it comes back as stderr's one line here.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = cli_main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue() if code == 1 and "DIFFERS" in out.getvalue() else err.getvalue()


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def assert_contract(code: int, err: str) -> None:
    assert code in CONTRACT, (code, err)
    assert "Traceback" not in err and "This is a bug" not in err, err  # the boundary's line is a bug found
    if code != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and (lines[0].startswith("creator-kit: ") or "DIFFERS" in lines[0]), err


@pytest.fixture
def offline_store(tmp_path, monkeypatch):
    """An empty store, offline, with outputs in their own folder; the current folder is a scratch one.

    Offline by Creator Kit's own flag: `--offline` would set HF_HUB_OFFLINE in this test process for good.
    """
    monkeypatch.setenv("CREATOR_KIT_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return ["--models-dir", str(tmp_path / "models")]


@FUZZ
@given(data=manifests, carrier=st.sampled_from(["png", "json", "json-bytes"]), raw=st.binary(max_size=64))
def test_any_manifest_ends_in_the_contract(offline_store, tmp_path, data, carrier, raw):
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        folder = Path(scratch)
        if carrier == "png":
            path = folder / "found.png"
            info = PngInfo()
            info.add_text("creator-kit", json.dumps(data, default=str))
            Image.new("RGB", (8, 8)).save(path, pnginfo=info)
        else:
            path = folder / "found.txt"
            path.write_text("some text", encoding="utf-8")
            body = json.dumps(data, default=str).encode() if carrier == "json" else raw
            Path(f"{path}.json").write_bytes(body)
        before = files_under(tmp_path)
        code, err = run([*offline_store, "reproduce", str(path)])
        assert_contract(code, err)
        assert files_under(tmp_path) <= before  # reproduce writes nothing of its own here


text_values = st.text(max_size=30) | st.sampled_from(["..", "/", "-1", "nan", "inf", "1e309", "0", "local/x", "\x00"])
numbers = st.integers(min_value=-(2**40), max_value=2**40).map(str) | st.sampled_from(
    ["nan", "inf", "-inf", "1e400", "x", ""]
)
commands = st.sampled_from(
    [
        ["models", "info", "{t}"],
        ["models", "download", "{t}", "--revision", "{t}"],
        ["models", "verify", "{t}"],
        ["models", "remove", "{t}"],
        ["generate", "text", "--model", "{t}", "--prompt", "{t}", "--temperature", "{n}", "--max-new-tokens", "{n}"],
        [
            "generate",
            "image",
            "--model",
            "{t}",
            "--prompt",
            "{t}",
            "--width",
            "{n}",
            "--guidance",
            "{n}",
            "--out",
            "outputs/{t}.png",
        ],
        [
            "generate",
            "video",
            "--model",
            "{t}",
            "--prompt",
            "{t}",
            "--duration",
            "{n}",
            "--fps",
            "{n}",
            "--out",
            "outputs/{t}.mp4",
        ],
        ["train", "text", "--model", "{t}", "--data", "{t}", "--name", "{t}", "--lr", "{n}", "--epochs", "{n}"],
        ["reproduce", "{t}"],
    ]
)


@FUZZ
@given(
    template=commands,
    texts=st.lists(text_values, min_size=6, max_size=6),
    ints=st.lists(numbers, min_size=4, max_size=4),
)
def test_any_argument_values_end_in_the_contract(offline_store, tmp_path, template, texts, ints):
    filled, t, n = [], iter(texts), iter(ints)
    for part in template:
        filled.append(part.replace("{t}", next(t, "x"), 1).replace("{n}", next(n, "1"), 1))
    outputs = tmp_path / "outputs"
    before = {p for p in files_under(tmp_path) if outputs not in p.parents}
    code, err = run([*offline_store, *filled])
    assert_contract(code, err)
    written = {p for p in files_under(tmp_path) if outputs not in p.parents} - before
    assert not {p for p in written if (tmp_path / "models") not in p.parents}, written


@FUZZ
@given(
    changes=st.dictionaries(
        parameter_names | st.sampled_from(["temperature", "top_k", "stop", "max_new_tokens"]),
        values,
        min_size=1,
        max_size=3,
    )
)
def test_a_real_manifest_with_any_parameter_values_ends_in_the_contract(installed_store, tmp_path, changes):
    from conftest import TINY_GPT2

    from creator_kit import text

    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        saved = text.generate("Once", model=TINY_GPT2, max_new_tokens=2, seed=1).save(out=Path(scratch) / "t.txt")
        sidecar = Path(f"{saved}.json")
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        data["parameters"].update(changes)
        sidecar.write_text(json.dumps(data, default=str), encoding="utf-8")
        code, err = run(["reproduce", str(saved)])
        assert_contract(code, err)
