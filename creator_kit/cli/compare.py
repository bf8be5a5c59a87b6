"""``creator-kit compare``: 2 to 6 installed models of one task on the same prompts, side by side."""

from __future__ import annotations

import argparse
import sys

from creator_kit.cli.output import print_json
from creator_kit.core.errors import InvalidInputError
from creator_kit.core.events import TqdmReporter
from creator_kit.library.store import ModelStore


def register(subcommands: argparse._SubParsersAction) -> None:
    versus = subcommands.add_parser("compare", help="run 2-6 installed models of one task on the same prompts")
    versus.add_argument("--task", choices=["text", "image"], required=True)
    versus.add_argument("--models", nargs="+", required=True, help="2 to 6 installed model ids")
    prompt_source = versus.add_mutually_exclusive_group(required=True)
    prompt_source.add_argument("--prompt", help="one prompt")
    prompt_source.add_argument("--prompts", help="a file of prompts: one per line, or a JSON list")
    versus.add_argument("--seed", type=int, default=0, help="the same seed for every model (default 0)")
    versus.add_argument("--json", action="store_true")
    versus.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from creator_kit.workflows import compare

    prompts = compare.read_prompts(args.prompts) if args.prompts else [args.prompt]
    store = ModelStore()
    task, _, _ = compare.check(prompts, args.models, store)  # before any model loads
    if task != {"text": "text-generation", "image": "text-to-image"}[args.task]:
        raise InvalidInputError(f"--task {args.task}, but the models are {task} models.")
    with TqdmReporter(file=sys.stderr) as reporter:
        comparison = compare.run(prompts, models=args.models, seed=args.seed, store=store, on_event=reporter)
    if args.json:
        print_json(comparison.to_dict())
    else:
        print(comparison.to_markdown(), end="")
        print(f"Outputs, each with its manifest: {comparison.folder}", file=sys.stderr)
    return 0
