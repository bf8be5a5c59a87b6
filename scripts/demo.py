"""`make demo`: run the model-library workflow (notebooks/01_model_library.ipynb) headless with papermill.

With MODEL=<repo id> (e.g. `make demo MODEL=distilbert/distilgpt2`) it downloads that model from the
Hub (or $HF_ENDPOINT). Without it, it works on any machine with no network: it builds a tiny GPT-2
with random weights (clearly labelled, for trying the workflow only), publishes it on a local olah Hub
mirror on loopback, and runs the same notebook against that mirror, so every step is real.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import papermill

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

DEMO_REPO = "creator-kit-demo/tiny-gpt2-random"


def run_notebook(parameters: dict, outputs: Path) -> Path:
    executed = outputs / "01_model_library.ipynb"
    papermill.execute_notebook(
        ROOT / "notebooks" / "01_model_library.ipynb", executed, parameters=parameters, cwd=ROOT, progress_bar=False
    )
    return executed


def main() -> int:
    outputs = Path(os.environ.get("CREATOR_KIT_OUTPUTS_DIR", ROOT / "outputs"))
    outputs.mkdir(parents=True, exist_ok=True)
    model = os.environ.get("MODEL")
    if model:
        executed = run_notebook({"repo_id": model}, outputs)
    else:
        from olah_hub import OlahHub, publish
        from tiny_models import CORPUS, build_gpt2

        print("No MODEL given: using a tiny random-weight GPT-2 on a local Hub mirror (no network needed).")
        with tempfile.TemporaryDirectory(prefix="creator-kit-demo-") as scratch:
            scratch = Path(scratch)
            publish(scratch / "mirrors", DEMO_REPO, build_gpt2(scratch / "model", CORPUS))
            hub = OlahHub(scratch / "mirrors", scratch / "olah").start()
            try:
                executed = run_notebook({"repo_id": DEMO_REPO, "hf_endpoint": hub.endpoint}, outputs)
            finally:
                hub.stop()
    print(f"Executed notebook: {executed}")
    print("Open it with `make lab`, or run `creator-kit models list` to see the store.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
