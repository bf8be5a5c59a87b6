"""``creator-kit lab [JUPYTERLAB OPTIONS]``: JupyterLab rooted at the project, open on the quickstart, with the store
and outputs of this project (`creator_kit.lab`). Every option after ``lab`` goes to JupyterLab as it is."""

from __future__ import annotations

import argparse


def register(subcommands: argparse._SubParsersAction) -> None:
    lab = subcommands.add_parser(
        "lab",
        help="start JupyterLab on the project, open on the quickstart",
        usage="%(prog)s [JupyterLab options] [NOTEBOOK or FOLDER]",
        description="Start JupyterLab rooted at the project (notebooks/, models/, outputs/), open on "
        "notebooks/00_quickstart.ipynb. Every other option is JupyterLab's own and goes to it as it is, "
        "e.g. --port 9999, --no-browser, --ServerApp.token='' or a notebook to open.",
    )
    lab.set_defaults(handler=cmd_lab, passes_options_through=True)


def cmd_lab(args: argparse.Namespace) -> int:
    from creator_kit import lab

    lab.start(args.passed_through)
    return 0  # not reached: JupyterLab replaces this process
