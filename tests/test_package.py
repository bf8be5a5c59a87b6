"""Package-level promises: a cheap import, telemetry off."""

from __future__ import annotations

import subprocess
import sys

MODEL_LIBRARIES = ("torch", "transformers", "diffusers")


def modules_loaded_by(statement: str, libraries: tuple[str, ...] = (*MODEL_LIBRARIES, "huggingface_hub")) -> list[str]:
    """Which of `libraries` are in sys.modules after running `statement` in a fresh interpreter."""
    code = f"import sys; {statement}; print([m for m in {libraries!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(result.stdout.strip())


def test_import_does_not_load_torch_transformers_or_diffusers():
    assert modules_loaded_by("import creator_kit") == []


def test_panels_load_torch_only_once_a_model_is_needed():
    # importing the panels loads none of them, and building them no model library: their controls need no model
    build = (
        "from widgets import GenerationPreviewer; [GenerationPreviewer(mode) for mode in ('text', 'image', 'video')]"
    )
    assert modules_loaded_by("import widgets") == []
    assert modules_loaded_by(build, MODEL_LIBRARIES) == []


def test_hugging_face_telemetry_is_off():
    code = "import os, creator_kit; print(os.environ['HF_HUB_DISABLE_TELEMETRY'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={})
    assert result.stdout.strip() == "1"
