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


def engine_and_panel_modules() -> list[str]:
    """Every module of creator_kit and widgets, by name (`__main__`, which runs the CLI, left out)."""
    import pkgutil

    import creator_kit
    import widgets

    names = []
    for package in (creator_kit, widgets):
        names.append(package.__name__)
        for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            names.append(found.name)
    return [name for name in names if not name.endswith("__main__")]


def test_every_module_imports_first_in_a_fresh_interpreter():
    """An import cycle that works in one order breaks in another: each module is imported first, on its own."""
    from concurrent.futures import ThreadPoolExecutor

    def first_import(name: str) -> tuple[str, str]:
        result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
        return name, result.stderr.strip().splitlines()[-1] if result.returncode else ""

    modules = engine_and_panel_modules()
    assert len(modules) > 60 and "creator_kit.engines.text" in modules and "widgets.model_card" in modules
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = {name: error for name, error in pool.map(first_import, modules) if error}
    assert failures == {}


def test_every_public_name_resolves():
    import creator_kit

    missing = [name for name in creator_kit.__all__ if not hasattr(creator_kit, name)]
    assert missing == []


def test_import_contracts_hold():
    """The layers, no cycles, core free of ML libraries, panels on the public API only (pyproject.toml)."""
    from pathlib import Path

    lint_imports = Path(sys.executable).with_name("lint-imports")
    lint = subprocess.run([lint_imports, "--no-cache"], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-3000:]
    assert "0 broken" in lint.stdout


def test_the_package_stays_readable():
    """Small modules (at most 500 lines) in a top level of about a dozen entries."""
    from pathlib import Path

    import creator_kit

    root = Path(creator_kit.__file__).parent
    long = {str(p.relative_to(root)): n for p in root.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}
    assert len([p for p in root.iterdir() if p.name != "__pycache__"]) <= 12
