"""The ``creator-kit`` command.

Errors print one line on stderr and exit with the error's code: 2 bad input, 3 not found or not
installed, 4 unsafe weights, 5 network or offline, 6 disk, 7 integrity, 130 cancelled.
``--json`` output is the ``to_dict()`` of the engine's result objects (documented in the README).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from creator_kit.cache import InstalledModel
from creator_kit.catalog import TASKS
from creator_kit.config import DTYPES, configure
from creator_kit.errors import CreatorKitError, IntegrityError, InvalidInputError, from_os_error
from creator_kit.events import TqdmReporter
from creator_kit.sizing import human_size
from creator_kit.store import ModelStore

Handler = Callable[[argparse.Namespace], int]


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_catalog(args: argparse.Namespace) -> int:
    entries = ModelStore().catalog(args.task)
    if args.json:
        _print_json([e.to_dict() for e in entries])
        return 0
    _table(
        [[e.task, e.repo_id, human_size(e.size_bytes), f"{e.parameters / 1e6:.0f}M", e.license] for e in entries],
        ["TASK", "MODEL", "DOWNLOAD", "PARAMS", "LICENCE"],
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    models = ModelStore().installed()
    if args.json:
        _print_json([m.to_dict() for m in models])
        return 0
    if not models:
        print("No models installed. See `creator-kit models catalog`, then `creator-kit models download REPO_ID`.")
        return 0
    _models_table(models)
    return 0


def _models_table(models: list[InstalledModel]) -> None:
    _table(
        [[m.repo_id, m.task or "?", m.status, human_size(m.size_on_disk), m.commit[:12]] for m in models],
        ["MODEL", "TASK", "STATUS", "ON DISK", "COMMIT"],
    )


def cmd_starter(args: argparse.Namespace) -> int:
    from creator_kit.starter import build_starters

    with TqdmReporter(file=sys.stderr) as reporter:
        models = build_starters(force=args.force, on_event=reporter)
    if args.json:
        _print_json([m.to_dict() for m in models])
    else:
        _models_table(models)
    print(
        "These are starter models for trying the workflow offline: download a real model for real results "
        "(see `creator-kit models catalog`).",
        file=sys.stderr if args.json else sys.stdout,
    )
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    with TqdmReporter(file=sys.stderr) as reporter:
        model = ModelStore().download(args.repo_id, args.revision, allow_pickle=args.allow_pickle, on_event=reporter)
    print(f"{model.repo_id} @ {model.commit[:12]}: {model.status}, {human_size(model.size_on_disk)} in {model.path}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    info = ModelStore().info(args.repo_id, dtype=args.dtype)
    if args.json:
        _print_json(info.to_dict())
        return 0
    print(f"{info.repo_id} ({info.task or 'unknown task'}) - {info.status}")
    if info.description:
        print(f"  {info.description}")
    print(f"  parameters      {info.parameters / 1e6:.1f}M")
    print(
        f"  download        {human_size(info.download_bytes)} "
        f"(disk: {info.disk.verdict}, {human_size(info.disk.available)} free)"
    )
    print(f"  on disk         {human_size(info.size_on_disk)}")
    print(
        f"  memory to load  {human_size(info.memory.needed)} as {info.dtype} on {info.device} "
        f"({info.memory.verdict}, {human_size(info.memory.available)} available)"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    report = ModelStore().verify(args.repo_id)
    if not report.ok:
        raise IntegrityError(f"{report.repo_id}: {'; '.join(report.problems)}. To repair it, {report.repair}.")
    print(f"{report.repo_id}: {report.checked_files} files match their published checksums.")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    freed = ModelStore().remove(args.repo_id)
    print(f"Removed {args.repo_id}, freed {human_size(freed)}.")
    return 0


def cmd_generate_text(args: argparse.Namespace) -> int:
    from creator_kit import manifest, text

    options = {
        "model": args.model,
        "preset": args.preset,
        "quantize": args.quantize,
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "stop": args.stop,
        "seed": args.seed,
    }
    if args.out:  # before any work: the file must be new (or --overwrite) and its folder writable
        manifest.output_path("text", Path(args.out).suffix.lstrip("."), out=args.out, overwrite=args.overwrite)
    if args.stream:
        pieces = text.stream(args.prompt, **options)
        for piece in pieces:
            print(piece, end="", flush=True, file=sys.stderr if args.json else sys.stdout)
        print(file=sys.stderr if args.json else sys.stdout)
        result = pieces.result
    else:
        result = text.generate(args.prompt, **options)
    if args.json:
        _print_json(result.to_dict())
    elif not args.stream:
        print(result.text)
    if args.out:
        saved = result.save(out=args.out, overwrite=args.overwrite)
        print(f"Saved {saved} (manifest: {manifest.sidecar(saved)})", file=sys.stderr)
    print(
        f"{result.new_tokens} tokens in {result.elapsed_s:.2f} s ({result.tokens_per_s:.1f} tokens/s), "
        f"seed {result.manifest.seed}, {result.finish_reason}",
        file=sys.stderr,
    )
    return 0


def cmd_generate_image(args: argparse.Namespace) -> int:
    from creator_kit import image, manifest

    for path in image.batch_paths(args.out, args.batch or 1):  # before any work: new files, a writable folder
        manifest.output_path("image", "png", out=path, overwrite=args.overwrite)
    params = {
        "negative_prompt": args.negative or "",
        "width": args.width,
        "height": args.height,
        "steps": args.steps,
        "guidance": args.guidance,
        "scheduler": args.scheduler,
        "seed": args.seed,
        "batch": args.batch,
    }
    with TqdmReporter(file=sys.stderr) as reporter:
        result = image.generate(
            args.prompt,
            model=args.model,
            dtype=args.dtype,
            previews=False,
            on_event=reporter,
            **{key: value for key, value in params.items() if value is not None},
        )
    paths = result.save(out=args.out, overwrite=args.overwrite)
    if args.json:
        _print_json(
            {"paths": [str(p) for p in paths], "elapsed_s": result.elapsed_s, "manifest": result.manifest.to_dict()}
        )
    else:
        for path in paths:
            print(path)
    print(f"{len(paths)} image(s) in {result.elapsed_s:.1f} s, seed {result.manifest.seed}", file=sys.stderr)
    return 0


def cmd_generate_video(args: argparse.Namespace) -> int:
    from creator_kit import storyboard, video

    story = storyboard.read_file(args.storyboard) if args.storyboard else storyboard.Story(args.prompt or "")
    options = {
        "n_scenes": args.scenes,
        "duration": args.duration,
        "fps": args.fps,
        "width": args.width,
        "height": args.height,
        "quality": args.quality,
        "seed": args.seed,
        "audio": args.audio,
    }
    with TqdmReporter(file=sys.stderr) as reporter:
        result = video.generate(
            story.idea,
            model=args.model,
            text_model=args.text_model,
            dtype=args.dtype,
            scenes=story.scenes,
            scene_seconds=story.scene_seconds,
            caption_texts=story.caption_texts,
            captions=args.captions,
            gif=args.gif,
            out=args.out,
            overwrite=args.overwrite,
            on_event=reporter,
            **{key: value for key, value in options.items() if value is not None},
        )
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.path)
    print(
        f"{len(result.frames)} frames, {result.duration_s:g} s at {result.fps} fps in {result.elapsed_s:.1f} s "
        f"({', '.join(f'{stage} {seconds:.1f} s' for stage, seconds in result.stage_seconds.items())}), "
        f"seed {result.manifest.seed}",
        file=sys.stderr,
    )
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from creator_kit.manifest import reproduce

    reproduction = reproduce(args.file)
    print(reproduction.summary())
    return 0 if reproduction.matches else 1


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
        _print_json(result.to_dict())
        return 0
    metrics = ", ".join(f"{name} {value:.4g}" for name, value in result.metrics.items())
    print(f"{result.model.repo_id}: {result.steps} steps, best at step {result.best_step} ({metrics})")
    return 0


#: JupyterLab asks jupyter.org for news and newer versions, and PyPI for extensions; Creator Kit turns all three off.
LAB_PRIVACY = [
    "--LabApp.news_url=None",  # None, not "": JupyterLab turns the feed off only for None
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
]


def cmd_lab(args: argparse.Namespace) -> int:
    folder = Path(args.folder or ("notebooks" if Path("notebooks").is_dir() else "."))
    if not folder.is_dir():
        raise InvalidInputError(f"{folder} is not a folder; give the folder of your notebooks.")
    if args.models_dir:
        os.environ["CREATOR_KIT_MODELS_DIR"] = str(Path(args.models_dir).resolve())  # the kernels' store too
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder.resolve()}", *LAB_PRIVACY]
    command += [f"--ServerApp.port={args.port}"] if args.port else []
    command += ["--no-browser"] if args.no_browser else []
    command += ["--allow-root"] if os.geteuid() == 0 else []  # as in a container: JupyterLab refuses root without it
    print(f"Starting JupyterLab on {folder.resolve()} (Ctrl-C stops it).", file=sys.stderr)
    os.execv(sys.executable, command)
    return 0  # not reached: JupyterLab replaces this process


DTYPE_HELP = "the precision to run in (default: the fastest here, bfloat16 on CPUs with AVX512-BF16 / AMX)"
TRAIN_INTERRUPTED = "the last complete checkpoint is kept: run it again with --resume to continue."


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as the one line every other error is (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"creator-kit: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="creator-kit", description="Local generative AI workbench.")
    parser.set_defaults(interrupted="nothing half-written was kept.")
    parser.add_argument("--models-dir", help="the model store (default: $CREATOR_KIT_MODELS_DIR or ./models)")
    parser.add_argument("--offline", action="store_true", help="never use the network")
    commands = parser.add_subparsers(dest="command", required=True)

    models = commands.add_parser("models", help="the local model library").add_subparsers(dest="action", required=True)
    catalog = models.add_parser("catalog", help="curated open models by task")
    catalog.add_argument("--task", choices=TASKS)
    catalog.add_argument("--json", action="store_true")
    catalog.set_defaults(handler=cmd_catalog)

    listing = models.add_parser("list", help="installed models")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)

    download = models.add_parser("download", help="download a model into the store (resumes)")
    download.add_argument("repo_id")
    download.add_argument("--revision")
    download.add_argument("--allow-pickle", action="store_true", help="accept pickle weights for this model")
    download.set_defaults(
        handler=cmd_download, interrupted="the bytes fetched so far are kept: run it again to resume."
    )

    info = models.add_parser("info", help="size, memory and whether it fits here")
    info.add_argument("repo_id")
    info.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "int8"])
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=cmd_info)

    verify = models.add_parser("verify", help="check installed files against their published checksums")
    verify.add_argument("repo_id")
    verify.set_defaults(handler=cmd_verify)

    remove = models.add_parser("remove", help="delete a model from the store")
    remove.add_argument("repo_id")
    remove.set_defaults(handler=cmd_remove)

    starter = models.add_parser("starter", help="build tiny starter models to try every workflow offline")
    starter.add_argument("--force", action="store_true", help="build them again even if installed")
    starter.add_argument("--json", action="store_true")
    starter.set_defaults(handler=cmd_starter)

    generate = commands.add_parser("generate", help="generate with an installed model").add_subparsers(
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
    text.add_argument("--stream", action="store_true", help="print the text as it is generated")
    text.add_argument("--out", help="save the text to this file, with its manifest beside it as FILE.json")
    text.add_argument("--overwrite", action="store_true", help="replace --out (and its manifest) if it exists")
    text.add_argument("--json", action="store_true")
    text.set_defaults(handler=cmd_generate_text)

    picture = generate.add_parser("image", help="render a prompt with a text-to-image model")
    picture.add_argument("--model", required=True, help="an installed text-to-image model id")
    picture.add_argument("--prompt", required=True)
    picture.add_argument("--negative", help="what the image should not show")
    picture.add_argument("--width", type=int, help="a multiple of 8 (default: the model's native size)")
    picture.add_argument("--height", type=int, help="a multiple of 8 (default: the model's native size)")
    picture.add_argument("--steps", type=int, help="sampling steps (default 25)")
    picture.add_argument("--guidance", type=float, help="classifier-free guidance scale (default 7.5)")
    picture.add_argument("--scheduler", help="a diffusers scheduler class name, e.g. EulerDiscreteScheduler")
    picture.add_argument("--seed", type=int, help="the same seed gives the same image")
    picture.add_argument("--batch", type=int, help="images to render; image i uses seed + i")
    picture.add_argument("--dtype", choices=DTYPES, help=DTYPE_HELP)
    picture.add_argument("--out", required=True, help="the .png to write (a batch adds -1, -2... to the name)")
    picture.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    picture.add_argument("--json", action="store_true")
    picture.set_defaults(handler=cmd_generate_image)

    clip = generate.add_parser("video", help="make a video: native text-to-video, or a storyboard of images")
    clip.add_argument("--model", required=True, help="an installed text-to-video or text-to-image model id")
    story = clip.add_mutually_exclusive_group(required=True)
    story.add_argument("--prompt", help="the idea of the video")
    story.add_argument("--storyboard", help='a JSON file: a list of scene prompts, or {"scenes": [...], "idea": ...}')
    clip.add_argument("--text-model", help="a text-generation model that writes the scenes from --prompt")
    clip.add_argument("--scenes", type=int, help="how many scenes to make from --prompt (default 3)")
    clip.add_argument("--duration", type=float, help="seconds (default 4; a text-to-video model: its own length)")
    clip.add_argument("--fps", type=int, help="frames per second (default: the quality's)")
    clip.add_argument("--width", type=int, help="a multiple of 8 (default: the quality's)")
    clip.add_argument("--height", type=int, help="a multiple of 8 (default: the quality's)")
    clip.add_argument("--quality", default="standard", help="draft, standard or high (default: standard)")
    clip.add_argument("--seed", type=int, help="the same seed gives the same video; scene i uses seed + i")
    clip.add_argument("--dtype", choices=DTYPES, help=DTYPE_HELP)
    clip.add_argument("--captions", action="store_true", help="write each scene's prompt over its frames")
    clip.add_argument("--audio", help="an audio file to play under the video (cut or padded to its length)")
    clip.add_argument("--gif", action="store_true", help="also write a GIF beside the MP4")
    clip.add_argument("--out", required=True, help="the .mp4 to write (its manifest goes beside it as FILE.json)")
    clip.add_argument("--overwrite", action="store_true", help="replace --out (and its manifest, sheet, GIF)")
    clip.add_argument("--json", action="store_true")
    clip.set_defaults(handler=cmd_generate_video)

    lab = commands.add_parser("lab", help="start JupyterLab on the notebooks (./notebooks, or FOLDER)")
    lab.add_argument("folder", nargs="?", help="the folder to open (default: ./notebooks if it exists, else .)")
    lab.add_argument("--port", type=int, help="the port to listen on (default: JupyterLab's, 8888 or the next free)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    lab.set_defaults(handler=cmd_lab)

    reproduce = commands.add_parser("reproduce", help="run an output's manifest again and compare")
    reproduce.add_argument("file", help="a PNG or MP4 made by Creator Kit, or a .txt / .json of a text result")
    reproduce.set_defaults(handler=cmd_reproduce)

    trainer = commands.add_parser("train", help="fine-tune a model on your own data").add_subparsers(
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
    return parser


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
