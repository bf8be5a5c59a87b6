"""The ``creator-kit queue`` sub-commands: run a queue file (resuming it), or say where it stands."""

from __future__ import annotations

import argparse
import json
import sys

from creator_kit.events import TqdmReporter


def cmd_queue_run(args: argparse.Namespace) -> int:
    from creator_kit import queue

    with TqdmReporter(file=sys.stderr) as reporter:
        done = queue.run(args.file, ray_address=args.ray, on_event=reporter)
    if args.json:
        print(json.dumps(done.to_dict(), indent=2, sort_keys=True))
    else:
        for record in done.records:
            print(done.folder / record["output"])
    print(
        f"{len(done.ran)} item(s) run, {len(done.skipped)} done already; outputs in {done.folder}"
        + (f", contact sheet {done.sheet}" if done.sheet else ""),
        file=sys.stderr,
    )
    return 0


def cmd_queue_status(args: argparse.Namespace) -> int:
    from creator_kit import queue
    from creator_kit.image import axis_label

    state = queue.status(args.file)
    if args.json:
        print(json.dumps(state.to_dict(), indent=2, sort_keys=True))
        return 0
    for item in state.items:
        line = (
            f"{item['state']:<8} {item['id']}  {item['model']}  {item['prompt'][:40]!r}  {axis_label(item['values'])}"
        )
        print(line.rstrip())
    print(f"{state.done} done, {state.pending} pending, {state.total} in all ({state.folder})")
    return 0
