"""The quickstart notebook's panels in a real JupyterLab, driven by Playwright with the system Chromium.

JupyterLab on loopback, started with Creator Kit's own privacy settings, serves a copy of
notebooks/00_quickstart.ipynb parametrized for the test hub and a models folder without a text model (a fresh
machine: the notebook builds the starter text model). Chromium runs every cell, checks that each panel renders
as a live widget, then, as a person would: trains again with the monitor's Train and sees its curves grow before
the run ends; downloads a model and generates text by clicking; reads every text
of the panels in the Light and the Dark theme and measures its contrast; searches a Hub that does not answer
while using another button; deletes a model; exports the executed notebook to HTML and reads the panels in it
with the network cut off; restarts the kernel, finds each dead panel replaced by its snapshot, and runs every cell
a second time on the same store. Screenshots of the notebook and of
each panel in both themes, and the contrast measured (contrast.json), go to $CREATOR_KIT_TEST_ARTIFACTS
(default test-artifacts/browser/); on a failure, failure.png shows the page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from conftest import TINY_GPT2
from lab_page import (
    AA_CONTRAST,
    CHROMIUM,
    CHROMIUM_ARGS,
    LONG_MS,
    VIEWPORT,
    WAIT_MS,
    Lab,
    button,
    contrast,
    exactly,
    field,
    hide_side_bars,
    menu,
    open_notebook,
    run_all_cells,
    save_screenshot,
    sideways,
    start_lab,
    stop,
    switch_theme,
    truncated,
    wait_for_cells,
    wait_for_idle_kernel,
)
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from playwright.sync_api import Locator, Page, expect, sync_playwright

from creator_kit import ModelStore
from widgets.shared.style import RERUN

REPO = Path(__file__).parent.parent
QUICKSTART = REPO / "notebooks" / "00_quickstart.ipynb"
ARTIFACTS = Path(os.environ.get("CREATOR_KIT_TEST_ARTIFACTS", REPO / "test-artifacts" / "browser"))
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
NEWS_PROMPT = "Would you like to get notified"  # JupyterLab's toast when nobody turned its news feed off
TRAIN_STEPS = 30  # the quickstart's fine-tune: long enough to watch its curves grow

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")

# Each panel's class (the panels mark their live view with it): how the test tells the panels' outputs apart.
PANELS = {
    "model-browser": ".ck-model-browser",
    "text-previewer": ".ck-text-previewer",
    "image-previewer": ".ck-image-previewer",
    "video-previewer": ".ck-video-previewer",
    "training-monitor": ".ck-training-monitor",
    "compare": ".ck-compare",
}

# What each panel's static snapshot says in the exported HTML: its title, and a sign of its final state.
SNAPSHOT_TEXTS = {
    "model-browser": ("Model browser", "freed."),
    "text-previewer": ("Generation previewer, text mode", "tokens in"),
    "image-previewer": ("Generation previewer, image mode", "steps in"),
    "video-previewer": ("Generation previewer, video mode", "frames in"),
    "training-monitor": ("Training monitor", "Done: local/quickstart"),
    "compare": ("Compare models", "fastest"),
}


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
        "train_steps": TRAIN_STEPS,
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
def silent_hub() -> Iterator[tuple[str, Callable[[], None]]]:
    """A Hub that takes connections and never finishes an answer (a byte of a header now and then, so no read
    times out): a network that hangs. Its endpoint, and the call that shuts it, after which nothing listens."""
    server = socket.create_server(("127.0.0.1", 0))
    closed = threading.Event()

    def shut() -> None:
        closed.set()
        server.close()

    def answer_slowly(connection: socket.socket) -> None:
        with connection:
            connection.sendall(b"HTTP/1.1 200 OK\r\nX-Waiting: ")
            while not closed.wait(0.3):
                connection.sendall(b"z")

    def serve() -> None:
        while not closed.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer_slowly, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", shut
    shut()


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


def panel(page: Page, name: str) -> Locator:
    """The cell output holding the panel `name` (a key of PANELS), rendered as a live widget."""
    found = page.locator(".jp-OutputArea-output").filter(has=page.locator(PANELS[name]))
    expect(found, f"the {name} panel is not shown as a live widget").to_have_count(1)
    return found


def card(scope: Locator, repo_id: str) -> Locator:
    """The model browser's card for `repo_id`."""
    return scope.locator(".ck-card").filter(has=scope.page.locator("b", has_text=exactly(repo_id)))


def run_in_kernel(lab: Lab, code: str) -> None:
    """Run `code` in the notebook's kernel as a second client, leaving the notebook as it is."""
    from jupyter_client import BlockingKernelClient

    (connection,) = lab.runtime.glob("kernel-*.json")
    client = BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    client.start_channels()
    try:
        reply = client.execute_interactive(code, timeout=30, output_hook=lambda message: None)
    finally:
        client.stop_channels()
    assert reply["content"]["status"] == "ok", reply["content"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quickstart_panels_work_in_jupyterlab(lab, page, fresh_models, silent_hub, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    notebook = lab.root / QUICKSTART.name
    cells = len(nbformat.read(notebook, as_version=4).cells)
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
        curve = monitor.locator(".ck-curves svg polyline.ck-series-train").first
        expect(curve).to_be_visible()
        assert len(curve.get_attribute("points").split()) >= 2, "the training monitor draws no curve"
        drawn_live = monitor_draws_while_training(page, monitor, TRAIN_STEPS)
        expect(panels["compare"]).to_contain_text("fastest")  # the quickstart's comparison, in its grid

        field(browser, "Repo id").fill(TINY_GPT2)
        button(browser, "Add").click()
        gpt2 = card(browser, TINY_GPT2)
        button(gpt2, "Download").click()
        expect(gpt2.locator(".ck-badge", has_text=exactly("downloaded"))).to_be_visible(timeout=LONG_MS)
        assert ModelStore(fresh_models).is_installed(TINY_GPT2)

        button(gpt2, "Use in previewer").click()
        expect(field(previewer, "Model")).to_have_value(re.compile(re.escape(TINY_GPT2)))
        history = field(previewer, "History").locator("option")
        entries = history.count()
        field(previewer, "Prompt").fill("Once upon a time")
        button(previewer, "Generate").click()
        expect(history).to_have_count(entries + 1, timeout=LONG_MS)
        expect(history.last).to_contain_text(TINY_GPT2)
        expect(previewer).to_contain_text("tokens in")
        output = previewer.locator("textarea:disabled")
        expect(output).not_to_have_value("")
        generated = output.input_value()
        field(previewer, "History").select_option(index=0)  # back to the quickstart's own result
        expect(output).not_to_have_value(generated)

        field(browser, "Filter").fill("tiny")  # the text filter, and a shorter shot
        expect(card(browser, "openai-community/gpt2")).to_have_count(0)
        expect(card(browser, TINY_GPT2)).to_be_visible()
        measured = {theme: check_theme(page, panels, theme) for theme in THEMES}
        measured["monitor drawn while training"] = drawn_live

        search_while_another_button_works(lab, browser, gpt2, silent_hub)
        delete_leaves_no_ghosts(browser, previewer, TINY_GPT2)
        measured["exported"] = export_and_read_offline(page, notebook, tmp_path / "export")
        results_after_a_kernel_restart(page)
        expect(page.get_by_text(NEWS_PROMPT), "JupyterLab asked about its news feed").to_have_count(0)
    (ARTIFACTS / "contrast.json").write_text(json.dumps(measured, indent=2))


def check_theme(page: Page, panels: dict[str, Locator], theme: str) -> dict:
    """In `theme`: every text of the panels at least 4.5:1 against its background, no panel scrolling sideways,
    no label cut off; screenshots of each panel. Returns the worst contrast found."""
    switch_theme(page, THEMES[theme])
    live = page.locator(".ck-panel")
    found = contrast(live)
    below = [f"{f['ratio']:.2f}:1 {f['color']} on {f['background']} <{f['tag']}> {f['text']!r}" for f in found]
    below = below[: sum(f["ratio"] < AA_CONTRAST for f in found)]  # `found` is sorted, worst first
    assert found and not below, f"{theme}: texts below 4.5:1, worst first:\n" + "\n".join(below)
    assert not sideways(live), f"{theme}: these scroll sideways: {sideways(live)}"
    assert not truncated(live), f"{theme}: these labels are cut off: {truncated(live)}"
    for name, element in panels.items():
        save_screenshot(page, element, ARTIFACTS / (f"{name}.png" if theme == "light" else f"{name}-{theme}.png"))
    return {"worst": found[0], "texts": len(found)}


def search_while_another_button_works(
    lab: Lab, browser: Locator, gpt2: Locator, hub: tuple[str, Callable[[], None]]
) -> None:
    """With a Hub that hangs, a search shows it is working while Verify still answers; Cancel stops the wait;
    with nothing listening, the search says so within seconds."""
    endpoint, shut = hub
    run_in_kernel(lab, f"import os; os.environ['HF_ENDPOINT'] = {endpoint!r}")
    field(browser, "Hub search").fill("tiny")
    button(browser, "Search").click()
    searching = browser.get_by_text(exactly("Searching…"))
    expect(searching).to_be_visible()
    button(gpt2, "Verify").click()
    expect(gpt2.get_by_text(re.compile("files match their published checksums"))).to_be_visible()
    expect(searching, "the search ended while Verify ran: it did not hang").to_be_visible()
    button(browser, "Cancel").filter(visible=True).click()
    expect(browser.get_by_text(exactly("Search cancelled."))).to_be_visible()
    expect(button(browser, "Search")).to_be_enabled()

    shut()  # nothing listens any more: the network is down
    button(browser, "Search").click()
    expect(browser.locator(".ck-error", has_text=re.compile(re.escape(endpoint)))).to_be_visible(timeout=15_000)
    expect(browser).not_to_contain_text("Traceback")


def delete_leaves_no_ghosts(browser: Locator, previewer: Locator, repo_id: str) -> None:
    """Deleting a loaded model moves its card back to Available (added by id: "not downloaded"), and the previewer
    no longer offers it."""
    gpt2 = card(browser, repo_id)
    button(gpt2, "Delete").click()
    button(gpt2, "Confirm delete").click()
    expect(gpt2.get_by_text(re.compile(r"Deleted, .* freed\."))).to_be_visible()
    expect(card(browser.locator(".ck-yours"), repo_id)).to_have_count(0)
    badges = card(browser.locator(".ck-available"), repo_id).locator(".ck-badge")
    expect(badges.filter(has_text=exactly("not downloaded"))).to_be_visible()
    expect(badges.filter(has_text=re.compile(r"^\s*(loaded|downloaded)\s*$"))).to_have_count(0)
    expect(field(previewer, "Model").locator("option", has_text=repo_id)).to_have_count(0)


def export_and_read_offline(page: Page, notebook: Path, folder: Path) -> dict:
    """Save the notebook, export it with `jupyter nbconvert --to html`, and open the HTML with every http(s)
    request refused: each panel's snapshot shows its final state, readable (4.5:1). Returns the worst contrast."""
    expect(page.locator(".ck-snapshot", has_text="Done: local/quickstart")).to_be_attached()  # the last one sent
    page.locator(".jp-Notebook .jp-InputPrompt").first.click()
    page.keyboard.press("Control+s")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0)
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(notebook), "--output-dir", str(folder)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    offline = page.context.browser.new_page(viewport=VIEWPORT)
    refused: list[str] = []

    def refuse(route) -> None:
        refused.append(route.request.url)
        route.abort()

    offline.route(re.compile(r"^https?://"), refuse)
    offline.goto((folder / notebook.with_suffix(".html").name).as_uri())
    snapshots = offline.locator(".ck-snapshot")
    expect(snapshots).to_have_count(len(PANELS))
    for name, (title, state) in SNAPSHOT_TEXTS.items():
        shown = snapshots.filter(has_text=title).filter(visible=True)
        expect(shown, f"the {name} snapshot is not shown offline").to_have_count(1)
        expect(shown).to_contain_text(state)
    for name in ("image-previewer", "video-previewer"):
        pictures = snapshots.filter(has_text=SNAPSHOT_TEXTS[name][0]).locator("img[src^='data:image/']")
        assert pictures.count() and pictures.first.evaluate("img => img.naturalWidth") > 0, f"{name}: no picture"
    curves = snapshots.filter(has_text=SNAPSHOT_TEXTS["training-monitor"][0]).locator("svg polyline")
    assert curves.count() and curves.first.is_visible(), "training-monitor: no curves offline"
    found = contrast(snapshots)
    assert found[0]["ratio"] >= AA_CONTRAST, f"exported snapshot text below 4.5:1: {found[0]}"
    text_snapshot = snapshots.filter(has_text=SNAPSHOT_TEXTS["text-previewer"][0])
    text_snapshot.screenshot(path=ARTIFACTS / "exported-text-previewer.png")  # what a reader sees offline
    offline.close()
    return {"worst": found[0], "texts": len(found), "refused": sorted(set(refused))}


def results_after_a_kernel_restart(page: Page) -> None:
    """Restart the kernel: every panel is replaced by its snapshot under the line that says to run the cell again,
    and no control of a dead panel can be clicked. Then run every cell again (the notebook's second run on the same
    store): every panel is live again, the text panel lists the outputs of both runs, and Open shows one."""
    menu(page, "Kernel", "Restart Kernel…").click()
    page.locator(".jp-Dialog-button", has_text=exactly("Restart")).click()
    wait_for_idle_kernel(page)
    dead = page.locator(".jp-OutputArea-child").filter(has=page.locator(".ck-panel.jupyter-widgets-disconnected"))
    expect(dead).to_have_count(len(PANELS), timeout=WAIT_MS)
    rerun = page.locator(".jp-OutputArea-child:has(.ck-panel) + .jp-OutputArea-child .ck-rerun")
    expect(rerun).to_have_count(len(PANELS))
    for line in rerun.all():
        expect(line).to_be_visible()
        expect(line).to_have_text(RERUN)
    for name in PANELS:
        expect(page.locator(".jp-OutputArea-output").filter(has=page.locator(PANELS[name]))).to_be_hidden()
    controls = page.locator(".ck-panel").locator(".widget-button, input, select, textarea")
    expect(controls.filter(visible=True)).to_have_count(0)  # hidden: nothing dead to click
    chains = page.locator(".jupyter-widgets-disconnected").filter(visible=True)  # finished progress bars, still shown
    drawn = "views => views.filter(view => getComputedStyle(view, '::before').content !== 'none').length"
    assert chains.evaluate_all(drawn) == 0, "ipywidgets' broken-chain icons are shown"

    menu(page, "Kernel", "Restart Kernel and Run All Cells…").click()  # the notebook's second run, on one store
    page.locator(".jp-Dialog-button", has_text=exactly("Restart")).click()
    wait_for_cells(page, "the second run of every cell")
    expect(page.get_by_text("Error displaying widget")).to_have_count(0)
    expect(page.locator(".ck-panel:not(.jupyter-widgets-disconnected)")).to_have_count(len(PANELS))
    previewer = panel(page, "text-previewer")
    saved = field(previewer, "Saved").locator("option")
    expect(saved.first).to_be_attached(timeout=LONG_MS)
    assert saved.count() >= 2, "the text generated before the restart is not listed"
    field(previewer, "Saved").select_option(index=0)
    button(previewer, "Open").click()
    expect(previewer.locator("textarea:disabled")).not_to_have_value("")


# The training monitor's curves, in a browser: drawn while the run trains, not only at its end.
DRAWN_WHILE_TRAINING = """root => {
  const progress = [...root.querySelectorAll('.widget-label')].map((e) => e.textContent.match(/^(\\d+)\\/(\\d+) steps/))
    .find(Boolean);
  const line = root.querySelector(".ck-curves polyline[class='ck-series-train']");
  const points = line ? line.getAttribute('points').trim().split(/\\s+/).length : 0;
  if (!progress || points < 2) return null;
  const [done, total] = [Number(progress[1]), Number(progress[2])];
  return done < total && points <= done ? {done, total, points} : null;
}"""


def monitor_draws_while_training(page: Page, monitor: Locator, steps: int = 30) -> dict:
    """Press the monitor's Train and find its loss curve drawn (a polyline with points, no more than the steps
    done) while the progress still shows fewer steps done than the run's total, read in one go in the page.
    After the notebook's own run this is a second Train: the quickstart ticks Replace (overwrite=True), so it
    trains local/quickstart again (without Replace, Save as holds the free name the panel proposed). The notebook
    must be parametrized for a `steps`-step run (train_steps); returns what was seen, once the run is done."""
    train = button(monitor, "Train")
    expect(train).to_be_enabled()
    train.click()
    seen = page.wait_for_function(DRAWN_WHILE_TRAINING, arg=monitor.element_handle(), timeout=LONG_MS).json_value()
    assert seen["total"] == steps, f"the run takes {seen['total']} steps, not {steps}: set train_steps={steps}"
    expect(monitor.locator(".widget-html", has_text="Done: local/")).to_be_visible(timeout=LONG_MS)
    return seen
