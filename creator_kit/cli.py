"""The ``creator-kit`` command.

Errors print one line on stderr and exit with the error's code: 2 bad input, 3 not found or not
installed, 4 unsafe weights, 5 network or offline, 6 disk, 7 integrity, 130 cancelled.
``--json`` output is the ``to_dict()`` of the engine's result objects (documented in the README).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from creator_kit.catalog import TASKS
from creator_kit.config import configure
from creator_kit.errors import CreatorKitError, IntegrityError
from creator_kit.events import TqdmReporter
from creator_kit.store import ModelStore

Handler = Callable[[argparse.Namespace], int]


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


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
        [[e.task, e.repo_id, _size(e.size_bytes), f"{e.parameters / 1e6:.0f}M", e.license] for e in entries],
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
    _table(
        [[m.repo_id, m.task or "?", m.status, _size(m.size_on_disk), m.commit[:12]] for m in models],
        ["MODEL", "TASK", "STATUS", "ON DISK", "COMMIT"],
    )
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    reporter = TqdmReporter(file=sys.stderr)
    try:
        model = ModelStore().download(args.repo_id, args.revision, allow_pickle=args.allow_pickle, on_event=reporter)
    finally:
        reporter.close()
    print(f"{model.repo_id} @ {model.commit[:12]}: {model.status}, {_size(model.size_on_disk)} in {model.path}")
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
        f"  download        {_size(info.download_bytes)} (disk: {info.disk.verdict}, {_size(info.disk.available)} free)"
    )
    print(f"  on disk         {_size(info.size_on_disk)}")
    print(
        f"  memory to load  {_size(info.memory.needed)} as {info.dtype} on {info.device} "
        f"({info.memory.verdict}, {_size(info.memory.available)} available)"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    report = ModelStore().verify(args.repo_id)
    if not report.ok:
        raise IntegrityError(
            f"{report.repo_id}: {'; '.join(report.problems)}. Run `creator-kit models download {report.repo_id}` "
            "again to repair it."
        )
    print(f"{report.repo_id}: {report.checked_files} files match their published checksums.")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    freed = ModelStore().remove(args.repo_id)
    print(f"Removed {args.repo_id}, freed {_size(freed)}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creator-kit", description="Local generative AI workbench.")
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
    download.set_defaults(handler=cmd_download)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure(models_dir=args.models_dir, offline=True if args.offline else None)
    try:
        return args.handler(args)
    except CreatorKitError as error:
        print(f"creator-kit: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("creator-kit: interrupted; partial downloads are kept and resume next time.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
