"""Driving a real JupyterLab in the system Chromium for the browser test: the server, menus, cells, themes, contrast.

What a person does (menus, buttons by their text, fields by their labels) and what a reviewer measures
(WCAG contrast of every text from computed styles, sideways scrolling), as helpers over Playwright.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from olah_hub import free_port
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from creator_kit.lab import LAB_PRIVACY

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
VIEWPORT = {"width": 1400, "height": 900}
LAB_START_S = 120
RUN_ALL_MS = 6 * 60_000
LONG_MS = 3 * 60_000  # opening the notebook, a download, a generation
WAIT_MS = 30_000  # anything else the page shows
AA_CONTRAST = 4.5  # WCAG 2.1 AA, normal text

# JupyterLab user settings the test needs: every cell stays in the DOM (no virtual rendering of off-screen cells),
# the simple interface. Nothing about news or updates: that is what `creator-kit lab` (LAB_PRIVACY) must provide.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/application-extension/shell": {"startMode": "single"},
}

# Polled in the page after running cells: false while a cell runs; then the tracebacks shown, if any.
RUN_STATE_JS = r"""() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map(e => e.textContent.trim());
    const errors = [...document.querySelectorAll('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.textContent).filter(text => /traceback/i.test(text));
    if (prompts.length === 0 || prompts.includes('[*]:')) return false;
    if (errors.length) return {errors};
    return prompts.every(p => /^\[\d+\]:$/.test(p)) && {errors: []};
}"""

# The WCAG contrast ratio of every text shown under some elements (see the file).
CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text()

# Elements under the roots (and the notebook itself) that scroll sideways.
SIDEWAYS_JS = r"""(roots) => [...document.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook'),
        ...roots.flatMap(root => [root, ...root.querySelectorAll('*')])]
    .filter(e => e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
    .map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}: ${e.scrollWidth} > ${e.clientWidth} px`)"""


# Labels and buttons under the roots whose text does not fit (cut off, or ended with "…").
TRUNCATED_JS = r"""(roots) => roots.flatMap(root => [...root.querySelectorAll(
        '.widget-label, .widget-label-basic, .jupyter-button')])
    .filter(e => e.getClientRects().length > 0 && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.textContent.trim())"""


@dataclass
class Lab:
    """A running JupyterLab server: its address, its token, the folder it serves and its runtime folder."""

    url: str
    token: str
    root: Path
    runtime: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"


def start_lab(root: Path, state: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Lab]:
    """Start JupyterLab serving `root` on a free loopback port; its settings, workspaces and log go under `state`.

    The server gets Creator Kit's own privacy settings (what `creator-kit lab` passes), plus the test's LAB_SETTINGS.
    """
    settings = state / "lab-settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (state / "notary").mkdir()  # notebook signatures: not in the user's data folder
    port = free_port()
    lab = Lab(f"http://127.0.0.1:{port}", secrets.token_hex(16), root, Path(env["JUPYTER_RUNTIME_DIR"]))
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
    wait_for_idle_kernel(page)


def wait_for_idle_kernel(page: Page) -> None:
    """Wait until the status bar says the kernel is idle (the toolbar's indicator reads idle before it connects)."""
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


def wait_for_cells(page: Page, what: str) -> None:
    """Wait until no code cell runs; fail with the traceback of a failed cell."""
    try:
        state = page.wait_for_function(RUN_STATE_JS, timeout=RUN_ALL_MS, polling=500).json_value()
    except PlaywrightTimeoutError:
        prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        raise AssertionError(f"{what} did not finish within {RUN_ALL_MS / 1000:.0f} s: {prompts}") from None
    assert not state["errors"], "a cell failed:\n" + "\n\n".join(state["errors"])


def run_all_cells(page: Page) -> None:
    """Run → Run All Cells, then wait until every code cell has run."""
    menu(page, "Run", "Run All Cells").click()
    wait_for_cells(page, "the cells")


def switch_theme(page: Page, theme: str) -> None:
    """Settings → Theme → `theme` ("JupyterLab Light", "JupyterLab Dark"), then wait until the page shows it."""
    menu(page, "Settings", "Theme", theme).click()
    light = "true" if "Light" in theme else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=WAIT_MS)
    layout = "rgb(255, 255, 255)" if light == "true" else "rgb(17, 17, 17)"  # --jp-layout-color0 of the theme
    page.wait_for_function(
        f"() => getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor === '{layout}'",
        timeout=WAIT_MS,
    )


def button(scope: Locator, text: str) -> Locator:
    """The ipywidgets buttons labelled `text` in `scope`."""
    return scope.locator(".widget-button", has_text=exactly(text))


def field(scope: Locator, label: str) -> Locator:
    """The input, text area or menu of the control labelled `label` in `scope`."""
    label_element = scope.page.locator("label.widget-label", has_text=exactly(label))
    control = scope.locator(".widget-inline-hbox", has=label_element)
    return control.locator("input, textarea, select").first


def contrast(roots: Locator) -> list[dict]:
    """Every text shown under `roots` with its contrast ratio, worst first."""
    return sorted(roots.evaluate_all(CONTRAST_JS), key=lambda found: found["ratio"])


def sideways(roots: Locator) -> list[str]:
    """The elements under `roots` (and the notebook) that scroll sideways."""
    return roots.evaluate_all(SIDEWAYS_JS)


def truncated(roots: Locator) -> list[str]:
    """The labels and buttons under `roots` whose text is cut off."""
    return roots.evaluate_all(TRUNCATED_JS)


def save_screenshot(page: Page, element: Locator, path: Path) -> None:
    """Screenshot `element` into `path`, the page made tall enough to show all of it (the notebook scrolls
    inside the page, so a part outside the viewport would be cut off)."""
    height = element.evaluate("e => e.getBoundingClientRect().height")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], int(height) + 160)})
    element.scroll_into_view_if_needed()
    element.screenshot(path=path, animations="disabled")
    page.set_viewport_size(VIEWPORT)
