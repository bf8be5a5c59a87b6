"""The ``creator-kit`` command: its arguments, and running one sub-command (`creator_kit.commands`).

Errors print one line on stderr and exit with the error's code: 2 bad input, 3 not found or not
installed, 4 unsafe model, 5 network or offline, 6 disk full, 7 integrity, 8 training diverged,
130 cancelled. ``--json`` output is the ``to_dict()`` of the engine's result objects (README).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from creator_kit import commands, commands_bench
from creator_kit.catalog import COMPANION_TASKS, TASKS
from creator_kit.config import DTYPES, configure
from creator_kit.errors import CreatorKitError, InvalidInputError, from_os_error

DTYPE_HELP = "the precision to run in (default: the fastest here, bfloat16 on CPUs with AVX512-BF16 / AMX)"
DECODER_HELP = "full (the model's VAE), tiny (an installed tiny autoencoder: fast drafts), auto, or a tiny one's id"
TRAIN_INTERRUPTED = "the last complete checkpoint is kept: run it again with --resume to continue."


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as the one line every other error is (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"creator-kit: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="creator-kit", description="Local generative AI workbench.")
    parser.set_defaults(interrupted="nothing half-written was kept.")
    parser.add_argument(
        "--models-dir",
        help="the model store (default: $CREATOR_KIT_MODELS_DIR, the project's models/, or ~/creator-kit/models)",
    )
    parser.add_argument("--offline", action="store_true", help="never use the network")
    subcommands = parser.add_subparsers(dest="command", required=True)

    models = subcommands.add_parser("models", help="the local model library")
    models = models.add_subparsers(dest="action", required=True)
    catalog = models.add_parser("catalog", help="curated open models by task")
    catalog.add_argument("--task", choices=(*TASKS, *COMPANION_TASKS))
    catalog.add_argument("--json", action="store_true")
    catalog.set_defaults(handler=commands.cmd_catalog)

    listing = models.add_parser("list", help="installed models")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=commands.cmd_list)

    download = models.add_parser("download", help="download a model into the store (resumes)")
    download.add_argument("repo_id")
    download.add_argument("--revision")
    download.add_argument("--allow-pickle", action="store_true", help="accept pickle weights for this model")
    download.set_defaults(
        handler=commands.cmd_download, interrupted="the bytes fetched so far are kept: run it again to resume."
    )

    info = models.add_parser("info", help="size, memory and whether it fits here")
    info.add_argument("repo_id")
    info.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "int8"])
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=commands.cmd_info)

    bench = models.add_parser("bench", help="measure an installed model's speed here (kept; `info` shows it)")
    bench.add_argument("repo_id")
    bench.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "int8"], help="default: the best here")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=commands_bench.cmd_bench, interrupted="no figures were stored.")

    verify = models.add_parser("verify", help="check installed files against their published checksums")
    verify.add_argument("repo_id")
    verify.set_defaults(handler=commands.cmd_verify)

    remove = models.add_parser("remove", help="delete a model from the store")
    remove.add_argument("repo_id")
    remove.set_defaults(handler=commands.cmd_remove)

    starter = models.add_parser("starter", help="build tiny starter models to try every workflow offline")
    starter.add_argument("--force", action="store_true", help="build them again even if installed")
    starter.add_argument("--json", action="store_true")
    starter.set_defaults(handler=commands.cmd_starter)

    convert = models.add_parser("convert", help="make an OpenVINO (or ONNX Runtime) variant of a model")
    convert.add_argument("repo_id", help="an installed text-generation or text-to-image model id")
    convert.add_argument(
        "--to", required=True, help='openvino, or onnx for text (needs pip install "creator-kit[BACKEND]")'
    )
    convert.add_argument("--int8", action="store_true", help="OpenVINO only: int8 weights, the fastest text path here")
    convert.add_argument("--overwrite", action="store_true", help="make the variant again if it exists")
    convert.add_argument("--json", action="store_true")
    convert.set_defaults(handler=commands.cmd_convert)

    generate = subcommands.add_parser("generate", help="generate with an installed model").add_subparsers(
        dest="kind", required=True
    )
    text = generate.add_parser("text", help="continue a prompt with a text model")
    text.add_argument("--model", required=True, help="an installed text-generation model id")
    text.add_argument("--prompt", required=True)
    text.add_argument("--preset", default="balanced", help="precise, balanced or creative (default: balanced)")
    text.add_argument("--max-new-tokens", type=int)
    text.add_argument("--temperature", type=float)
    text.add_argument("--top-k", type=int)
    text.add_argument("--top-p", type=float)
    text.add_argument("--stop", action="append", help="end the text before this string (repeatable)")
    text.add_argument("--seed", type=int, help="the same seed gives the same text")
    text.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantization (CPU)")
    text.add_argument(
        "--backend", choices=["torch", "openvino", "onnx"], default="torch", help="run the `models convert` variant"
    )
    text.add_argument("--stream", action="store_true", help="print the text as it is generated")
    text.add_argument("--out", help="save the text to this file, with its manifest beside it as FILE.json")
    text.add_argument("--overwrite", action="store_true", help="replace --out (and its manifest) if it exists")
    text.add_argument("--json", action="store_true")
    text.set_defaults(handler=commands.cmd_generate_text)

    picture = generate.add_parser("image", help="render a prompt with a text-to-image model")
    picture.add_argument("--model", required=True, help="an installed text-to-image model id")
    picture.add_argument("--prompt", required=True)
    picture.add_argument("--negative", help="what the image should not show")
    picture.add_argument("--width", type=int, help="a multiple of 8 (default: the model's native size)")
    picture.add_argument("--height", type=int, help="a multiple of 8 (default: the model's native size)")
    picture.add_argument("--steps", type=int, help="sampling steps (default: the catalog's for the model, else 25)")
    picture.add_argument("--guidance", type=float, help="guidance (default: the catalog's for the model, else 7.5)")
    picture.add_argument("--scheduler", help="a diffusers scheduler class name, e.g. EulerDiscreteScheduler")
    picture.add_argument("--seed", type=int, help="the same seed gives the same image")
    picture.add_argument("--batch", type=int, help="images to render; image i uses seed + i")
    picture.add_argument("--dtype", choices=DTYPES, help=DTYPE_HELP)
    picture.add_argument("--decoder", help=DECODER_HELP + " (default: full)")
    picture.add_argument(
        "--backend", choices=["torch", "openvino"], default="torch", help="run the `models convert` variant"
    )
    picture.add_argument("--out", required=True, help="the .png to write (a batch adds -1, -2... to the name)")
    picture.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    picture.add_argument("--json", action="store_true")
    picture.set_defaults(handler=commands.cmd_generate_image)

    clip = generate.add_parser("video", help="make a video: native text-to-video, or a storyboard of images")
    clip.add_argument("--model", required=True, help="an installed text-to-video or text-to-image model id")
    story = clip.add_mutually_exclusive_group(required=True)
    story.add_argument("--prompt", help="the idea of the video")
    story.add_argument("--storyboard", help='a JSON file: a list of scene prompts, or {"scenes": [...], "idea": ...}')
    clip.add_argument("--text-model", help="a text-generation model that writes the scenes from --prompt")
    clip.add_argument("--scenes", type=int, help="how many scenes to make from --prompt (default 3)")
    clip.add_argument("--duration", type=float, help="seconds (default 4; a text-to-video model: its own length)")
    clip.add_argument("--fps", type=int, help="frames per second (default: the model's catalog fps or the quality's)")
    clip.add_argument("--width", type=int, help="a multiple of 8 (default: the model's catalog size or the quality's)")
    clip.add_argument("--height", type=int, help="a multiple of 8 (default: the model's catalog size or the quality's)")
    clip.add_argument("--quality", default="standard", help="draft, standard or high (default: standard)")
    clip.add_argument("--seed", type=int, help="the same seed gives the same video; scene i uses seed + i")
    clip.add_argument("--dtype", choices=DTYPES, help=DTYPE_HELP)
    clip.add_argument("--decoder", help=DECODER_HELP + " (default: the quality's; draft: auto)")
    clip.add_argument("--captions", action="store_true", help="write each scene's prompt over its frames")
    clip.add_argument("--audio", help="an audio file to play under the video (cut or padded to its length)")
    clip.add_argument("--gif", action="store_true", help="also write a GIF beside the MP4")
    clip.add_argument("--out", required=True, help="the .mp4 to write (its manifest goes beside it as FILE.json)")
    clip.add_argument("--overwrite", action="store_true", help="replace --out (and its manifest, sheet, GIF)")
    clip.add_argument("--json", action="store_true")
    clip.set_defaults(handler=commands.cmd_generate_video)

    lab = subcommands.add_parser("lab", help="start JupyterLab on the notebooks (./notebooks, or FOLDER)")
    lab.add_argument("folder", nargs="?", help="the folder to open (default: ./notebooks if it exists, else .)")
    lab.add_argument("--port", type=int, help="the port to listen on (default: JupyterLab's, 8888 or the next free)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    lab.set_defaults(handler=commands.cmd_lab)

    versus = subcommands.add_parser("compare", help="run 2-6 installed models of one task on the same prompts")
    versus.add_argument("--task", choices=["text", "image"], required=True)
    versus.add_argument("--models", nargs="+", required=True, help="2 to 6 installed model ids")
    prompt_source = versus.add_mutually_exclusive_group(required=True)
    prompt_source.add_argument("--prompt", help="one prompt")
    prompt_source.add_argument("--prompts", help="a file of prompts: one per line, or a JSON list")
    versus.add_argument("--seed", type=int, default=0, help="the same seed for every model (default 0)")
    versus.add_argument("--json", action="store_true")
    versus.set_defaults(handler=commands.cmd_compare)
    _add_queue(subcommands)

    reproduce = subcommands.add_parser("reproduce", help="run an output's manifest again and compare")
    reproduce.add_argument("file", help="a PNG or MP4 made by Creator Kit, or a .txt / .json of a text result")
    reproduce.set_defaults(handler=commands.cmd_reproduce)

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
    train_text.set_defaults(handler=commands.cmd_train_text, interrupted=TRAIN_INTERRUPTED)

    train_config = trainer.add_parser("config", help="run a TrainingConfig JSON file (also under accelerate launch)")
    train_config.add_argument("config", help="a TrainingConfig as JSON (TrainingConfig.to_json())")
    train_config.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    train_config.add_argument("--overwrite", action="store_true", help="replace local/NAME, or a stopped run of it")
    train_config.add_argument("--json", action="store_true")
    train_config.set_defaults(handler=commands.cmd_train_config, interrupted=TRAIN_INTERRUPTED)
    return parser


def _add_queue(subcommands: argparse._SubParsersAction) -> None:
    """``creator-kit queue run|status FILE``: a queue file of prompts × models × a parameter grid."""
    from creator_kit import commands_queue

    queue = subcommands.add_parser("queue", help="run a queue file of prompts x models x a parameter grid")
    queue = queue.add_subparsers(dest="action", required=True)
    run = queue.add_parser("run", help="run the pending items (finished ones are skipped: it resumes)")
    run.add_argument("file", help="a queue file, JSON or YAML (README: the queue file format)")
    run.add_argument("--ray", metavar="ADDRESS", help="one Ray task per item on this cluster (creator-kit[cluster])")
    run.add_argument("--json", action="store_true")
    run.set_defaults(
        handler=commands_queue.cmd_queue_run, interrupted="finished items are kept: run it again to resume."
    )
    status = queue.add_parser("status", help="which items are done and which pending, running nothing")
    status.add_argument("file")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=commands_queue.cmd_queue_status)


#: stderr carries the command's own progress and one-line errors: library load bars and advisories stay quiet.
QUIET_LIBRARIES = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def main(argv: Sequence[str] | None = None) -> int:
    for name, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(name, value)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: the libraries stay offline too
    try:
        _require_text(sys.argv[1:] if argv is None else argv)
        configure(models_dir=args.models_dir, offline=True if args.offline else None)  # reads the environment
        return args.handler(args)
    except CreatorKitError as error:
        return _fail(error)
    except OSError as error:  # one the engine did not meet at a write of its own: the same contract
        return _fail(from_os_error(error))
    except KeyboardInterrupt:
        print(f"creator-kit: interrupted; {args.interrupted}", file=sys.stderr)
        return 130


def _require_text(arguments: Sequence[str]) -> None:
    """InvalidInputError for an argument that is not valid text (bytes the terminal's encoding cannot decode)."""
    for argument in arguments:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError as exc:
            shown = argument.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            raise InvalidInputError(f"The argument {shown!r} is not valid UTF-8 text.") from exc


def _fail(error: CreatorKitError) -> int:
    """Print `error` as the one line on stderr, and return its exit code."""
    print(f"creator-kit: error: {error}".splitlines()[0], file=sys.stderr)
    return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
