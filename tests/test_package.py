"""Package-level promises: a cheap import, telemetry off."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_torch_transformers_or_diffusers():
    code = (
        "import sys, creator_kit;"
        "heavy = [m for m in ('torch', 'transformers', 'diffusers', 'huggingface_hub') if m in sys.modules];"
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_hugging_face_telemetry_is_off():
    code = "import os, creator_kit; print(os.environ['HF_HUB_DISABLE_TELEMETRY'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={})
    assert result.stdout.strip() == "1"
