"""How fast an installed model runs on this machine, measured through Creator Kit's own engines, and kept.

    result = bench.run("local/starter-image", on_event=TqdmReporter())
    result.summary()                    # 'about 3 s per picture here (25 steps at 512x512, ...)'
    bench.here("local/starter-image")   # the figures stored for this machine, newest first

Each task is timed as a user runs it, on a short run. A text-to-image model renders one picture at its own
size in `STEPS` steps; the time per step (between the step events, the first step's warm-up left out) is
extrapolated to a picture of the model's default step count (the catalog's, else the engine's), plus the run's
fixed cost (text encoding, decoding). A text-to-video model renders its own frames the same way, encoding
included. A text model decodes at most
`TOKENS` tokens greedily: tokens/s after the first token, and the time to it. The model is loaded afresh
(timed), and the peak growth of resident memory covers loading and running.

Figures are stored beside the model (``creator-kit-bench.json`` in its store folder, written atomically) under
the machine that made them: device, processor, its notable CPU flags, torch version and threads, and the dtype.
Only figures whose machine is this one, for the installed commit, are shown as "here".
"""

from __future__ import annotations

import platform
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from creator_kit.core import files, readers
from creator_kit.core.errors import CancelledError, InvalidInputError, WrongTaskError
from creator_kit.core.events import Done, EventCallback, Log, Progress, emit
from creator_kit.core.memory import peak_memory
from creator_kit.library import cache
from creator_kit.library.catalog import TEXT_GENERATION, TEXT_TO_IMAGE, TEXT_TO_VIDEO, model_defaults
from creator_kit.library.devices import DTYPES, device_available
from creator_kit.library.store import ModelStore

OPERATION = "bench"
RECORD_NAME = "creator-kit-bench.json"
PROMPT = "a lighthouse on a cliff at dawn, oil painting"
TEXT_PROMPT = "Once upon a time"
STEPS = 3  # the short run of a diffusion model; the first step (warm-up, text encoding) is not counted per step
TOKENS = 32
SEED = 0
#: CPU flags that change how fast models run here (vector and matrix units); part of the machine's identity.
NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
TASKS = (TEXT_GENERATION, TEXT_TO_IMAGE, TEXT_TO_VIDEO)


@dataclass(frozen=True)
class BenchResult:
    """The figures of one model on one machine in one dtype, and what was run to get them."""

    repo_id: str
    commit: str
    task: str
    dtype: str
    machine: dict[str, Any]
    figures: dict[str, float]
    settings: dict[str, Any]
    measured_at: str

    def summary(self) -> str:
        """The figure people read first, in words: 'about 3 s per picture here (...)'."""
        f, s, where = self.figures, self.settings, f"{self.dtype} on {self.machine['device']}"
        if self.task == TEXT_GENERATION:
            first = [f"first token after {_seconds(f['first_token_s'])} s"] if f.get("first_token_s") else []
            return f"about {f['tokens_per_s']:.0f} tokens/s here ({', '.join([*first, where])})"
        size = f"{s['width']}x{s['height']}"
        if self.task == TEXT_TO_IMAGE:
            return (
                f"about {_seconds(f['seconds_per_picture'])} s per picture here ({s['picture_steps']} steps at "
                f"{size}, {_seconds(f['seconds_per_step'])} s per step, {where})"
            )
        return (
            f"about {_seconds(f['seconds_per_video'])} s per video here ({s['frames']} frames at {size}, "
            f"{s['video_steps']} steps, {_seconds(f['seconds_per_frame'])} s per frame, {where})"
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), summary=self.summary())


def run(
    repo_id: str,
    *,
    dtype: str | None = None,
    device: str | None = None,
    cancel: threading.Event | None = None,
    on_event: EventCallback | None = None,
) -> BenchResult:
    """Measure `repo_id` (installed in the configured store) here and store the figures beside it; returns them.

    `dtype`: None for the engine's default here; "float32", "bfloat16" or "float16" for a diffusion model,
    "float32" or "int8" (dynamic quantization) for a text model. Events: Log lines and Progress over the
    stages (load, run) of operation "bench", the engine's own step or token events, then Done with the result.
    Setting `cancel` stops the run with CancelledError and stores nothing.
    """
    from creator_kit.engines import runtime

    store = ModelStore()  # the one the engines load from
    model = store.get(repo_id)  # ModelNotInstalledError (exit 3) saying how to install it
    if model.task not in TASKS:
        raise WrongTaskError(f"{model.repo_id} has no task Creator Kit can measure ({model.task!r}).")
    options = _load_options(model.task, dtype, device)
    store.require_writable()  # before any work: the figures will be written there
    cancel = cancel or threading.Event()
    emit(on_event, Progress(OPERATION, 0, 2, unit="stage", stage=model.repo_id))
    engine = _engine(model.task)  # its libraries imported first: their code is not the model's time or memory
    runtime.unload(model.repo_id)  # loading is part of what is measured
    with peak_memory() as peak:
        started = time.perf_counter()
        loaded = engine.load_model(model.repo_id, on_event=on_event, **options)
        load_s = time.perf_counter() - started
        emit(on_event, Progress(OPERATION, 1, 2, unit="stage", stage=model.repo_id))
        emit(on_event, Log(OPERATION, f"{model.repo_id}: loaded in {load_s:.1f} s, running a short {model.task} run"))
        figures, settings = MEASURES[model.task](loaded, cancel, on_event)
    if cancel.is_set():  # a text generation stops early rather than raising: its figures are not whole
        raise CancelledError(f"Measuring {model.repo_id} was cancelled; no figures were stored.")
    figures = {"load_s": load_s, **figures, "peak_memory_bytes": float(peak[0])}
    result = BenchResult(
        repo_id=model.repo_id,
        commit=model.commit,
        task=model.task,
        dtype=loaded.dtype,
        machine=machine(loaded.device),
        figures=figures,
        settings=settings,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _store_result(store, result)
    emit(on_event, Progress(OPERATION, 2, 2, unit="stage", stage=model.repo_id))
    emit(on_event, Done(OPERATION, result))
    store.refresh()  # every view of the store shows the new figures
    return result


def here(repo_id: str, *, store: ModelStore | None = None) -> list[BenchResult]:
    """The stored figures of `repo_id` made on this machine for its installed commit, newest first (none, or not
    installed: [])."""
    store = store or ModelStore()
    if not store.is_installed(repo_id):
        return []
    path = _record_path(store, repo_id)
    if not path.exists():
        return []
    commit = store.get(repo_id).commit
    found = [r for r in _read(path) if r.commit == commit and _is_here(r.machine)]
    return sorted(found, key=lambda r: r.measured_at)[::-1]  # the same second: the one stored last first


def machine(device: str) -> dict[str, Any]:
    """What decides speed here: the device, the processor (or GPU) name, notable CPU flags, torch and its threads."""
    import torch

    processor = torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu_name()
    return {
        "device": device,
        "processor": processor,
        "cpu_flags": cpu_flags(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def cpu_name() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else what Python's platform module says."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The NOTABLE_FLAGS this processor has (Linux; elsewhere none are known)."""
    flags = next((line.split(":", 1)[1].split() for line in _cpuinfo().splitlines() if line.startswith("flags")), [])
    return [flag for flag in NOTABLE_FLAGS if flag in flags]


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _is_here(recorded: dict[str, Any]) -> bool:
    device = recorded.get("device")
    return isinstance(device, str) and device_available(device) and recorded == machine(device)


def _load_options(task: str, dtype: str | None, device: str | None) -> dict[str, Any]:
    """The engine's load_model keywords for `dtype`, or InvalidInputError naming those allowed for `task`."""
    if task == TEXT_GENERATION:
        if dtype not in (None, "float32", "int8"):
            raise InvalidInputError(f"A text model runs in float32 or int8 here, not {dtype!r}.")
        return {"quantize": "int8" if dtype == "int8" else None, "device": device}
    if dtype is not None and dtype not in DTYPES:
        raise InvalidInputError(f"A {task} model runs in {', '.join(DTYPES)} (or the best here), not {dtype!r}.")
    return {"dtype": dtype, "device": device}


def _engine(task: str) -> Any:
    from creator_kit.engines import image, text, video

    return {TEXT_GENERATION: text, TEXT_TO_IMAGE: image, TEXT_TO_VIDEO: video}[task]


class _StepClock:
    """The times of the step events of a run (Progress in "step" units), passing every event on."""

    def __init__(self, on_event: EventCallback | None) -> None:
        self.on_event, self.times = on_event, []

    def __call__(self, event: Any) -> None:
        if isinstance(event, Progress) and event.unit == "step" and event.completed >= 1:
            self.times.append(time.perf_counter())
        emit(self.on_event, event)

    def per_step(self) -> float:
        """Seconds per step between the first step's end and the last's (the first step warms up)."""
        return (self.times[-1] - self.times[0]) / (len(self.times) - 1)


def _measure_text(loaded: Any, cancel: threading.Event, on_event: EventCallback | None) -> tuple[dict, dict]:
    from creator_kit.engines import text

    events = _StepClock(on_event)  # with a callback, the engine times the first token
    result = text.generate(
        TEXT_PROMPT, model=loaded, preset="precise", max_new_tokens=TOKENS, cancel=cancel, on_event=events
    )
    first = result.first_token_s or 0.0
    decoding = result.elapsed_s - first
    rate = (result.new_tokens - 1) / decoding if result.new_tokens > 1 and decoding > 0 else result.tokens_per_s
    figures = {"tokens_per_s": rate, "first_token_s": first}
    return figures, {"new_tokens": result.new_tokens, "decoding": "greedy", "quantize": loaded.quantize}


def _measure_image(loaded: Any, cancel: threading.Event, on_event: EventCallback | None) -> tuple[dict, dict]:
    from creator_kit.engines import image

    picture_steps = model_defaults(loaded.repo_id).get("steps", image.ImageParams.__dataclass_fields__["steps"].default)
    clock = _StepClock(on_event)
    started = time.perf_counter()
    result = image.generate(PROMPT, model=loaded, steps=STEPS, seed=SEED, previews=False, cancel=cancel, on_event=clock)
    run_s, per_step = time.perf_counter() - started, clock.per_step()
    figures = {
        "run_s": run_s,
        "seconds_per_step": per_step,
        "seconds_per_picture": run_s + (picture_steps - STEPS) * per_step,  # extrapolated from the short run
    }
    width, height = result.image.size
    settings = {"width": width, "height": height, "steps_run": STEPS, "picture_steps": picture_steps}
    return figures, dict(settings, guidance=result.manifest.parameters["guidance"])


def _measure_video(loaded: Any, cancel: threading.Event, on_event: EventCallback | None) -> tuple[dict, dict]:
    from creator_kit.engines import video

    video_steps = model_defaults(loaded.repo_id).get("steps", video.QUALITIES["standard"]["steps"])
    clock = _StepClock(on_event)
    with tempfile.TemporaryDirectory(prefix="creator-kit-bench-") as scratch:
        result = video.generate(
            PROMPT, model=loaded, steps=STEPS, seed=SEED, out=Path(scratch) / "bench.mp4", cancel=cancel, on_event=clock
        )
    run_s, per_step, count = result.elapsed_s, clock.per_step(), len(result.frames)
    seconds_per_video = run_s + (video_steps - STEPS) * per_step  # extrapolated from the short run
    figures = {
        "run_s": run_s,
        "seconds_per_step": per_step,
        "seconds_per_video": seconds_per_video,
        "seconds_per_frame": seconds_per_video / count,
    }
    width, height = result.frames[0].shape[1], result.frames[0].shape[0]
    return figures, {"width": width, "height": height, "frames": count, "steps_run": STEPS, "video_steps": video_steps}


MEASURES = {TEXT_GENERATION: _measure_text, TEXT_TO_IMAGE: _measure_image, TEXT_TO_VIDEO: _measure_video}


def _record_path(store: ModelStore, repo_id: str) -> Path:
    return store.models_dir / cache.repo_folder_name(store.get(repo_id).repo_id) / RECORD_NAME


def _read(path: Path) -> list[BenchResult]:
    """The results stored in `path` (`core.readers`); a record that does not read, or entries of the wrong shape
    (hand-edited, older, damaged), count as not measured."""
    if not path.is_file():
        return []
    try:
        data = readers.read_json(path, what="bench record")
    except InvalidInputError:
        return []
    entries = data.get("results") if isinstance(data, dict) else None
    results = [_result(entry) for entry in entries] if isinstance(entries, list) else []
    return [result for result in results if result is not None]


def _result(entry: Any) -> BenchResult | None:
    """`entry` as a BenchResult when it holds every field with the right kind of value (figures as numbers) and
    what its task's summary reads; else None."""
    kinds = {"repo_id": str, "commit": str, "task": str, "dtype": str, "measured_at": str}
    kinds |= {"machine": dict, "figures": dict, "settings": dict}
    if not isinstance(entry, dict) or set(entry) != set(kinds):
        return None
    if not all(isinstance(entry[name], kind) for name, kind in kinds.items()):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in entry["figures"].values()):
        return None
    result = BenchResult(**entry)
    try:
        result.summary()
    except (KeyError, TypeError, ValueError):
        return None
    return result


def _store_result(store: ModelStore, result: BenchResult) -> None:
    """Add `result` to the model's record, replacing the one of the same machine, dtype and commit."""
    path = _record_path(store, result.repo_id)
    same = (result.machine, result.dtype, result.commit)
    kept = [r for r in _read(path) if (r.machine, r.dtype, r.commit) != same]
    files.write_json(path, {"results": [asdict(r) for r in [*kept, result]]})


def _seconds(value: float) -> str:
    """Seconds as people say them: 0.12, 3.4, 42."""
    return f"{value:.2f}" if value < 1 else f"{value:.1f}" if value < 10 else f"{value:.0f}"
