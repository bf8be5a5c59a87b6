"""``creator-kit lab``: JupyterLab on the notebooks, with this project's store and outputs folder, and with
JupyterLab's calls home turned off (news, update checks, the extension manager).

Imports only `core`: it starts JupyterLab in place of the calling process, and the kernels find the folders
through the environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from creator_kit.core.config import get_settings
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


def start(folder: str | Path | None = None, *, port: int | None = None, browser: bool = True) -> None:
    """Replace this process with JupyterLab on `folder` (default: ./notebooks if it exists, else .)."""
    folder = Path(folder or ("notebooks" if Path("notebooks").is_dir() else "."))
    if not folder.is_dir():
        raise InvalidInputError(f"{folder} is not a folder; give the folder of your notebooks.")
    settings = get_settings()  # the kernels use these folders too, wherever their notebooks are
    os.environ["CREATOR_KIT_MODELS_DIR"] = str(settings.models_dir)
    os.environ["CREATOR_KIT_OUTPUTS_DIR"] = str(settings.outputs_dir)
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder.resolve()}", *LAB_PRIVACY]
    command += [f"--ServerApp.port={port}"] if port else []
    command += [] if browser else ["--no-browser"]
    command += ["--allow-root"] if os.geteuid() == 0 else []  # as in a container: JupyterLab refuses root without it
    print(
        f"Starting JupyterLab on {folder.resolve()}, models in {settings.models_dir}, outputs in "
        f"{settings.outputs_dir} (Ctrl-C stops it).",
        file=sys.stderr,
    )
    os.execv(sys.executable, command)
