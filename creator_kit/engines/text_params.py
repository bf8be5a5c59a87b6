"""Text generation parameters: every knob of a generation, validated, and the named presets.

Light on purpose (no torch): the panels build their controls from these before any model loads.

    resolve_params("creative", max_new_tokens=40)   # the preset's values with yours on top, checked
    add_preset("short", max_new_tokens=16, do_sample=False)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from creator_kit.core import validate
from creator_kit.core.errors import InvalidInputError
from creator_kit.library.catalog import model_defaults

MAX_NEW_TOKENS = 4096
MAX_RETURN_SEQUENCES = 16
#: Stop strings: at most this many, each at most this long (each is matched against the text after every token).
MAX_STOPS, MAX_STOP_CHARS = 16, 200
#: The lowest sampling temperature: below it the scores divided by it overflow to infinities.
MIN_TEMPERATURE = 0.01


@dataclass(frozen=True)
class GenerationParams:
    """Every knob of a generation. The defaults are the ``balanced`` preset."""

    max_new_tokens: int = 64
    do_sample: bool = True
    temperature: float = 0.7
    top_k: int = 50
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    num_return_sequences: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        validate.whole_number("max_new_tokens", self.max_new_tokens, 1, MAX_NEW_TOKENS)
        if not isinstance(self.do_sample, bool):
            raise InvalidInputError(f"do_sample must be True or False, not {self.do_sample!r}.")
        validate.number("temperature", self.temperature, 0, above=True, hint=" (do_sample=False decodes greedily)")
        if self.temperature < MIN_TEMPERATURE:  # sampling would divide the scores into infinities
            raise InvalidInputError(
                f"temperature must be at least {MIN_TEMPERATURE} (do_sample=False decodes greedily)."
            )
        validate.whole_number("top_k", self.top_k, 0, hint=" (0 turns top-k filtering off)")
        validate.number("top_p", self.top_p, 0, 1, above=True)
        validate.number("repetition_penalty", self.repetition_penalty, 0, above=True, hint=" (1.0 means no penalty)")
        validate.whole_number("num_return_sequences", self.num_return_sequences, 1, MAX_RETURN_SEQUENCES)
        if self.num_return_sequences > 1 and not self.do_sample:
            raise InvalidInputError("num_return_sequences > 1 needs do_sample=True: greedy decoding gives one text.")
        if not isinstance(self.stop, tuple) or len(self.stop) > MAX_STOPS:
            raise InvalidInputError(
                f"stop must be a list of non-empty strings, at most {MAX_STOPS} of them, not {self.stop!r}."[:300]
            )
        if not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in self.stop):
            raise InvalidInputError(f"stop must be a list of non-empty strings of at most {MAX_STOP_CHARS} characters.")
        validate.seed(self.seed)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data

    def generate_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of transformers' ``generate`` for these parameters (no seed, no stop)."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "repetition_penalty": float(self.repetition_penalty),
            "num_return_sequences": self.num_return_sequences,
        }
        if self.do_sample:
            kwargs.update(temperature=float(self.temperature), top_k=self.top_k, top_p=float(self.top_p))
        return kwargs


PARAMETER_NAMES = tuple(f.name for f in fields(GenerationParams))

#: Named parameter sets; `add_preset` adds more. Unset parameters keep the GenerationParams defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "precise": {"do_sample": False, "repetition_penalty": 1.1},
    "balanced": {"do_sample": True, "temperature": 0.7, "top_k": 50, "top_p": 0.9, "repetition_penalty": 1.1},
    "creative": {"do_sample": True, "temperature": 1.1, "top_k": 0, "top_p": 0.98, "repetition_penalty": 1.05},
}


def resolve_params(preset: str | None = "balanced", **params: Any) -> GenerationParams:
    """The parameters of `preset` (None: the defaults) with `params` on top, validated."""
    validate.known_keywords(params, PARAMETER_NAMES, "generation parameter")
    if preset is not None:
        validate.choice("preset", preset, PRESETS)
    values = {**(PRESETS[preset] if preset else {}), **{k: v for k, v in params.items() if v is not None}}
    if isinstance(values.get("stop"), str):
        values["stop"] = (values["stop"],)
    elif isinstance(values.get("stop"), list):
        values["stop"] = tuple(values["stop"])
    return GenerationParams(**values)


def with_model_defaults(repo_id: Any, preset: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """`params` on top of the catalog defaults of `repo_id` (e.g. a chat model's longer max_new_tokens) that the
    chosen `preset` leaves unset: the catalog's value wins over the generic default, never over a preset's or
    the caller's. For `resolve_params`."""
    chosen = PRESETS.get(preset, {}) if isinstance(preset, str) else {}
    own = {k: v for k, v in model_defaults(repo_id).items() if k in PARAMETER_NAMES and k not in chosen}
    return {**own, **{k: v for k, v in params.items() if v is not None}}


def add_preset(name: str, **params: Any) -> None:
    """Register (or replace) a named preset, e.g. ``add_preset("short", max_new_tokens=16, do_sample=False)``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidInputError(f"A preset name must be a plain word (letters, digits, _), not {name!r}.")
    resolve_params(None, **params)
    PRESETS[name] = dict(params)
