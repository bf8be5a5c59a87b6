"""``creator-kit lab [FOLDER]``: JupyterLab on the notebooks, with the store and outputs of this project
(`creator_kit.lab`)."""

from __future__ import annotations

import argparse


def register(subcommands: argparse._SubParsersAction) -> None:
    lab = subcommands.add_parser("lab", help="start JupyterLab on the notebooks (./notebooks, or FOLDER)")
    lab.add_argument("folder", nargs="?", help="the folder to open (default: ./notebooks if it exists, else .)")
    lab.add_argument("--port", type=int, help="the port to listen on (default: JupyterLab's, 8888 or the next free)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    lab.set_defaults(handler=cmd_lab)


def cmd_lab(args: argparse.Namespace) -> int:
    from creator_kit import lab

    lab.start(args.folder, port=args.port, browser=not args.no_browser)
    return 0  # not reached: JupyterLab replaces this process
