"""``creator-kit train text|config``: fine-tune an installed text model, or run a saved `TrainingConfig` (also as
``accelerate launch -m creator_kit train config RUN.json``)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from creator_kit.cli.output import print_json
from creator_kit.core.events import TqdmReporter

TRAIN_INTERRUPTED = "the last complete checkpoint is kept: run it again with --resume to continue."


def register(subcommands: argparse._SubParsersAction) -> None:
    trainer = subcommands.add_parser("train", help="fine-tune a model on your own data").add_subparsers(
        dest="kind", required=True
    )
    train_text = trainer.add_parser("text", help="fine-tune an installed text model (full or LoRA)")
    train_text.add_argument("--model", required=True, help="an installed text-generation model id")
    train_text.add_argument("--data", required=True, help="a .txt, .csv or .jsonl file, or a folder of .txt files")
    train_text.add_argument("--text-column", default="text", help="the text column of .csv / .jsonl data")
    train_text.add_argument("--name", help="the new model is local/NAME (default: <model>-finetuned)")
    train_text.add_argument("--epochs", type=int)
    train_text.add_argument("--batch-size", type=int)
    train_text.add_argument("--lr", type=float, help="learning rate")
    train_text.add_argument("--lora", action="store_true", help="train a LoRA adapter (merged into the result)")
    train_text.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    train_text.add_argument("--eval-every", type=int, help="evaluate and checkpoint every N steps")
    train_text.add_argument("--seed", type=int)
    train_text.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    train_text.add_argument("--overwrite", action="store_true", help="replace local/NAME, or a stopped run of it")
    train_text.add_argument("--json", action="store_true")
    train_text.set_defaults(handler=cmd_train_text, interrupted=TRAIN_INTERRUPTED)

    train_config = trainer.add_parser("config", help="run a TrainingConfig JSON file (also under accelerate launch)")
    train_config.add_argument("config", help="a TrainingConfig as JSON (TrainingConfig.to_json())")
    train_config.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    train_config.add_argument("--overwrite", action="store_true", help="replace local/NAME, or a stopped run of it")
    train_config.add_argument("--json", action="store_true")
    train_config.set_defaults(handler=cmd_train_config, interrupted=TRAIN_INTERRUPTED)


def cmd_train_text(args: argparse.Namespace) -> int:
    from creator_kit import train

    options = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "max_steps": args.max_steps,
        "eval_every": args.eval_every,
        "seed": args.seed,
    }
    config = train.TrainingConfig(
        model=args.model,
        data=args.data,
        text_column=args.text_column,
        name=args.name,
        lora=args.lora,
        overwrite=args.overwrite,
        **{key: value for key, value in options.items() if value is not None},
    )
    return _train(config, resume=args.resume, as_json=args.json)


def cmd_train_config(args: argparse.Namespace) -> int:
    from creator_kit import train

    config = train.TrainingConfig.from_json(args.config)
    if args.overwrite:
        config = dataclasses.replace(config, overwrite=True)
    return _train(config, resume=args.resume, as_json=args.json)


def _train(config: Any, *, resume: bool, as_json: bool) -> int:
    """Run `config` with progress on stderr; print the new model's line (or its --json) on the main process."""
    from creator_kit import train

    with TqdmReporter(file=sys.stderr) as reporter:
        result = train.train(config, resume=resume, on_event=reporter)
    if result.model is None:  # not the main process of a distributed run: rank 0 reports
        return 0
    if as_json:
        print_json(result.to_dict())
        return 0
    metrics = ", ".join(f"{name} {value:.4g}" for name, value in result.metrics.items())
    print(f"{result.model.repo_id}: {result.steps} steps, best at step {result.best_step} ({metrics})")
    return 0
