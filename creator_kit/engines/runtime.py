"""Loading models for a task, and the loaded-model cache that keeps memory within a budget.

The engines (text, image, video) hand `load` a loader for their kind of model; the cache makes sure
the same model with the same options is loaded once, and unloads the least recently used models
before a new one would push the loaded total past the budget. Sizes are measured on the loaded
objects (bytes of their tensors, quantized weights included), not assumed. Before a loader runs, the
store checks the model (`ModelStore.check_before_load`): none of its own code, and no file changed
since it was last checked that no longer matches its checksum.

    loaded = runtime.load("distilbert/distilgpt2", task="text-generation", loader=load_causal_lm)
    runtime.loaded()          # ['distilbert/distilgpt2']
    runtime.unload("distilbert/distilgpt2")
"""

from __future__ import annotations

import gc
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import psutil

from creator_kit.core.config import get_settings
from creator_kit.core.errors import CreatorKitError, InvalidInputError, UnsafeWeightsError, WrongTaskError
from creator_kit.core.events import Done, EventCallback, Log, emit
from creator_kit.core.words import with_article
from creator_kit.library import sizing
from creator_kit.library.catalog import catalog_entries
from creator_kit.library.devices import select_device, torch_dtype
from creator_kit.library.hub import PICKLE_SUFFIXES
from creator_kit.library.store import ModelStore, StoreChange

if TYPE_CHECKING:
    import torch

#: ``loader(snapshot_folder, *, device, dtype, use_safetensors, **options) -> (model, processor)``
Loader = Callable[..., tuple[Any, Any]]

QUANTIZATIONS = ("int8",)
#: Share of the device's total memory that loaded models may take unless `set_budget` says otherwise.
DEFAULT_BUDGET_FRACTION = 0.5


ModelT = TypeVar("ModelT")
ProcessorT = TypeVar("ProcessorT")


@dataclass
class LoadedModel(Generic[ModelT, ProcessorT]):
    """A model in memory, ready to run, and where it lives.

    What `model` and `processor` hold depends on the engine that loaded it, each of which names its own
    kind (``text.TextModel``: a causal LM and its tokenizer; ``image.ImageModel``: a diffusers pipeline and
    the scheduler it came with; ``video.VideoModel``: a text-to-video pipeline and no processor).
    """

    repo_id: str
    task: str  # the pipeline task it was loaded for (text-generation, text-to-image, text-to-video)
    commit: str
    model: ModelT
    processor: ProcessorT
    device: str
    dtype: str
    quantize: str | None
    options: dict[str, Any] = field(default_factory=dict)
    memory_bytes: int = 0  # bytes of the model's tensors, measured after loading
    rss_delta_bytes: int = 0  # growth of the process's resident memory during the load
    load_seconds: float = 0.0


class Runtime:
    """The loaded-model cache. `budget_bytes` caps the summed `memory_bytes` of loaded models."""

    def __init__(self, budget_bytes: int | None = None, *, store: ModelStore | None = None) -> None:
        self._budget = budget_bytes
        self._store = store
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()  # least recently used first
        self._lock = threading.RLock()
        self._watchers: list[Callable[[list[str]], None]] = []

    def watch(self, callback: Callable[[list[str]], None]) -> None:
        """Call `callback(loaded_repo_ids)` after every load and unload (the panels keep their status live)."""
        self._watchers.append(callback)

    def unwatch(self, callback: Callable[[list[str]], None]) -> None:
        """Stop calling `callback`."""
        if callback in self._watchers:
            self._watchers.remove(callback)

    def _on_store_change(self, change: StoreChange) -> None:
        """Unload a model removed from (or made again in) a folder models were loaded from: its files are gone."""
        if change.action in ("remove", "register") and change.repo_id is not None:
            self.unload(change.repo_id)

    def _changed(self) -> None:
        repo_ids = self.loaded()
        for callback in list(self._watchers):
            callback(repo_ids)

    @property
    def budget_bytes(self) -> int:
        """The budget in bytes: `set_budget`'s, else $CREATOR_KIT_MEMORY_BUDGET, else half the device's memory."""
        if self._budget is not None:
            return self._budget
        if get_settings().memory_budget is not None:
            return get_settings().memory_budget
        device = select_device()
        if device.startswith("cuda"):
            import torch

            return int(torch.cuda.get_device_properties(device).total_memory * DEFAULT_BUDGET_FRACTION)
        return int(psutil.virtual_memory().total * DEFAULT_BUDGET_FRACTION)

    def set_budget(self, budget_bytes: int | None) -> None:
        """Change the budget (None: the default); models over it are unloaded now, oldest first."""
        if budget_bytes is not None and (not isinstance(budget_bytes, int) or budget_bytes <= 0):
            raise InvalidInputError(f"The memory budget must be a positive number of bytes, not {budget_bytes!r}.")
        with self._lock:
            self._budget = budget_bytes
            self._evict(0)

    def load(
        self,
        repo_id: str,
        *,
        task: str,
        loader: Loader,
        device: str | None = None,
        dtype: str | None = None,
        quantize: str | None = None,
        on_event: EventCallback | None = None,
        **options: Any,
    ) -> LoadedModel:
        """`repo_id` loaded for `task` by `loader`, from the cache when it is already there.

        `dtype` ("float32", "bfloat16", "float16"; None: the best for the device and task, `devices.select_dtype`).

        Raises ModelNotInstalledError (with the command that installs it), WrongTaskError, RemoteCodeError
        and IntegrityError (files damaged since they were last checked, with the repair).
        `quantize="int8"` applies dynamic int8 quantization to the Linear layers (CPU only).
        """
        store = self._store or ModelStore()
        store.watch(self._on_store_change)  # once per models folder: a model deleted there is unloaded too
        installed = store.get(repo_id)
        if installed.task is not None and installed.task != task:
            raise WrongTaskError(
                f"{repo_id} is {with_article(installed.task)} model; {task} needs {with_article(task)} model. "
                f"See `creator-kit models catalog --task {task}`."
            )
        if quantize is not None and quantize not in QUANTIZATIONS:
            raise InvalidInputError(f"quantize must be one of {', '.join(QUANTIZATIONS)} or None, not {quantize!r}.")
        if quantize is not None and device not in (None, "cpu"):
            raise InvalidInputError(f"int8 quantization runs on the CPU only: use device='cpu', not {device!r}.")
        device = select_device("cpu" if quantize is not None else device)
        dtype = torch_dtype(dtype, device, task)
        dtype_name = str(dtype).removeprefix("torch.")
        key = (installed.repo_id, installed.commit, device, dtype_name, quantize, tuple(sorted(options.items())))
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            snapshot = Path(installed.path)
            allow_pickle = installed.allow_pickle
            if not allow_pickle:
                _require_safetensors(installed.repo_id, snapshot)
            store.check_before_load(installed.repo_id)
            emit(on_event, Log("load", f"Loading {repo_id} @ {installed.commit[:12]} on {device} ({dtype_name})"))
            self._evict(sizing.count_parameters(snapshot) * sizing.BYTES_PER_PARAMETER[quantize or dtype_name])
            rss_before = _rss()
            start = time.perf_counter()
            try:
                model, processor = loader(
                    snapshot, device=device, dtype=dtype, **options, use_safetensors=not allow_pickle
                )
            except (CreatorKitError, MemoryError):
                raise
            except Exception as exc:  # a library failing on the files: damage their stamps did not show?
                damage = store.find_damage(installed.repo_id)
                if damage is None:
                    raise  # the files are sound: the library's own error stands
                raise damage from exc
            if quantize == "int8":
                model = quantize_int8(model)
            loaded = LoadedModel(
                repo_id=installed.repo_id,
                task=task,
                commit=installed.commit,
                model=model,
                processor=processor,
                device=device,
                dtype=quantize or dtype_name,
                quantize=quantize,
                options=dict(options),
                memory_bytes=tensor_bytes(model),
                rss_delta_bytes=max(0, _rss() - rss_before),
                load_seconds=time.perf_counter() - start,
            )
            self._models[key] = loaded
            self._evict(0, keep=key)
        self._changed()
        emit(on_event, Done("load", loaded))
        return loaded

    def unload(self, repo_id: str) -> int:
        """Drop every loaded copy of `repo_id` (all option sets); returns the bytes released."""
        with self._lock:
            keys = [key for key, loaded in self._models.items() if loaded.repo_id == repo_id]
            return self._drop(keys)

    def unload_all(self) -> int:
        """Drop every loaded model; returns the bytes released."""
        with self._lock:
            return self._drop(list(self._models))

    def loaded(self) -> list[str]:
        """Repo ids of the loaded models, least recently used first."""
        with self._lock:
            return list(dict.fromkeys(loaded.repo_id for loaded in self._models.values()))

    def entries(self) -> list[LoadedModel]:
        """The loaded models themselves, least recently used first."""
        with self._lock:
            return list(self._models.values())

    def memory_used(self) -> int:
        """Summed `memory_bytes` of the loaded models."""
        with self._lock:
            return sum(loaded.memory_bytes for loaded in self._models.values())

    def _evict(self, incoming_bytes: int, keep: tuple | None = None) -> None:
        """Unload least recently used models until `incoming_bytes` more fit within the budget."""
        budget = self.budget_bytes
        victims = []
        used = self.memory_used()
        for key, loaded in self._models.items():
            if used + incoming_bytes <= budget:
                break
            if key != keep:
                victims.append(key)
                used -= loaded.memory_bytes
        self._drop(victims)

    def _drop(self, keys: list[tuple]) -> int:
        released = sum(self._models.pop(key).memory_bytes for key in keys)
        if keys:
            gc.collect()
            _empty_device_caches()
            self._changed()
        return released


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantization of every Linear layer (GPT-2's Conv1D layers as the equivalent Linear), in place.

    It builds the layers ``torch.ao.quantization.quantize_dynamic`` builds (deprecated in favour of torchao, yet
    still the CPU int8 path that ships with torch, and the fastest one measured here: benchmarks/bench_quantize.py),
    one at a time: each float layer is dropped as its int8 one replaces it, so the peak holds one layer in both
    forms rather than the whole model (359 MB less for GPT-2 124M, benchmarks/RESULTS.md).
    """
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from transformers.pytorch_utils import Conv1D

    places = [
        (parent, name)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear or isinstance(child, Conv1D)  # exactly Linear, as quantize_dynamic matches
    ]
    with warnings.catch_warnings():  # the two deprecation notices torch 2.13 gives for this path, nothing else
        warnings.filterwarnings("ignore", "torch.ao.quantization is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", "torch.quantize_per_tensor, torch.quantize_per_channel", UserWarning)
        for parent, name in places:
            layer = linear_of(getattr(parent, name))
            layer.qconfig = torch.ao.quantization.default_dynamic_qconfig
            setattr(parent, name, DynamicLinear.from_float(layer))
            del layer
    return model


def as_linear(model: torch.nn.Module) -> torch.nn.Module:
    """`model` with its transformers Conv1D layers (GPT-2's) replaced by the equivalent Linear layers, in place."""
    from transformers.pytorch_utils import Conv1D

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                setattr(parent, name, linear_of(child))
    return model


def linear_of(layer: torch.nn.Module) -> torch.nn.Module:
    """`layer` as a torch Linear: a Linear as it is, a transformers Conv1D (its weight transposed) as a new one."""
    import torch

    if isinstance(layer, torch.nn.Linear):
        return layer
    linear = torch.nn.Linear(layer.nx, layer.nf, device=layer.weight.device, dtype=layer.weight.dtype)
    linear.weight = torch.nn.Parameter(layer.weight.detach().t().contiguous(), requires_grad=False)
    linear.bias = layer.bias
    return linear


def tensor_bytes(model: Any) -> int:
    """Bytes held by the tensors of a torch module or a diffusers pipeline's modules.

    Shared tensors are counted once; packed int8 weights are included, and so are the weights a converted
    variant's runtime holds (its modules' `graph_bytes`).
    """
    import torch

    modules = [model] if isinstance(model, torch.nn.Module) else list(getattr(model, "components", {}).values())
    seen: set[int] = set()
    total = 0
    stack = [v for m in modules if isinstance(m, torch.nn.Module) for v in m.state_dict().values()]
    while stack:
        value = stack.pop()
        if isinstance(value, tuple | list):
            stack.extend(value)
        elif isinstance(value, torch.Tensor) and value.data_ptr() not in seen:
            seen.add(value.data_ptr())
            total += value.numel() * value.element_size()
    return total + sum(getattr(m, "graph_bytes", 0) for m in modules)


def _require_safetensors(repo_id: str, snapshot: Path) -> None:
    """UnsafeWeightsError when the only weights in `snapshot` are pickle files."""
    pickles = sorted(p.name for p in snapshot.rglob("*") if p.suffix in PICKLE_SUFFIXES)
    if pickles and not any(snapshot.rglob("*.safetensors")):
        raise UnsafeWeightsError(
            f"{repo_id} has only pickle weights ({', '.join(pickles[:3])}), which can run arbitrary code when "
            f"loaded. If you trust its author, run `creator-kit models download {repo_id} --allow-pickle`."
        )


def _rss() -> int:
    return psutil.Process().memory_info().rss


def _empty_device_caches() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def resolve(model: str | LoadedModel, *, task: str, load: Callable[[str], LoadedModel]) -> LoadedModel:
    """`model` ready to run for `task`: a LoadedModel as it is (if loaded for `task`), a repo id through `load`."""
    if isinstance(model, LoadedModel):
        if model.task != task:
            raise WrongTaskError(f"{model.repo_id} is loaded for {model.task}, not {task}.")
        return model
    if not isinstance(model, str):
        example = catalog_entries(task)[0].repo_id
        raise InvalidInputError(f"model must be a model id such as {example!r} or a loaded model, not {model!r}.")
    return load(model)


default_runtime = Runtime()
load = default_runtime.load
unload = default_runtime.unload
unload_all = default_runtime.unload_all
loaded = default_runtime.loaded
set_budget = default_runtime.set_budget
watch = default_runtime.watch
unwatch = default_runtime.unwatch
