"""Everything that talks to the Hub: a repo's files at a pinned commit, which of them to fetch, search, errors.

The Hub is whatever HF_ENDPOINT (``Settings.endpoint``) points at: huggingface.co or a mirror. Only
safetensors weights are chosen by default; pickle weights are refused unless the user opts in, and
other frameworks' weights or variant copies are never fetched. huggingface_hub and HTTP exceptions
become Creator Kit errors here, with the fix in the message. huggingface_hub is imported inside the
functions, so importing this module stays cheap.

    commit, remote = remote_files("distilbert/distilgpt2", "main")
    files = select_files("distilbert/distilgpt2", remote, allow_pickle=False)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from creator_kit import validate
from creator_kit.config import get_settings
from creator_kit.errors import ModelNotFoundError, NetworkError, OfflineError, UnsafeWeightsError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
WEIGHT_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
#: Weights for other frameworks or runtimes; never needed to load with torch.
FOREIGN_WEIGHT_SUFFIXES = (
    ".h5",
    ".msgpack",
    ".onnx",
    ".onnx_data",
    ".tflite",
    ".ot",
    ".gguf",
    ".mlmodel",
    ".pb",
)
#: Variant weights (fp16 copies, EMA / non-EMA) that diffusers repos publish beside the default ones.
_VARIANT = re.compile(r"\.(fp16|bf16|ema|non_ema)\.(safetensors|bin)$")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repo at a pinned commit, as the Hub describes it."""

    path: str
    size: int
    etag: str


@dataclass(frozen=True)
class ModelSummary:
    """A Hub search hit."""

    repo_id: str
    task: str | None
    downloads: int | None
    likes: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def api() -> HfApi:
    """An HfApi client for the configured endpoint."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=get_settings().endpoint)


def file_url(repo_id: str, path: str, commit: str) -> str:
    """The resolve URL of one file of `repo_id` at `commit` on the configured endpoint."""
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo_id, path, revision=commit, endpoint=get_settings().endpoint)


def request_headers() -> dict[str, str]:
    """The headers huggingface_hub sends with a file request (user agent, the user's token if any)."""
    from huggingface_hub.utils import build_hf_headers

    return build_hf_headers()


def search(query: str, *, task: str | None = None, limit: int = 20) -> list[ModelSummary]:
    """Models on the Hub matching `query`, optionally of one task."""
    with translate_errors(query):
        hits = api().list_models(search=query, pipeline_tag=task, limit=limit)
        return [ModelSummary(m.id, m.pipeline_tag, m.downloads, m.likes) for m in hits]


def remote_files(repo_id: str, revision: str) -> tuple[str, list[RemoteFile]]:
    """The commit `revision` points at and every file of the repo there, with sizes and ETags.

    File names are validated before anything uses them as paths.
    """
    from huggingface_hub import get_hf_file_metadata
    from huggingface_hub.hf_api import RepoFile

    client = api()
    with translate_errors(repo_id):
        commit = client.model_info(repo_id, revision=revision).sha
        tree = client.list_repo_tree(repo_id, revision=commit, recursive=True)
        files = []
        for entry in (e for e in tree if isinstance(e, RepoFile)):
            path = validate.relative_file(entry.path)
            if entry.lfs is not None:
                files.append(RemoteFile(path, entry.lfs.size, entry.lfs.sha256))
            else:
                meta = get_hf_file_metadata(file_url(repo_id, path, commit))
                files.append(RemoteFile(path, meta.size if meta.size is not None else entry.size, meta.etag))
    return commit, files


def select_files(repo_id: str, files: Iterable[RemoteFile], *, allow_pickle: bool) -> list[RemoteFile]:
    """The files worth downloading: safetensors weights, configs and tokenizers.

    Pickle weights are skipped where a folder has safetensors; a folder with only pickle weights
    raises UnsafeWeightsError unless `allow_pickle`. Other frameworks' weights (TF, Flax, ONNX) and
    variant copies (fp16, EMA) are never fetched.
    """
    files = [f for f in files if not f.path.endswith(FOREIGN_WEIGHT_SUFFIXES) and not _VARIANT.search(f.path)]
    safetensors_dirs = {_folder(f.path) for f in files if f.path.endswith(".safetensors")}
    pickle_only = sorted(
        f.path for f in files if f.path.endswith(PICKLE_SUFFIXES) and _folder(f.path) not in safetensors_dirs
    )
    if pickle_only and not allow_pickle:
        raise UnsafeWeightsError(
            f"{repo_id} ships its weights only as pickle files ({', '.join(pickle_only[:3])}), which can run "
            "arbitrary code when loaded. If you trust its author, download it with --allow-pickle "
            "(allow_pickle=True); otherwise pick a model with safetensors weights."
        )
    keep_pickle = set(pickle_only) if allow_pickle else set()
    return [f for f in files if not f.path.endswith(PICKLE_SUFFIXES) or f.path in keep_pickle]


@contextmanager
def translate_errors(subject: str) -> Iterator[None]:
    """Turn huggingface_hub and HTTP exceptions raised in the block into Creator Kit errors about `subject`."""
    import httpx2
    from huggingface_hub import errors

    endpoint = get_settings().endpoint
    try:
        yield
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError) as exc:
        raise ModelNotFoundError(
            f"{subject} was not found on {endpoint} (check the spelling, the revision, or your access "
            "token for gated and private models)."
        ) from exc
    except errors.OfflineModeIsEnabled as exc:
        raise OfflineError(f"Cannot reach the Hub for {subject}: offline mode is on.") from exc
    except (errors.HfHubHTTPError, httpx2.HTTPError) as exc:
        raise NetworkError(
            f"Could not reach {endpoint} for {subject}: {exc}. Check your connection or HF_ENDPOINT, "
            "or use --offline to work with installed models."
        ) from exc
    except json.JSONDecodeError as exc:
        raise NetworkError(
            f"{endpoint} did not answer like the Hub API for {subject} (some mirrors do not implement every "
            "endpoint, e.g. search). Check HF_ENDPOINT."
        ) from exc


def _folder(path: str) -> str:
    return str(PurePosixPath(path).parent)
