"""Text generation with causal language models from the store.

    result = text.generate("Once upon a time", model="distilbert/distilgpt2", preset="creative", seed=7)
    result.text, result.tokens_per_s, result.manifest

    stream = text.stream("Once upon a time", model="distilbert/distilgpt2", max_new_tokens=40)
    for piece in stream:
        print(piece, end="")
    stream.result.text  # the pieces joined

Parameters (named presets fill them; keyword arguments override the preset): max_new_tokens,
do_sample, temperature, top_k, top_p, repetition_penalty, num_return_sequences, stop (strings that
end the text, not included in it) and seed. The same seed, parameters and model revision give the
same text on the same machine. Generation is cancelled by setting the `cancel` event: it stops after
the current token and returns what was written so far.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteriaList,
)

from creator_kit.core import validate
from creator_kit.core.errors import InvalidInputError, WrongTaskError
from creator_kit.core.events import Done, EventCallback, Preview, Progress, emit
from creator_kit.core.quiet import quiet
from creator_kit.core.validate import random_seed
from creator_kit.engines import manifest as manifests
from creator_kit.engines import runtime, variant_text
from creator_kit.engines.text_params import PARAMETER_NAMES, GenerationParams, resolve_params, with_model_defaults
from creator_kit.engines.text_params import PRESETS as PRESETS  # re-exported: text.PRESETS, text.add_preset
from creator_kit.engines.text_params import add_preset as add_preset
from creator_kit.engines.text_streamers import CancelCriteria, CountingStreamer, TokenCounter
from creator_kit.library import variants
from creator_kit.library.catalog import TEXT_GENERATION
from creator_kit.library.store import ModelStore

TASK = TEXT_GENERATION
Prompt = str | list[dict[str, str]]
#: A causal language model and its tokenizer, as the runtime holds them.
TextModel = runtime.LoadedModel[PreTrainedModel, PreTrainedTokenizerBase]


@dataclass
class TextResult:
    """What a generation produced, how fast, and the manifest that reproduces it."""

    texts: list[str]
    prompt_tokens: int
    new_tokens: int  # generated per sequence (the longest), stop strings and cancel included
    elapsed_s: float
    first_token_s: float | None
    finish_reason: str  # length | eos | stop | cancelled
    manifest: manifests.Manifest

    @property
    def text(self) -> str:
        return self.texts[0]

    @property
    def tokens_per_s(self) -> float:
        produced = self.new_tokens * len(self.texts)
        return produced / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def save(
        self,
        folder: str | Path | None = None,
        name: str | None = None,
        *,
        out: str | Path | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the text as a new .txt in ``outputs/`` (or `folder`), or exactly to `out`, with the manifest in a
        ``<file>.json`` sidecar; an existing file is replaced only with `overwrite`."""
        text = "\n\n".join(self.texts)
        return manifests.save_text(text, self.manifest, folder=folder, name=name, out=out, overwrite=overwrite)

    def to_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "prompt_tokens": self.prompt_tokens,
            "new_tokens": self.new_tokens,
            "elapsed_s": self.elapsed_s,
            "first_token_s": self.first_token_s,
            "tokens_per_s": self.tokens_per_s,
            "finish_reason": self.finish_reason,
            "manifest": self.manifest.to_dict(),
        }


def load_causal_lm(path: Path, *, device: str, dtype: torch.dtype, use_safetensors: bool) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a local model folder (the runtime's loader for text; variants included)."""
    if variants.is_variant(path):
        return variant_text.load(path, device=device)
    try:
        with quiet("transformers"):
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=dtype, local_files_only=True, use_safetensors=use_safetensors, trust_remote_code=False
            )
    except ValueError as exc:
        raise WrongTaskError(
            f"The model in {path} is not a text-generation (causal language) model: {exc}".split("\n")[0]
        ) from exc
    return model.to(device).eval(), tokenizer


def load_model(
    model: str, *, quantize: str | None = None, device: str | None = None, on_event: EventCallback | None = None
) -> TextModel:
    """`model` loaded for text generation through the runtime's cache."""
    return runtime.load(model, task=TASK, loader=load_causal_lm, device=device, quantize=quantize, on_event=on_event)


# ---------------------------------------------------------------------------------------------- one generation


@dataclass
class _Job:
    """A prepared generation: the model, the inputs on its device, the parameters and the stop switches."""

    loaded: TextModel
    prompt: Prompt
    chat: bool
    preset: str | None
    params: GenerationParams
    inputs: dict[str, Any]
    cancel: threading.Event
    abandon: threading.Event

    @property
    def prompt_tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[1])


def _prepare(
    prompt: Prompt,
    model: str | TextModel,
    preset: str | None,
    chat: bool | None,
    quantize: str | None,
    device: str | None,
    cancel: threading.Event | None,
    params: dict[str, Any],
) -> _Job:
    resolved = resolve_params(preset, **with_model_defaults(getattr(model, "repo_id", model), preset, params))
    if resolved.seed is None:
        resolved = replace(resolved, seed=random_seed())
    _check_prompt(prompt)
    loaded = runtime.resolve(
        model, task=TASK, load=lambda repo_id: load_model(repo_id, quantize=quantize, device=device)
    )
    tokenizer = loaded.processor
    use_chat = _use_chat(prompt, chat, tokenizer, loaded.repo_id)
    if use_chat:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = tokenizer(rendered, return_tensors="pt", add_special_tokens=False)
    else:
        inputs = tokenizer(prompt, return_tensors="pt")
    limit = getattr(loaded.model.config, "max_position_embeddings", None)
    prompt_tokens = int(inputs["input_ids"].shape[1])
    if limit is not None and prompt_tokens + resolved.max_new_tokens > limit:
        raise InvalidInputError(
            f"{loaded.repo_id} reads at most {limit} tokens; the prompt has {prompt_tokens}, so max_new_tokens "
            f"must be at most {max(0, limit - prompt_tokens)} (shorten the prompt for more)."
        )
    return _Job(
        loaded=loaded,
        prompt=prompt,
        chat=use_chat,
        preset=preset,
        params=resolved,
        inputs={name: tensor.to(loaded.device) for name, tensor in inputs.items()},
        cancel=cancel or threading.Event(),
        abandon=threading.Event(),
    )


def _check_prompt(prompt: Any) -> None:
    """InvalidInputError unless `prompt` is non-empty text, or a list of chat messages with text contents, of at
    most validate.MAX_PROMPT_CHARS (20,000) characters (a chat prompt: its contents together)."""
    if not isinstance(prompt, list):
        validate.prompt(prompt)
        return
    if not prompt or not all(
        isinstance(m, dict) and {"role", "content"} <= m.keys() and isinstance(m["content"], str) for m in prompt
    ):
        raise InvalidInputError("A chat prompt is a list of {'role': ..., 'content': ...} messages with text contents.")
    validate.prompt("".join(message["content"] for message in prompt), "chat prompt", allow_empty=True)


def _use_chat(prompt: Prompt, chat: bool | None, tokenizer: Any, repo_id: str) -> bool:
    """Whether to render `prompt` (checked) with the chat template: a list of messages needs one."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if isinstance(prompt, list):
        chat = True if chat is None else chat
        if not chat:
            raise InvalidInputError("A list of messages needs chat=True; give a plain string for completion.")
    if chat and not has_template:
        raise InvalidInputError(
            f"{repo_id} has no chat template, so it only does plain completion: pass chat=False and a string."
        )
    return has_template if chat is None else chat


#: Every generation runs on this one thread. Seeded runs then cannot interleave, and torch's OpenMP
#: workers stay with one thread: generating alternately on the notebook's thread and a panel's thread
#: made each switch cost several times the speed on a 2-core machine (idle OpenMP workers spin).
_ENGINE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="creator-kit-generate")


def _run(job: _Job, streamer: Any = None) -> tuple[torch.Tensor, float, float]:
    """Run transformers' generate for `job` (on the engine thread); returns the ids, start time and seconds taken."""
    tokenizer = job.loaded.processor
    kwargs = job.params.generate_kwargs()
    if job.params.stop:
        kwargs.update(stop_strings=list(job.params.stop), tokenizer=tokenizer)
    start = time.perf_counter()
    with torch.inference_mode():
        torch.manual_seed(job.params.seed)
        try:
            ids = job.loaded.model.generate(
                **job.inputs,
                **kwargs,
                pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
                stopping_criteria=StoppingCriteriaList([CancelCriteria(job.cancel, job.abandon)]),
                streamer=streamer,
            )
        except RuntimeError as exc:  # sampling from inf / nan: weights damaged in a way their stamp did not show
            damage = ModelStore().find_damage(job.loaded.repo_id) if "probability tensor" in str(exc) else None
            if damage is None:
                raise
            raise damage from exc
    return ids, start, time.perf_counter() - start


def _wait(job: _Job, future: Future) -> tuple[torch.Tensor, float, float]:
    """The engine thread's answer; an interrupt while waiting (Ctrl-C) stops the generation first."""
    try:
        return future.result()
    except BaseException:
        job.abandon.set()
        wait([future])
        raise


def _cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to the first stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _result(job: _Job, output_ids: torch.Tensor, elapsed: float, first_token_s: float | None) -> TextResult:
    tokenizer = job.loaded.processor
    new_ids = output_ids[:, job.prompt_tokens :]
    cut = [_cut_at_stop(text, job.params.stop) for text in tokenizer.batch_decode(new_ids, skip_special_tokens=True)]
    new_tokens = int(new_ids.shape[1])
    if job.cancel.is_set() or job.abandon.is_set():
        reason = "cancelled"
    elif any(stopped for _, stopped in cut):
        reason = "stop"
    else:
        reason = "length" if new_tokens >= job.params.max_new_tokens else "eos"
    parameters = {
        "prompt": job.prompt,
        "chat": job.chat,
        "preset": job.preset,
        "quantize": job.loaded.quantize,
        "backend": getattr(job.loaded.model, "backend", "torch"),
        "device": job.loaded.device,
        "dtype": job.loaded.dtype,
        **job.params.to_dict(),
    }
    return TextResult(
        texts=[text for text, _ in cut],
        prompt_tokens=job.prompt_tokens,
        new_tokens=new_tokens,
        elapsed_s=elapsed,
        first_token_s=first_token_s,
        finish_reason=reason,
        manifest=manifests.Manifest(
            kind="text",
            model=job.loaded.repo_id,
            revision=job.loaded.commit,
            parameters=parameters,
            seed=job.params.seed,
        ),
    )


# ---------------------------------------------------------------------------------------------- public calls


def generate(
    prompt: Prompt,
    *,
    model: str | TextModel,
    preset: str | None = "balanced",
    chat: bool | None = None,
    quantize: str | None = None,
    device: str | None = None,
    cancel: threading.Event | None = None,
    on_event: EventCallback | None = None,
    **params: Any,
) -> TextResult:
    """Generate text from `prompt` with `model` (a repo id in the store, or a LoadedModel).

    `chat`: None uses the model's chat template when it has one; `quantize="int8"` loads the model
    with dynamic int8 quantization (CPU). `params` are GenerationParams fields. Progress arrives as
    token Progress events, then Done with the result.
    """
    job = _prepare(prompt, model, preset, chat, quantize, device, cancel, params)
    counter = TokenCounter(job.params.max_new_tokens, on_event) if on_event else None
    output_ids, start, elapsed = _wait(job, _ENGINE.submit(_run, job, counter))
    first_token_s = counter.first_token_at - start if counter and counter.first_token_at else None
    result = _result(job, output_ids, elapsed, first_token_s)
    emit(on_event, Done("generate", result))
    return result


def stream(
    prompt: Prompt,
    *,
    model: str | TextModel,
    preset: str | None = "balanced",
    chat: bool | None = None,
    quantize: str | None = None,
    device: str | None = None,
    cancel: threading.Event | None = None,
    on_event: EventCallback | None = None,
    **params: Any,
) -> TextStream:
    """Like `generate`, but returns a `TextStream`: iterate it for text pieces as they are produced.

    The model loads and the parameters are checked here, before iteration starts.
    """
    job = _prepare(prompt, model, preset, chat, quantize, device, cancel, params)
    if job.params.num_return_sequences != 1:
        raise InvalidInputError("stream() yields one text: use num_return_sequences=1, or generate() for several.")
    return TextStream(job, on_event)


def call_from(record: manifests.Manifest) -> dict[str, Any]:
    """The arguments of `generate` that make the text of `record` again (the prompt first)."""
    stored = record.parameters
    return {
        "prompt": stored["prompt"],
        "model": record.model,
        "preset": None,
        "chat": stored["chat"],
        "quantize": stored["quantize"],
        "device": stored["device"],
        **{name: stored[name] for name in PARAMETER_NAMES},
    }


def replay(source: manifests.Manifest | str | Path, **overrides: Any) -> TextResult:
    """Run a text manifest (or the sidecar of a saved result) again, optionally changing some parameters."""
    settings = {**call_from(manifests.of_kind(source, "text")), **overrides}
    return generate(settings.pop("prompt"), **settings)


class TextStream:
    """Text pieces of one generation as they are produced; `result` is set once they are all out.

    Breaking out of the loop (or calling `stop()`) ends the generation after the current token.
    Pieces are held back while they could be the start of a stop string, so the pieces always join
    to `result.text`.
    """

    def __init__(self, job: _Job, on_event: EventCallback | None) -> None:
        self._job = job
        self._on_event = on_event
        self.result: TextResult | None = None
        self._future: Future | None = None

    @property
    def running(self) -> bool:
        """Whether the generation is still going on the engine thread."""
        return self._future is not None and not self._future.done()

    @property
    def model(self) -> TextModel:
        return self._job.loaded

    @property
    def params(self) -> GenerationParams:
        return self._job.params

    def stop(self) -> None:
        """End the generation after the current token."""
        self._job.abandon.set()

    def __iter__(self) -> Iterator[str]:
        job, on_event = self._job, self._on_event
        total = job.params.max_new_tokens
        streamer = CountingStreamer(job.loaded.processor, skip_prompt=True, skip_special_tokens=True)

        def work() -> tuple[torch.Tensor, float, float]:
            try:
                return _run(job, streamer)
            except BaseException:
                streamer.end()  # unblock the consumer; _wait raises the error in its thread
                raise

        held = ""
        stopped = drained = False
        try:
            self._future = _ENGINE.submit(work)
            for piece in streamer:
                if stopped:
                    continue
                held, out, stopped = _release(held + piece, job.params.stop)
                if out:
                    emit(on_event, Preview("generate", streamer.tokens, out))
                    yield out
                emit(on_event, Progress("generate", streamer.tokens, total, unit="token"))
            drained = True
            if held and not stopped:
                yield held
        finally:
            if not drained:  # left early: stop the generation, then read to its end-of-stream mark
                job.abandon.set()
                for _ in streamer:
                    pass
            wait([self._future])
        output_ids, start, elapsed = _wait(job, self._future)
        first = streamer.first_token_at - start if streamer.first_token_at else None
        self.result = _result(job, output_ids, elapsed, first)
        emit(on_event, Done("generate", self.result))


def _release(text: str, stops: Sequence[str]) -> tuple[str, str, bool]:
    """Split buffered `text` into (still held, safe to show, stopped) given the stop strings."""
    shown, stopped = _cut_at_stop(text, stops)
    if stopped:
        return "", shown, True
    hold = max((n for s in stops for n in range(1, len(s)) if text.endswith(s[:n])), default=0)
    return text[len(text) - hold :], text[: len(text) - hold], False
