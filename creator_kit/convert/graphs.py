"""Graphs from torch modules: a causal LM's decoding step exported with `torch.export`, converted by OpenVINO
(int8 weights by NNCF on request) or ONNX; the converters kept quiet and off telemetry while they work."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from creator_kit.engines.variant_text import Step
from creator_kit.library.variants import GRAPH_FILES


def export_step(model: Any) -> tuple[Any, dict[str, int]]:
    """`model`'s decoding step as a torch ExportedProgram: (input_ids, *past keys and values) -> (logits, *present),
    with dynamic sequence and cache lengths; and the cache's shape (layers, heads, head_dim)."""
    import torch
    from torch.export import Dim

    config = model.config.get_text_config(decoder=True)
    layers = config.num_hidden_layers
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    ids = torch.zeros(2, 3, dtype=torch.long)
    past = tuple(torch.zeros(2, heads, 5, head_dim) for _ in range(2 * layers))
    batch, seq, cached = Dim("batch"), Dim("seq"), Dim("past")
    dynamic = {"input_ids": {0: batch, 1: seq}, "past": tuple({0: batch, 2: cached} for _ in past)}
    with torch.no_grad():
        program = torch.export.export(Step(model).eval(), (ids, *past), dynamic_shapes=dynamic, strict=False)
    return program, {"layers": layers, "heads": heads, "head_dim": head_dim}


def to_openvino(program: Any, folder: Path, int8: bool = False) -> tuple[str, ...]:
    """`program` as an OpenVINO graph in `folder`; `int8`: its weights compressed to int8 by NNCF (asymmetric, per
    channel) before it is saved."""
    with no_telemetry():
        import openvino

        graph = openvino.convert_model(program)
        if int8:
            import nncf

            graph = nncf.compress_weights(graph)
        save_openvino(graph, folder / GRAPH_FILES["openvino"], fp16=False)
    return ("openvino", "nncf") if int8 else ("openvino",)


def save_openvino(graph: Any, path: Path, *, fp16: bool) -> None:
    """`graph` as `path` (.xml) and its weights beside it as .weights (`fp16`: float weights stored as float16).

    Not OpenVINO's .bin: that is a suffix the store refuses as possible pickle weights, and these are raw tensors.
    """
    import openvino

    try:
        openvino.save_model(graph, path, compress_to_fp16=fp16)
    except RuntimeError as exc:  # OpenVINO's writer says "iostream error", a full disk included: ask the disk
        weights = sum(op.get_byte_size() for op in graph.get_ops() if op.get_type_name() == "Constant")
        if shutil.disk_usage(path.parent).free >= weights:
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
    path.with_suffix(".bin").rename(path.with_suffix(".weights"))


def to_onnx(program: Any, folder: Path) -> tuple[str, ...]:
    import torch

    torch.onnx.export(program, dynamo=True, verbose=False).save(folder / GRAPH_FILES["onnx"])
    return ("onnx", "onnxruntime")


@contextlib.contextmanager
def no_telemetry() -> Iterator[None]:
    """OpenVINO's converter and NNCF send usage statistics unless they run in CI: they run as if there."""
    saved = {name: os.environ.get(name) for name in ("CI", "NNCF_CI")}
    os.environ.update(CI="true", NNCF_CI="1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def quiet_tools() -> Iterator[None]:
    import logging
    import warnings

    with warnings.catch_warnings(), open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)
