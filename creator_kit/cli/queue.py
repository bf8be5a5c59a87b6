"""The ``creator-kit queue`` sub-commands: run a queue file (resuming it), or say where it stands."""

from __future__ import annotations

import argparse
import sys

from creator_kit.cli.output import print_json
from creator_kit.core.events import TqdmReporter


def register(subcommands: argparse._SubParsersAction) -> None:
    queue = subcommands.add_parser("queue", help="run a queue file of prompts x models x a parameter grid")
    queue = queue.add_subparsers(dest="action", required=True)
    run = queue.add_parser("run", help="run the pending items (finished ones are skipped: it resumes)")
    run.add_argument("file", help="a queue file, JSON or YAML (README: the queue file format)")
    run.add_argument("--ray", metavar="ADDRESS", help="one Ray task per item on this cluster (creator-kit[cluster])")
    run.add_argument("--json", action="store_true")
    run.set_defaults(handler=cmd_queue_run, interrupted="finished items are kept: run it again to resume.")
    status = queue.add_parser("status", help="which items are done and which pending, running nothing")
    status.add_argument("file")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_queue_status)


def cmd_queue_run(args: argparse.Namespace) -> int:
    from creator_kit.workflows import queue

    with TqdmReporter(file=sys.stderr) as reporter:
        done = queue.run(args.file, ray_address=args.ray, on_event=reporter)
    if args.json:
        print_json(done.to_dict())
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
    from creator_kit.engines.image import axis_label
    from creator_kit.workflows import queue

    state = queue.status(args.file)
    if args.json:
        print_json(state.to_dict())
        return 0
    for item in state.items:
        line = (
            f"{item['state']:<8} {item['id']}  {item['model']}  {item['prompt'][:40]!r}  {axis_label(item['values'])}"
        )
        print(line.rstrip())
    print(f"{state.done} done, {state.pending} pending, {state.total} in all ({state.folder})")
    return 0
