"""Training data: the user's documents read, checked, fingerprinted, tokenized and packed into blocks.

Data is a .txt file (one document per line, or the whole file with ``documents="file"``), a .csv,
.jsonl or .json file with a text column, a folder of .txt files, or a ``datasets.Dataset``. Documents
are tokenized, joined with the end-of-text token and packed into blocks; a seeded share of the blocks
is held out for validation.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creator_kit.core import readers
from creator_kit.core.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from datasets import Dataset

TEXT_SUFFIXES = (".txt",)
TABLE_SUFFIXES = {".csv": "csv", ".jsonl": "json", ".json": "json"}


def load_documents(
    data: str | Path | Dataset, *, text_column: str = "text", documents: str = "line", cache_dir: Path | None = None
) -> Dataset:
    """The non-empty documents of `data` as a Dataset with one ``text`` column."""
    from datasets import Dataset, load_dataset
    from datasets.exceptions import DatasetGenerationError

    if isinstance(data, Dataset):
        dataset, source = data, "The dataset"
    else:
        path = Path(data).expanduser()
        files = _data_files(path)
        _require_utf8(files)
        suffix = files[0].suffix.lower()
        if suffix in TEXT_SUFFIXES:
            sample_by = "line" if documents == "line" else "document"
            builder, options = "text", {"sample_by": sample_by}
        else:
            builder, options = TABLE_SUFFIXES[suffix], {}
        source = str(path)
        if not any(f.stat().st_size for f in files):
            raise InvalidInputError(f"{source} holds no text: it is empty. Add text and try again.")
        try:
            dataset = load_dataset(
                builder,
                data_files=[str(f) for f in files],
                split="train",
                cache_dir=str(cache_dir) if cache_dir else None,
                **options,
            )
        except DatasetGenerationError as exc:
            raise InvalidInputError(f"{source} could not be read as {builder}: {exc.__cause__ or exc}.") from exc
    if text_column not in dataset.column_names:
        raise InvalidInputError(
            f"{source} has no column {text_column!r}; its columns are {', '.join(dataset.column_names) or 'none'}. "
            "Pick one with text_column (CLI: --text-column)."
        )
    feature = dataset.features[text_column]
    if getattr(feature, "dtype", None) not in ("string", "large_string"):
        raise InvalidInputError(f"Column {text_column!r} of {source} holds {feature}, not text.")
    dataset = dataset.select_columns([text_column]).rename_columns(
        {text_column: "text"} if text_column != "text" else {}
    )
    dataset = dataset.filter(lambda batch: [bool(t and t.strip()) for t in batch["text"]], batched=True)
    if len(dataset) == 0:
        raise InvalidInputError(f"{source} holds no text: every document is empty. Add text and try again.")
    return dataset


def _data_files(path: Path) -> list[Path]:
    """The files to read for `path`: itself, or the .txt files of a folder (sorted)."""
    if not path.exists():
        raise NotFoundError(f"No training data at {path}: give a .txt, .csv or .jsonl file, or a folder of .txt files.")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise InvalidInputError(f"The folder {path} holds no .txt files to train on.")
        return files
    os.close(readers.open_regular(path, what="training data"))  # a FIFO or a device would never end
    if path.suffix.lower() not in (*TEXT_SUFFIXES, *TABLE_SUFFIXES):
        raise InvalidInputError(
            f"{path.name}: unsupported data format {path.suffix or '(none)'}; use .txt, .csv, .jsonl or .json."
        )
    return [path]


def _require_utf8(files: list[Path]) -> None:
    """InvalidInputError naming the first file that is not valid UTF-8 text."""
    for path in files:
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{path} is not UTF-8 text (byte {exc.start} of a chunk cannot be decoded). Re-save it as UTF-8."
            ) from exc


def fingerprint(documents: Dataset) -> str:
    """sha256 of the documents in order (each UTF-8 encoded, NUL-terminated): what the model learned from."""
    digest = hashlib.sha256()
    for batch in documents.iter(batch_size=1000):
        for doc in batch["text"]:
            digest.update(doc.encode("utf-8") + b"\0")
    return digest.hexdigest()


def tokenize(documents: Dataset, tokenizer: Any) -> Dataset:
    """The token ids of every document, each ended with the end-of-text token."""

    def encode(batch: dict[str, list[str]]) -> dict[str, list[list[int]]]:
        ids = tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]
        return {"input_ids": [[*doc, tokenizer.eos_token_id] for doc in ids]}

    return documents.map(encode, batched=True, remove_columns=documents.column_names)


def pack(tokens: Dataset, block_size: int) -> Dataset:
    """The documents' tokens as one stream cut into blocks of `block_size` (the remainder dropped)."""

    def group(batch: dict[str, list[list[int]]]) -> dict[str, list[list[int]]]:
        stream = [token for doc in batch["input_ids"] for token in doc]
        blocks = [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]
        return {"input_ids": blocks, "labels": [list(b) for b in blocks]}

    return tokens.map(group, batched=True, batch_size=len(tokens))


def split(blocks: Dataset, validation_split: float, seed: int) -> tuple[Dataset, Dataset]:
    """(train, validation) blocks, the validation share chosen with `seed`."""
    held_out = max(1, round(len(blocks) * validation_split))
    parts = blocks.train_test_split(test_size=held_out, seed=seed)
    return parts["train"], parts["test"]


def context_length(model: Any, tokenizer: Any) -> int:
    """How many tokens the model reads at once."""
    limit = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
    return int(min(limit, tokenizer.model_max_length))
