"""The ``creator-kit`` command: the parser, and running one sub-command. Each command group is a module here
(`models`, `generate`, `lab`, `compare`, `queue`, `train`) that registers its sub-commands; each sub-command is
one engine call. The CLI sits on top of every other layer and nothing imports it.

Errors print one line on stderr and exit with the error's code: 2 bad input, 3 not found or not
installed, 4 unsafe model, 5 network or offline, 6 disk full, 7 integrity, 8 training diverged,
130 cancelled. Any other exception is a bug: its traceback goes to a log in the outputs folder's ``logs/``
and the one line names that log (exit 1). ``--json`` output is the ``to_dict()`` of the engine's result objects
(README).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from creator_kit.cli import compare, generate, lab, models, queue, train
from creator_kit.core.bugs import report_bug
from creator_kit.core.config import configure
from creator_kit.core.errors import CreatorKitError, InvalidInputError, from_os_error

#: The command groups, in the order ``creator-kit --help`` lists them: each module registers its sub-commands.
GROUPS = (models, generate, lab, compare, queue, train)


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

    for group in GROUPS:
        group.register(subcommands)
    for command in subcommand_parsers(parser):  # each knows its name, for the line a bug prints
        command.set_defaults(subcommand=command.prog.removeprefix(f"{parser.prog} "))
    return parser


def subcommand_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser of every sub-command under `parser` (``models list``, ``lab``...): the leaves of its tree."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                nested = any(isinstance(a, argparse._SubParsersAction) for a in child._actions)
                yield from subcommand_parsers(child) if nested else [child]


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
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(arguments)
    if unknown and not getattr(args, "passes_options_through", False):  # only `lab` hands options on (to JupyterLab)
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.passed_through = unknown
    if args.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: the libraries stay offline too
    try:
        _require_text(arguments)
        configure(models_dir=args.models_dir, offline=True if args.offline else None)  # reads the environment
        return args.handler(args)
    except CreatorKitError as error:
        return _fail(error)
    except OSError as error:  # one the engine did not meet at a write of its own: the same contract
        return _fail(from_os_error(error))
    except KeyboardInterrupt:
        print(f"creator-kit: interrupted; {args.interrupted}", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: one line naming the log that holds its traceback, never a traceback
        command = shlex.join([parser.prog, *arguments])
        print(f"creator-kit: {report_bug(error, repr(args.subcommand), command=command)}", file=sys.stderr)
        return 1


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
