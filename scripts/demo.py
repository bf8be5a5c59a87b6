"""`make demo`: the quickstart workflow (notebooks/00_quickstart.ipynb) run headless with papermill, offline.

It uses the models you have downloaded (`creator-kit models download segmind/tiny-sd`, say) and, for a task
with none, builds the starter models first (tiny, for trying the workflow offline: one bar per model, and one
line saying so). Nothing touches the network. At the end it prints where the executed notebook and each output
are. Models and outputs are the project's (see creator_kit/core/config.py), the ones `make lab` opens the notebooks on.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: the libraries stay offline too

import papermill
from traitlets.config import Config

import creator_kit as ck
from creator_kit import SetupBars
from creator_kit.lab import kernel_config

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "00_quickstart.ipynb"
#: What the quickstart writes into the outputs folder, by kind (the newest file of this run is shown).
OUTPUTS = {
    "text": "text-*.txt",
    "image": "image-*.png",
    "video": "video-*.mp4",
    "loss plot": "runs/quickstart/*.png",
    "comparison": "compare-*",
}


def newest(folder: Path, pattern: str, since: float) -> Path | None:
    """The newest file matching `pattern` in `folder` written after `since`, if any."""
    written = [path for path in folder.glob(pattern) if path.stat().st_mtime >= since]
    return max(written, key=lambda path: path.stat().st_mtime, default=None)


def main() -> int:
    settings = ck.configure(offline=True)
    try:
        run_demo(settings)
    except ck.CreatorKitError as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return error.exit_code
    except papermill.PapermillExecutionError as error:
        print(
            f"demo: the quickstart failed in cell [{error.exec_count}]: {error.ename}: {error.evalue}\n"
            f"The executed notebook, with the whole error, is {executed_path(settings)}",
            file=sys.stderr,
        )
        return 1
    return 0


def executed_path(settings: ck.Settings) -> Path:
    """Where the executed quickstart goes: outputs/notebooks/, where the README's batch commands write theirs."""
    return settings.outputs_dir / "notebooks" / NOTEBOOK.name


def run_demo(settings: ck.Settings) -> None:
    """Choose (or build) the models, run the quickstart, and say where everything is."""
    print(f"Creator Kit demo: {NOTEBOOK.relative_to(ROOT)}, headless and offline, models in {settings.models_dir}")
    with SetupBars() as bars:
        models = ck.choose_models([ck.TEXT_GENERATION, ck.TEXT_TO_IMAGE], on_event=bars)
    print(f"Models: {models['text-generation']} (text), {models['text-to-image']} (image and video)")
    store = ck.ModelStore()
    if any(store.get(repo_id).status == "starter" for repo_id in models.values()):
        print("Starter models: tiny, for trying the workflow; `creator-kit models download <repo id>` gets real ones.")

    started = time.time()
    executed = executed_path(settings)
    executed.parent.mkdir(parents=True, exist_ok=True)
    parameters = {
        "text_model": models["text-generation"],
        "image_model": models["text-to-image"],
        "models_dir": str(settings.models_dir),
        "outputs_dir": str(settings.outputs_dir),
        "offline": True,
    }
    local_sockets = Config(kernel_config())  # where it can: no "Kernel is running over TCP without encryption"
    papermill.execute_notebook(
        NOTEBOOK, executed, parameters=parameters, cwd=NOTEBOOK.parent, kernel_name="python3", config=local_sockets
    )

    print(f"\nDone in {time.time() - started:.0f} s.\n  executed notebook: {executed}")
    for kind, pattern in OUTPUTS.items():
        print(f"  {kind + ':':<18} {newest(settings.outputs_dir, pattern, started)}")
    print(
        "Open the notebook with `make lab` to use the panels: it runs on these same models and outputs "
        f"({settings.models_dir}, {settings.outputs_dir}). `creator-kit models catalog` lists real models."
    )


if __name__ == "__main__":
    sys.exit(main())
