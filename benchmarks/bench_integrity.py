"""Integrity check at load: what `ModelStore.check_before_load` costs, against a plain sha256 of the same file.

Run it from the repository root:

    .venv/bin/python benchmarks/bench_integrity.py [--megabytes 500] [--repeats 5] [--no-write]

A model of one safetensors file of random float32 values (500 MB by default) plus a config.json is
registered as a local model in a scratch store under the system temp folder. In the same run, alternating:

- unchanged: ``check_before_load`` with every stamp as recorded (the cost of every load of an intact model);
- one changed file: the weights' mtime is moved (content kept), so the check re-hashes that file, finds
  it intact and stamps it again (the cost of the first load after a file was touched, or after an
  upgrade from a store without stamps);
- raw: ``hashlib.file_digest(f, "sha256")`` of the same file, the library baseline;
- full: ``ModelStore.verify``, which re-hashes every file whatever its stamp.

The file is read from the page cache in all of them (it was just written). Medians are reported. The
"## Integrity check at load" section of benchmarks/RESULTS.md is replaced (or appended).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from results_file import RESULTS, write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Integrity check at load"
MODEL = "local/bench-integrity"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, default=RESULTS, help="the RESULTS.md to update (default: ours)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    from tiny_models import write_random_safetensors

    from creator_kit.library.store import ModelStore

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="creator-kit-bench-integrity-") as scratch:
        folder = Path(scratch) / "model"
        write_random_safetensors(folder / "model.safetensors", args.megabytes * 1_000_000)
        (folder / "config.json").write_text('{"model_type": "random-weights"}')
        store = ModelStore(Path(scratch) / "models", offline=True, user_cache=Path(scratch) / "no-user-cache")
        store.register_local(MODEL, folder, task="text-generation")
        weights = (Path(store.get(MODEL).path) / "model.safetensors").resolve()
        size_mb = weights.stat().st_size / 1e6

        def touch_then_check() -> float:
            status = weights.stat()
            os.utime(weights, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000))
            return timed(lambda: store.check_before_load(MODEL))

        def raw_sha256() -> str:
            with weights.open("rb") as f:
                return hashlib.file_digest(f, "sha256").hexdigest()

        times: dict[str, list[float]] = {"unchanged": [], "changed": [], "raw": [], "full": []}
        for _ in range(args.repeats):
            times["unchanged"].append(timed(lambda: store.check_before_load(MODEL)))
            times["changed"].append(touch_then_check())
            times["raw"].append(timed(raw_sha256))
            times["full"].append(timed(lambda: store.verify(MODEL)))

    median = {name: statistics.median(values) for name, values in times.items()}
    spread = {name: (min(values), max(values)) for name, values in times.items()}
    rows = [
        ("`check_before_load`, nothing changed", "unchanged"),
        ("`check_before_load`, the weights' stamp changed (re-hash)", "changed"),
        ("raw `hashlib.file_digest(f, 'sha256')` of the weights", "raw"),
        ("`ModelStore.verify` (every file re-hashed)", "full"),
    ]
    table = "\n".join(
        f"| {label} | {median[key] * 1000:,.2f} | {spread[key][0] * 1000:,.2f} | {spread[key][1] * 1000:,.2f} | "
        f"{median[key] / median['raw']:.3f} |"
        for label, key in rows
    )
    section = f"""{SECTION}

`benchmarks/bench_integrity.py --megabytes {args.megabytes} --repeats {args.repeats}`, {date.today().isoformat()}:
a registered local model of one safetensors file of random float32 values ({size_mb:,.1f} MB) plus a
config.json, in a scratch store on the local disk, read from the page cache. Machine: {os.cpu_count()} CPU cores,
{platform.system()}, Python {platform.python_version()}; 1-minute load average {load[0]:.2f} at the start and
{os.getloadavg()[0]:.2f} at the end (the cores are shared). Median of {args.repeats} alternating runs.

| what | median ms | min ms | max ms | / raw sha256 |
|---|---:|---:|---:|---:|
{table}

Reading: checking an unchanged model costs a stat per file and reading its record and config files,
whatever its size ({median["unchanged"] * 1000:,.2f} ms here, the remote-code check included). A file whose
stamp (size, mtime_ns, inode) changed is re-hashed at {size_mb / median["changed"]:,.0f} MB/s,
{median["changed"] / median["raw"]:.2f}x the plain sha256 of the same file: the hash is the whole cost, so a
multi-GB model touched since its last check takes seconds more at its next load, once. Bytes rewritten in
place with the mtime set back keep the stamp: only `models verify` (the full re-hash) catches them.
"""
    print(section)
    if not args.no_write:
        write_section(section, args.results)


if __name__ == "__main__":
    main()
