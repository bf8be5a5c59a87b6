"""``creator-kit lab``: JupyterLab rooted at the project (notebooks, models and outputs in its file browser), open on
the quickstart, with this project's store and outputs folder, and with JupyterLab's calls home turned off (news,
update checks, the extension manager). Options it does not know go to JupyterLab as they are.

Imports only `core`: it starts JupyterLab in place of the calling process, and the kernels find the folders
through the environment.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import zmq
from jupyter_core.paths import jupyter_runtime_dir

from creator_kit.core.config import get_settings, project_dir
from creator_kit.core.errors import InvalidInputError

#: JupyterLab's settings as Creator Kit ships them (overrides.json: the defaults it gives JupyterLab's own settings,
#: which a user's settings still override): news "Never" (so no toast asks), no update check, no extension manager.
LAB_SETTINGS = Path(__file__).parent
#: JupyterLab asks jupyter.org for news and newer versions, and PyPI for extensions; Creator Kit turns all three off,
#: in the server (the first three) and in the page (LAB_SETTINGS).
LAB_PRIVACY = [
    "--LabApp.news_url=None",  # None, not "": JupyterLab turns the feed off only for None
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
    f"--LabApp.app_settings_dir={LAB_SETTINGS}",
]
#: The notebook JupyterLab opens on, relative to the project.
QUICKSTART = Path("notebooks") / "00_quickstart.ipynb"


def kernel_transport() -> str:
    """How kernels talk to JupyterLab or papermill: "ipc", local sockets in Jupyter's runtime folder, where the system
    has them and their paths fit its limit (107 bytes on Linux), so that no port is open and ipykernel has no cause
    to warn "Kernel is running over TCP without encryption" at every start; else "tcp" (Windows, a long path)."""
    limit = getattr(zmq, "IPC_PATH_MAX_LEN", 0)  # 0: not a system with Unix sockets
    longest = Path(jupyter_runtime_dir(), f"kernel-{uuid.uuid4()}-ipc-99999")  # jupyter_client's socket names
    return "ipc" if os.name != "nt" and len(str(longest).encode()) <= limit else "tcp"


def kernel_config() -> dict[str, dict[str, str]]:
    """The kernel managers' traitlets configuration, for nbclient and papermill's `config=`: `kernel_transport`."""
    return {"KernelManager": {"transport": kernel_transport()}}


def root() -> Path:
    """The folder JupyterLab's file browser shows: the project's (the current folder outside one)."""
    return project_dir() or Path.cwd().absolute()


def command(jupyterlab_options: Sequence[str] = ()) -> list[str]:
    """The command line that starts JupyterLab at `root`, open on QUICKSTART when the project has it;
    `jupyterlab_options` come last, so that they win over Creator Kit's."""
    folder = root()
    line = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}", *LAB_PRIVACY]
    line += [f"--KernelManager.transport={kernel_transport()}"]
    line += [f"--LabApp.default_url=/lab/tree/{QUICKSTART.as_posix()}"] if (folder / QUICKSTART).is_file() else []
    line += ["--allow-root"] if os.name != "nt" and os.geteuid() == 0 else []  # JupyterLab refuses root without it
    return [*line, *jupyterlab_options]


def start(jupyterlab_options: Sequence[str] = ()) -> None:
    """Replace this process with JupyterLab (see `command`), its kernels on this project's models and outputs.
    InvalidInputError when the first option is a path (what JupyterLab opens) that does not exist."""
    first = next(iter(jupyterlab_options), "-")
    if not first.startswith("-") and not Path(first).exists():
        raise InvalidInputError(f"{first} is not a folder or a file: give one to open, or none for the quickstart.")
    settings = get_settings()  # the kernels use these folders too, wherever their notebooks are
    os.environ["CREATOR_KIT_MODELS_DIR"] = str(settings.models_dir)
    os.environ["CREATOR_KIT_OUTPUTS_DIR"] = str(settings.outputs_dir)
    print(
        f"Starting JupyterLab on {root()}, models in {settings.models_dir}, outputs in "
        f"{settings.outputs_dir} (Ctrl-C stops it).",
        file=sys.stderr,
    )
    os.execv(sys.executable, command(jupyterlab_options))
