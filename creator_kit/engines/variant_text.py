"""A converted variant (creator_kit.convert) as a transformers model: `generate` runs its OpenVINO or ONNX graph.

The graph is one decoding step, (input_ids, k0, v0, k1, v1, ...) -> (last logits, k0, v0, ...); `Step`
is the torch module it was exported from, and `VariantLM.forward` feeds it the generation's cache.
Inputs are never padded here (one prompt, or copies of it), so no attention mask is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache, GenerationConfig, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.cache_utils import DynamicLayer
from transformers.modeling_outputs import CausalLMOutputWithPast

from creator_kit.core.errors import InvalidInputError
from creator_kit.library.variants import GRAPH_FILES, damaged, read_about

#: What transformers calls the key/value cache in model calls and outputs ("past_key_values" before 5.2x).
_CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


class _Layer(DynamicLayer):
    """A cache layer holding given tensors, whose length stays symbolic under export."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        self.keys, self.values, self.device, self.is_initialized = keys, values, keys.device, True

    def get_seq_length(self) -> int:
        return self.keys.shape[-2]


class Step(torch.nn.Module):
    """One decoding step of a causal LM with its cache as tensors (what a variant's graph is exported from)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cache = DynamicCache()
        cache.layers = [_Layer(k, v) for k, v in zip(past[0::2], past[1::2], strict=True)]
        out = self.model(input_ids=input_ids, use_cache=True, **{_CACHE_FIELD: cache})
        return (out.logits[:, -1, :], *(t for layer in cache.layers for t in (layer.keys, layer.values)))


class VariantLM(PreTrainedModel, GenerationMixin):
    """A causal LM whose step runs in OpenVINO or ONNX Runtime (on the CPU, with torch's thread count)."""

    config_class = PretrainedConfig
    main_input_name = "input_ids"
    _supports_sdpa = True  # attention runs inside the graph; this only keeps transformers from choosing

    def __init__(self, config: PretrainedConfig, graph: Path, about: dict[str, Any]) -> None:
        super().__init__(config)
        self.about = about
        self.backend = about["backend"]
        self.generation_config = GenerationConfig.from_model_config(config)
        if (graph.parent / "generation_config.json").is_file():
            self.generation_config = GenerationConfig.from_pretrained(graph.parent)
        try:
            self._run = _openvino(graph) if self.backend == "openvino" else _onnx(graph)
            weights = graph.with_suffix(".weights") if self.backend == "openvino" else graph
            self.graph_bytes = weights.stat().st_size  # what the runtime's memory budget counts (no torch tensors)
        except Exception as exc:  # whatever the runtime says of a graph it cannot read or compile
            raise damaged(graph, about) from exc

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def forward(
        self,
        input_ids: torch.Tensor,
        cache: DynamicCache | None = None,
        past_key_values: DynamicCache | None = None,  # the cache's name before transformers 5.2x
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        cache = cache if cache is not None else past_key_values if past_key_values is not None else DynamicCache()
        if cache.get_seq_length() > 0:
            past = [t.numpy() for layer in cache.layers for t in (layer.keys, layer.values)]
        else:
            empty = np.zeros((input_ids.shape[0], self.about["heads"], 0, self.about["head_dim"]), np.float32)
            past = [empty] * (2 * self.about["layers"])
        logits, *present = self._run([input_ids.numpy(), *past])
        tensors = [torch.from_numpy(t) for t in present]
        cache.layers = [_Layer(k, v) for k, v in zip(tensors[0::2], tensors[1::2], strict=True)]
        return CausalLMOutputWithPast(logits=torch.from_numpy(logits)[:, None, :], **{_CACHE_FIELD: cache})


def _openvino(graph: Path) -> Any:
    import openvino

    # float32: OpenVINO's default on CPUs with AMX / AVX512-BF16 is bfloat16, whose tokens differ from the source's.
    settings = {
        "INFERENCE_NUM_THREADS": torch.get_num_threads(),
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(graph, graph.with_suffix(".weights")), "CPU", settings)
    request = compiled.create_infer_request()

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        request.infer(inputs)
        return [request.get_output_tensor(i).data.copy() for i in range(len(request.model_outputs))]

    return run


def _onnx(graph: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    # Idle workers wait instead of spinning, which would slow torch models running beside it on few cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    names = [item.name for item in session.get_inputs()]

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        return session.run(None, dict(zip(names, inputs, strict=True)))

    return run


def load(folder: Path, *, device: str = "cpu") -> tuple[Any, Any]:
    """The variant in `folder` as a generating model, and its tokenizer (the text loader's answer for a variant)."""
    from transformers import AutoConfig, AutoTokenizer

    if device != "cpu":
        raise InvalidInputError(f"Converted models run on the CPU: use device='cpu', not {device!r}.")
    about = read_about(folder)
    config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    return VariantLM(config, folder / GRAPH_FILES[about["backend"]], about), tokenizer
