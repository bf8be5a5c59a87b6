"""The quickstart notebook's panels in a real JupyterLab, driven by Playwright with the system Chromium.

A JupyterLab server on loopback serves a copy of notebooks/00_quickstart.ipynb parametrized for the test
hub and a models folder without a text model (a fresh machine: the notebook builds the starter text model).
Chromium runs every cell, checks that each panel renders as a live widget, then downloads a model and
generates text by clicking, as a person would. Screenshots of the notebook and of each panel go to
$CREATOR_KIT_TEST_ARTIFACTS (default test-artifacts/browser/); on a failure, failure.png shows the page.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import nbformat
import pytest
from conftest import TINY_GPT2
from olah_hub import free_port
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from playwright.sync_api import Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from creator_kit import ModelStore
from creator_kit.cli import LAB_PRIVACY

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
]
REPO = Path(__file__).parent.parent
QUICKSTART = REPO / "notebooks" / "00_quickstart.ipynb"
ARTIFACTS = Path(os.environ.get("CREATOR_KIT_TEST_ARTIFACTS", REPO / "test-artifacts" / "browser"))
VIEWPORT = {"width": 1400, "height": 900}
LAB_START_S = 120
RUN_ALL_MS = 6 * 60_000
LONG_MS = 3 * 60_000  # opening the notebook, a download, a generation
WAIT_MS = 30_000  # anything else the page shows

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")

# JupyterLab user settings: every cell stays in the DOM (no virtual rendering of off-screen cells), no news
# or update checks (nothing may reach the internet, and no toast asks about them), the simple interface.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/application-extension/shell": {"startMode": "single"},
}

# A CSS selector found in one panel only: how the test tells the panels' cell outputs apart.
PANELS = {
    "model-browser": 'input[placeholder="namespace/name"]',
    "text-previewer": 'textarea[placeholder="Once upon a time"]',
    "image-previewer": 'textarea[placeholder="a lighthouse at dawn"]',
    "video-previewer": 'input[placeholder="a fox crossing a snowy forest"]',
    "training-monitor": "button:text-is('Stop and save')",
}

# Polled in the page after Run All Cells: false while a cell runs; then the tracebacks shown, if any.
RUN_STATE_JS = r"""() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map(e => e.textContent.trim());
    const errors = [...document.querySelectorAll('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.textContent).filter(text => /traceback/i.test(text));
    if (prompts.length === 0 || prompts.includes('[*]:')) return false;
    if (errors.length) return {errors};
    return prompts.every(p => /^\[\d+\]:$/.test(p)) && {errors: []};
}"""


@dataclass
class Lab:
    """A running JupyterLab server: its address, its token and the folder it serves."""

    url: str
    token: str
    root: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"


def start_lab(root: Path, state: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Lab]:
    """Start JupyterLab serving `root` on a free loopback port; its settings, workspaces and log go under `state`."""
    settings = state / "lab-settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (state / "notary").mkdir()  # notebook signatures: not in the user's data folder
    port = free_port()
    lab = Lab(f"http://127.0.0.1:{port}", secrets.token_hex(16), root)
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={lab.token}",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={state / 'workspaces'}",
        *LAB_PRIVACY, f"--NotebookNotary.data_dir={state / 'notary'}",
    ]  # fmt: skip
    log_path = state / "jupyter.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + LAB_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{lab.url}/api/status", params={"token": lab.token}, timeout=2).status_code == 200:
                return process, lab
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    stop(process)
    raise RuntimeError(f"JupyterLab did not answer within {LAB_START_S} s:\n{log_path.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """Stop a server cleanly (it shuts its kernels down), killing it if it does not exit in time."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def fresh_models(installed_models_dir, tmp_path) -> Path:
    """A copy of the installed models (tiny/sd, tiny/t2v) without a text model: the quickstart builds its starter."""
    models = shutil.copytree(installed_models_dir, tmp_path / "models", symlinks=True)
    ModelStore(models).remove(TINY_GPT2)
    return models


@pytest.fixture
def lab(hub, fresh_models, tmp_path) -> Iterator[Lab]:
    """JupyterLab serving a copy of the quickstart notebook parametrized for this test's hub and folders."""
    root, state, outputs = tmp_path / "lab", tmp_path / "lab-state", tmp_path / "outputs"
    root.mkdir()
    state.mkdir()
    parameters = {
        "models_dir": str(fresh_models),
        "outputs_dir": str(outputs),
        "hf_endpoint": hub.endpoint,
        "offline": False,
        "image_steps": 2,
        "video_seconds": 1.0,
        "train_data": str(QUICKSTART.parent / "data" / "sample_stories.txt"),  # the copy is not beside its data
        "train_steps": 4,
        "seed": 0,
    }
    notebook = parameterize_notebook(load_notebook_node(str(QUICKSTART)), parameters)
    nbformat.write(notebook, root / QUICKSTART.name)
    env = {
        **os.environ,  # HF_HOME and telemetry off, from conftest; `widgets` imports from the editable install
        "HF_ENDPOINT": hub.endpoint,
        "CREATOR_KIT_MODELS_DIR": str(fresh_models),
        "CREATOR_KIT_OUTPUTS_DIR": str(outputs),
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "IPYTHONDIR": str(state / "ipython"),
        "OMP_NUM_THREADS": "1",  # torch on one thread: two contend with the browser and the server on two cores
    }
    process, server = start_lab(root, state, env)
    yield server
    stop(process)


@pytest.fixture
def page() -> Iterator[Page]:
    """A page of the system's Chromium, headless, sized for README screenshots."""
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(WAIT_MS)
        yield page
        browser.close()


@contextmanager
def screenshot_on_failure(page: Page) -> Iterator[None]:
    """Save the page as failure.png if the block fails (pytest-timeout's failure included)."""
    try:
        yield
    except BaseException:
        page.screenshot(path=ARTIFACTS / "failure.png")
        raise


def exactly(text: str) -> re.Pattern[str]:
    """Match an element whose whole text is `text`."""
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def menu(page: Page, *labels: str) -> Locator:
    """Open the menu bar's `labels[0]` and the submenus down to the item `labels[-1]`; returns that item."""
    page.locator(".lm-MenuBar-itemLabel", has_text=exactly(labels[0])).click()
    for label in labels[1:-1]:
        page.locator(".lm-Menu-itemLabel", has_text=exactly(label)).click()
    return page.locator(".lm-Menu-item", has=page.locator(".lm-Menu-itemLabel", has_text=exactly(labels[-1])))


def open_notebook(page: Page, url: str, cells: int) -> None:
    """Open the notebook and wait until all its cells are shown and its kernel is connected and idle."""
    page.goto(url)
    expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(cells, timeout=LONG_MS)
    # The status bar, not the toolbar's indicator: that one reads idle before the kernel is even connected.
    kernel = page.locator(".jp-StatusBar-TextItem[title^='Change kernel']")
    expect(kernel).to_have_text(re.compile(r"\| Idle$"), timeout=LONG_MS)


def hide_side_bars(page: Page) -> None:
    """View → Appearance: untick the left sidebar and both activity bars, so the notebook takes the whole width."""
    for label in ("Show Left Sidebar", "Show Left Activity Bar", "Show Right Activity Bar"):
        item = menu(page, "View", "Appearance", label)
        if item.get_attribute("aria-checked") == "true":
            item.click()
        else:
            page.keyboard.press("Escape")
            page.keyboard.press("Escape")
        expect(page.locator(".lm-Menu")).to_have_count(0)
    expect(page.locator(".jp-SideBar").filter(visible=True)).to_have_count(0)


def run_all_cells(page: Page) -> None:
    """Run → Run All Cells, then wait until every code cell has run; fail with the traceback of a failed cell."""
    menu(page, "Run", "Run All Cells").click()
    try:
        state = page.wait_for_function(RUN_STATE_JS, timeout=RUN_ALL_MS, polling=500).json_value()
    except PlaywrightTimeoutError:
        prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        raise AssertionError(f"the cells did not finish within {RUN_ALL_MS / 1000:.0f} s: {prompts}") from None
    assert not state["errors"], "a cell failed:\n" + "\n\n".join(state["errors"])


def panel(page: Page, name: str) -> Locator:
    """The cell output holding the panel `name` (a key of PANELS), rendered as a live widget."""
    found = page.locator(".jp-OutputArea-output").filter(has=page.locator(PANELS[name]))
    expect(found, f"the {name} panel is not shown as a live widget").to_have_count(1)
    return found


def card(browser: Locator, repo_id: str) -> Locator:
    """The model browser's card for `repo_id`: the nearest box around its bold title."""
    return browser.locator(f"xpath=.//b[text()='{repo_id}']/ancestor::div[contains(@class, 'widget-vbox')][1]")


def button(scope: Locator, text: str) -> Locator:
    """The ipywidgets buttons labelled `text` in `scope`."""
    return scope.locator(".widget-button", has_text=exactly(text))


def save_screenshot(page: Page, element: Locator, name: str) -> None:
    """Screenshot `element` into ARTIFACTS, the page made tall enough to show all of it (the notebook scrolls
    inside the page, so a part outside the viewport would be cut off)."""
    height = element.evaluate("e => e.getBoundingClientRect().height")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], int(height) + 160)})
    element.scroll_into_view_if_needed()
    element.screenshot(path=ARTIFACTS / name, animations="disabled")
    page.set_viewport_size(VIEWPORT)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quickstart_panels_work_in_jupyterlab(lab, page, fresh_models):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cells = len(nbformat.read(lab.root / QUICKSTART.name, as_version=4).cells)
    with screenshot_on_failure(page):
        open_notebook(page, lab.notebook_url(QUICKSTART.name), cells)
        hide_side_bars(page)
        run_all_cells(page)
        first_panel = page.locator(".jp-Notebook .jp-Cell").filter(has=page.locator(PANELS["model-browser"]))
        first_panel.evaluate("cell => cell.scrollIntoView({block: 'start'})")
        page.screenshot(path=ARTIFACTS / "quickstart.png")

        panels = {name: panel(page, name) for name in PANELS}
        expect(page.get_by_text("Error displaying widget")).to_have_count(0)
        browser, previewer, monitor = panels["model-browser"], panels["text-previewer"], panels["training-monitor"]
        for label in ("Download", "Load", "Verify"):
            expect(button(browser, label).filter(visible=True).first).to_be_visible()
        expect(browser.locator(".widget-hprogress .progress-bar").first).to_be_attached()  # shown while downloading
        expect(button(previewer, "Generate")).to_be_enabled()
        expect(monitor.locator(".widget-hprogress .progress-bar")).to_be_visible()
        plot = monitor.locator("img.widget-image")
        expect(plot).to_be_visible()
        assert plot.evaluate("img => img.naturalWidth") > 0, "the training monitor shows no plot"

        browser.locator(PANELS["model-browser"]).fill(TINY_GPT2)
        button(browser, "Add").click()
        gpt2 = card(browser, TINY_GPT2)
        button(gpt2, "Download").click()
        expect(gpt2.locator("span", has_text=re.compile(r"\bdownloaded$"))).to_be_visible(timeout=LONG_MS)
        assert ModelStore(fresh_models).is_installed(TINY_GPT2)

        button(gpt2, "Use in previewer").click()
        expect(previewer.locator(".widget-dropdown select").first).to_have_value(re.compile(re.escape(TINY_GPT2)))
        history = previewer.locator(".widget-select select option")
        entries = history.count()
        previewer.locator(PANELS["text-previewer"]).fill("Once upon a time")
        button(previewer, "Generate").click()
        expect(history).to_have_count(entries + 1, timeout=LONG_MS)
        expect(history.last).to_contain_text(TINY_GPT2)
        expect(previewer).to_contain_text("tokens in")
        output = previewer.locator("textarea:disabled")
        expect(output).not_to_have_value("")
        generated = output.input_value()
        previewer.locator(".widget-select select").select_option(index=0)  # back to the quickstart's own result
        expect(output).not_to_have_value(generated)

        browser.locator('input[placeholder="name or words"]').fill("tiny")  # the text filter, and a shorter shot
        expect(card(browser, "openai-community/gpt2")).to_have_count(0)
        expect(card(browser, TINY_GPT2)).to_be_visible()
        for name, element in panels.items():
            save_screenshot(page, element, f"{name}.png")
