"""``creator-kit models ...``: the local model library (catalog, list, download, info, bench, verify, remove),
starter models, and converted variants."""

from __future__ import annotations

import argparse
import sys

from creator_kit.cli.output import print_json, table
from creator_kit.core.errors import IntegrityError
from creator_kit.core.events import TqdmReporter
from creator_kit.library.cache import InstalledModel
from creator_kit.library.catalog import COMPANION_TASKS, TASKS
from creator_kit.library.sizing import human_size
from creator_kit.library.store import ModelStore


def register(subcommands: argparse._SubParsersAction) -> None:
    models = subcommands.add_parser("models", help="the local model library")
    models = models.add_subparsers(dest="action", required=True)
    catalog = models.add_parser("catalog", help="curated open models by task")
    catalog.add_argument("--task", choices=(*TASKS, *COMPANION_TASKS))
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

    bench = models.add_parser("bench", help="measure an installed model's speed here (kept; `info` shows it)")
    bench.add_argument("repo_id")
    bench.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "int8"], help="default: the best here")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=cmd_bench, interrupted="no figures were stored.")

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

    convert = models.add_parser("convert", help="make an OpenVINO (or ONNX Runtime) variant of a model")
    convert.add_argument("repo_id", help="an installed text-generation or text-to-image model id")
    convert.add_argument(
        "--to", required=True, help='openvino, or onnx for text (needs pip install "creator-kit[BACKEND]")'
    )
    convert.add_argument("--int8", action="store_true", help="OpenVINO only: int8 weights, the fastest text path here")
    convert.add_argument("--overwrite", action="store_true", help="make the variant again if it exists")
    convert.add_argument("--json", action="store_true")
    convert.set_defaults(handler=cmd_convert)


def cmd_catalog(args: argparse.Namespace) -> int:
    entries = ModelStore().catalog(args.task)
    if args.json:
        print_json([e.to_dict() for e in entries])
        return 0
    table(
        [[e.task, e.repo_id, human_size(e.size_bytes), f"{e.parameters / 1e6:.0f}M", e.license] for e in entries],
        ["TASK", "MODEL", "DOWNLOAD", "PARAMS", "LICENCE"],
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    models = ModelStore().installed()
    if args.json:
        print_json([m.to_dict() for m in models])
        return 0
    if not models:
        print("No models installed. See `creator-kit models catalog`, then `creator-kit models download REPO_ID`.")
        return 0
    _modelstable(models)
    return 0


def _modelstable(models: list[InstalledModel]) -> None:
    table(
        [[m.repo_id, m.task or "?", m.status, human_size(m.size_on_disk), m.commit[:12]] for m in models],
        ["MODEL", "TASK", "STATUS", "ON DISK", "COMMIT"],
    )


def cmd_starter(args: argparse.Namespace) -> int:
    from creator_kit.starters.build import build_starters

    with TqdmReporter(file=sys.stderr) as reporter:
        models = build_starters(force=args.force, on_event=reporter)
    if args.json:
        print_json([m.to_dict() for m in models])
    else:
        _modelstable(models)
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
    from creator_kit.workflows import bench

    store = ModelStore()
    info = store.info(args.repo_id, dtype=args.dtype)
    measured = bench.here(info.repo_id, store=store)
    if args.json:
        print_json(dict(info.to_dict(), bench=[result.to_dict() for result in measured]))
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


def cmd_bench(args: argparse.Namespace) -> int:
    from creator_kit.workflows import bench

    with TqdmReporter(file=sys.stderr) as reporter:
        result = bench.run(args.repo_id, dtype=args.dtype, on_event=reporter)
    if args.json:
        print_json(result.to_dict())
        return 0
    print(f"{result.repo_id}: {result.summary()}")
    print(f"  load            {result.figures['load_s']:.1f} s")
    print(f"  peak memory     {human_size(result.figures['peak_memory_bytes'])} (loading and running)")
    print(f"  machine         {result.machine['processor']}, {result.machine['threads']} threads")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    report = ModelStore().verify(args.repo_id)
    if not report.ok:
        raise IntegrityError(f"{report.repo_id}: {report.summary()} To repair it, {report.repair}.")
    print(f"{report.repo_id}: {report.summary()}")
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
        print_json(model.to_dict())
    else:
        print(f"Converted {args.repo_id} to {args.to}: {model.repo_id} ({human_size(model.size_on_disk)}).")
    return 0
