"""What each ``creator-kit`` sub-command does: one engine call, its output in words or ``--json``.

`creator_kit.cli` builds the parser and runs these; errors are raised as Creator Kit errors and printed
there as one line. ``--json`` output is the ``to_dict()`` of the engine's result objects (README).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from creator_kit.cache import InstalledModel
from creator_kit.config import get_settings
from creator_kit.errors import IntegrityError, InvalidInputError
from creator_kit.events import TqdmReporter
from creator_kit.sizing import human_size
from creator_kit.store import ModelStore


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
    from creator_kit import bench

    store = ModelStore()
    info = store.info(args.repo_id, dtype=args.dtype)
    measured = bench.here(info.repo_id, store=store)
    if args.json:
        _print_json(dict(info.to_dict(), bench=[result.to_dict() for result in measured]))
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
    for result in measured:
        print(f"  speed           {result.summary()}")
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


def cmd_convert(args: argparse.Namespace) -> int:
    from creator_kit import convert

    with TqdmReporter(file=sys.stderr) as reporter:
        model = convert.convert(args.repo_id, to=args.to, int8=args.int8, overwrite=args.overwrite, on_event=reporter)
    if args.json:
        _print_json(model.to_dict())
    else:
        print(f"Converted {args.repo_id} to {args.to}: {model.repo_id} ({human_size(model.size_on_disk)}).")
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
    if args.backend != "torch":  # the converted variant of --model (its int8 one with --quantize int8)
        from creator_kit.convert import require_variant

        variant = require_variant(ModelStore(), args.model, args.backend, args.quantize == "int8")
        options.update(model=variant, quantize=None)
    if args.out:  # before any work: the file must be new (or --overwrite) and its folder writable
        manifest.output_path("text", "txt", out=args.out, overwrite=args.overwrite)
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
        "decoder": args.decoder,
    }
    model = args.model
    if args.backend != "torch":  # the converted variant of --model
        from creator_kit.convert import require_variant

        model = require_variant(ModelStore(), args.model, args.backend)
    with TqdmReporter(file=sys.stderr) as reporter:
        result = image.generate(
            args.prompt,
            model=model,
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
        "decoder": args.decoder,
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


def cmd_compare(args: argparse.Namespace) -> int:
    from creator_kit import compare

    prompts = compare.read_prompts(args.prompts) if args.prompts else [args.prompt]
    store = ModelStore()
    task, _, _ = compare.check(prompts, args.models, store)  # before any model loads
    if task != {"text": "text-generation", "image": "text-to-image"}[args.task]:
        raise InvalidInputError(f"--task {args.task}, but the models are {task} models.")
    with TqdmReporter(file=sys.stderr) as reporter:
        comparison = compare.run(prompts, models=args.models, seed=args.seed, store=store, on_event=reporter)
    if args.json:
        _print_json(comparison.to_dict())
    else:
        print(comparison.to_markdown(), end="")
        print(f"Outputs, each with its manifest: {comparison.folder}", file=sys.stderr)
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


#: JupyterLab's settings as Creator Kit ships them (lab/overrides.json: the defaults it gives JupyterLab's own settings,
#: which a user's settings still override): news "Never" (so no toast asks), no update check, no extension manager.
LAB_SETTINGS = Path(__file__).parent / "lab"
#: JupyterLab asks jupyter.org for news and newer versions, and PyPI for extensions; Creator Kit turns all three off,
#: in the server (the first three) and in the page (LAB_SETTINGS).
LAB_PRIVACY = [
    "--LabApp.news_url=None",  # None, not "": JupyterLab turns the feed off only for None
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
    f"--LabApp.app_settings_dir={LAB_SETTINGS}",
]


def cmd_lab(args: argparse.Namespace) -> int:
    folder = Path(args.folder or ("notebooks" if Path("notebooks").is_dir() else "."))
    if not folder.is_dir():
        raise InvalidInputError(f"{folder} is not a folder; give the folder of your notebooks.")
    settings = get_settings()  # the kernels use these folders too, wherever their notebooks are
    os.environ["CREATOR_KIT_MODELS_DIR"] = str(settings.models_dir)
    os.environ["CREATOR_KIT_OUTPUTS_DIR"] = str(settings.outputs_dir)
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder.resolve()}", *LAB_PRIVACY]
    command += [f"--ServerApp.port={args.port}"] if args.port else []
    command += ["--no-browser"] if args.no_browser else []
    command += ["--allow-root"] if os.geteuid() == 0 else []  # as in a container: JupyterLab refuses root without it
    print(
        f"Starting JupyterLab on {folder.resolve()}, models in {settings.models_dir}, outputs in "
        f"{settings.outputs_dir} (Ctrl-C stops it).",
        file=sys.stderr,
    )
    os.execv(sys.executable, command)
    return 0  # not reached: JupyterLab replaces this process
