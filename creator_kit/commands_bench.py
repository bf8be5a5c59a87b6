"""``creator-kit models bench REPO``: measure an installed model on this machine (`creator_kit.bench`)."""

from __future__ import annotations

import argparse
import json
import sys

from creator_kit.events import TqdmReporter
from creator_kit.sizing import human_size


def cmd_bench(args: argparse.Namespace) -> int:
    from creator_kit import bench

    with TqdmReporter(file=sys.stderr) as reporter:
        result = bench.run(args.repo_id, dtype=args.dtype, on_event=reporter)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return 0
    print(f"{result.repo_id}: {result.summary()}")
    print(f"  load            {result.figures['load_s']:.1f} s")
    print(f"  peak memory     {human_size(result.figures['peak_memory_bytes'])} (loading and running)")
    print(f"  machine         {result.machine['processor']}, {result.machine['threads']} threads")
    return 0
