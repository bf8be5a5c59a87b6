"""Fuzzing every reader of files from outside (Hypothesis): queue files (JSON and YAML), prompts files, storyboards,
manifest sidecars and PNGs, vote files, bench records, store records, training configs.

Whatever the bytes, each read ends in a value or one Creator Kit error, within a time bound (Hypothesis' deadline)
and a memory bound (the process may grow by at most `MEMORY_HEADROOM` while a case runs), and writes nothing.
"""

from __future__ import annotations

import contextlib
import json
import resource
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creator_kit.core.errors import CreatorKitError
from creator_kit.engines import manifest, storyboard
from creator_kit.library import cache
from creator_kit.library.store import ModelStore
from creator_kit.train import TrainingConfig
from creator_kit.workflows import arena, bench, compare, queue_items

MEMORY_HEADROOM = 1 << 30
FUZZ = settings(max_examples=30, deadline=20_000, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
keys = st.sampled_from(["task", "models", "prompts", "grid", "params", "seed", "scenes", "idea", "results", "files"])
shaped = st.dictionaries(keys, values, max_size=5)  # objects with the keys readers look for
deep = st.integers(min_value=1, max_value=20_000).map(lambda n: "[" * n + "]" * n)
many = st.integers(min_value=0, max_value=200_000).map(lambda n: json.dumps({"prompts": [0] * n, "results": [0] * n}))
aliases = st.integers(min_value=1, max_value=12).map(
    lambda n: "a: &a [x, x, x, x]\n" + "".join(f"l{i}: &l{i} [*{'a' if i == 0 else f'l{i - 1}'}] \n" for i in range(n))
)
contents = st.one_of(
    st.binary(max_size=300),
    values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: yaml.safe_dump(v).encode()),
    st.dictionaries(st.integers() | st.booleans() | keys, values, max_size=4).map(lambda v: yaml.safe_dump(v).encode()),
    deep.map(str.encode),
    many.map(str.encode),
    aliases.map(str.encode),
)


@contextlib.contextmanager
def memory_bound() -> Iterator[None]:
    """This process may map at most MEMORY_HEADROOM more while the block runs (past that: MemoryError)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (mapped + MEMORY_HEADROOM, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def readers_of(store: ModelStore) -> dict[str, Callable[[Path], Any]]:
    """Each reader, as a call on a file at a path (with the suffix it expects)."""
    return {
        "queue.json": lambda path: queue_items.load(path, store),
        "queue.yaml": lambda path: queue_items.load(path, store),
        "prompts.txt": compare.read_prompts,
        "storyboard.json": storyboard.read_file,
        "result.txt.json": manifest.read,
        "picture.png": manifest.read,
        "votes.jsonl": lambda path: arena.leaderboard(arena.read_votes(path)),
        "bench.json": bench._read,
        "models--fuzz--model/creator-kit.json": lambda path: cache.describe(path.parent),
        "config.json": TrainingConfig.from_json,
    }


@pytest.fixture
def empty_store(tmp_path):
    return ModelStore(tmp_path / "models", offline=True)


READERS = list(readers_of(ModelStore(Path("unused"), offline=True)))


@pytest.mark.parametrize("name", READERS)
@FUZZ
@given(content=contents)
def test_every_reader_ends_in_a_value_or_one_creator_kit_error(empty_store, tmp_path, name, content):
    read = readers_of(empty_store)[name]
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    with memory_bound():
        try:
            read(path)
        except CreatorKitError as error:
            assert str(error).strip() and "\n" not in str(error).strip()
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # reading writes nothing
