"""Everything that talks to the Hub: a repo's files at a pinned commit, which of them to fetch, search, errors.

The Hub is whatever HF_ENDPOINT (``Settings.endpoint``) points at: huggingface.co or a mirror. Only
safetensors weights are chosen by default; pickle weights are refused unless the user opts in, and
other frameworks' weights or variant copies are never fetched. A model that needs Python code
of its own (`remote_code`: an ``auto_map``, a custom pipeline) is refused, from its small config files
alone, before any weight is fetched. huggingface_hub and HTTP exceptions become Creator Kit errors
here, with the fix in the message. huggingface_hub is imported inside the functions, so importing
this module stays cheap.

    commit, remote = remote_files("distilbert/distilgpt2", "main")
    files = select_files("distilbert/distilgpt2", remote, allow_pickle=False)
    refuse_remote_code("distilbert/distilgpt2", read_configs("distilbert/distilgpt2", commit, remote), remote)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from creator_kit.core import validate
from creator_kit.core.config import get_settings
from creator_kit.core.errors import ModelNotFoundError, NetworkError, OfflineError, RemoteCodeError, UnsafeWeightsError

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
#: The small JSON files (in any folder of a repo) that name the classes a model loads with: where it can ask
#: for code of its own. transformers: model, tokenizer, processor configs; diffusers: the pipeline's index.
CODE_CONFIGS = frozenset(
    {
        "config.json",
        "tokenizer_config.json",
        "processor_config.json",
        "preprocessor_config.json",
        "video_preprocessor_config.json",
        "model_index.json",
    }
)
#: Libraries whose classes a diffusers ``model_index.json`` may name without running the repo's code.
STANDARD_LIBRARIES = frozenset({"diffusers", "transformers"})
#: Seconds a search waits to connect to the Hub, and then for its answer: a search is one request, so without a
#: network it fails within seconds instead of retrying with back-off as `HfApi.list_models` does.
SEARCH_CONNECT_S = 1.5
SEARCH_ANSWER_S = 5.0


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
    """Models on the Hub matching `query`, optionally of one task: one request of the Hub's ``/api/models``
    (what `HfApi.list_models` asks), with no retries, that gives up after SEARCH_CONNECT_S seconds without a
    connection and SEARCH_ANSWER_S without an answer."""
    import httpx2
    from huggingface_hub.utils import get_session, hf_raise_for_status

    params: dict[str, Any] = {"search": query, "limit": limit}
    if task:
        params["pipeline_tag"] = task
    with translate_errors(query):
        url = f"{get_settings().endpoint}/api/models"
        timeout = httpx2.Timeout(SEARCH_ANSWER_S, connect=SEARCH_CONNECT_S)
        response = get_session().get(url, params=params, headers=request_headers(), timeout=timeout)
        hf_raise_for_status(response)
        hits = response.json()
    if not isinstance(hits, list) or not all(isinstance(hit, dict) and "id" in hit for hit in hits):
        raise _not_the_hub_api(query)
    return [ModelSummary(h["id"], h.get("pipeline_tag"), h.get("downloads"), h.get("likes")) for h in hits[:limit]]


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


def is_code_config(path: str) -> bool:
    """Whether `path` is one of the CODE_CONFIGS, the files `remote_code` reads."""
    return PurePosixPath(path).name in CODE_CONFIGS


def remote_code(configs: Mapping[str, Mapping[str, Any]], paths: Iterable[str]) -> list[str]:
    """What makes a model need Python code of its own (empty when the standard classes load it).

    `configs` maps the path of each of the model's CODE_CONFIGS to its content, `paths` are all its files.
    Found: an ``auto_map`` (transformers' pointer to the repo's modules), a ``custom_pipeline``, and in a
    ``model_index.json`` a pipeline (``_class_name``) or component naming a module other than diffusers or
    transformers that the repo ships as a ``.py`` file.
    """
    python = {p for p in paths if p.endswith(".py")}
    found = []
    for path, config in sorted(configs.items()):
        if config.get("auto_map"):
            found.append(f"auto_map in {path} ({', '.join(_mapped_modules(config['auto_map']))})")
        found += [f"{key} in {path}" for key in ("custom_pipeline", "custom_pipelines") if config.get(key)]
        if PurePosixPath(path).name != "model_index.json":
            continue
        folder = "" if _folder(path) == "." else _folder(path) + "/"
        for name, entry in config.items():
            module = entry[0] if isinstance(entry, list) and entry and isinstance(entry[0], str) else None
            if module is None or module in STANDARD_LIBRARIES:
                continue
            shipped = {f"{folder}{module}.py", f"{folder}{name}/{module}.py"} & python
            found += [f"{path} loads {name} from {file}" for file in sorted(shipped)]
    return found


def refuse_remote_code(repo_id: str, configs: Mapping[str, Mapping[str, Any]], files: Iterable[RemoteFile]) -> None:
    """RemoteCodeError (one line: what was found) when `repo_id` needs code of its own, per `remote_code`."""
    found = remote_code(configs, (f.path for f in files))
    if found:
        raise RemoteCodeError(
            f"{repo_id} needs its own Python code to load ({'; '.join(found[:3])}). Creator Kit never runs a "
            "model's own code: pick a model that works with the standard transformers and diffusers classes."
        )


def read_configs(repo_id: str, commit: str, files: Iterable[RemoteFile]) -> dict[str, dict[str, Any]]:
    """The CODE_CONFIGS among `files` of `repo_id` at `commit`, read from the Hub (a few KB, nothing stored)."""
    from huggingface_hub.utils import get_session, hf_raise_for_status

    configs = {}
    with translate_errors(repo_id):
        for f in files:
            if is_code_config(f.path):
                url = file_url(repo_id, f.path, commit)
                response = get_session().get(url, headers=request_headers(), follow_redirects=True, timeout=30.0)
                hf_raise_for_status(response)
                configs[f.path] = _json_object(response.content)
    return configs


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
            f"Could not reach {endpoint} for {subject}: {str(exc).rstrip('.')}. Check your connection or HF_ENDPOINT, "
            "or use --offline to work with installed models."
        ) from exc
    except json.JSONDecodeError as exc:
        raise _not_the_hub_api(subject) from exc


def _not_the_hub_api(subject: str) -> NetworkError:
    return NetworkError(
        f"{get_settings().endpoint} did not answer like the Hub API for {subject} (some mirrors do not implement "
        "every endpoint, e.g. search). Check HF_ENDPOINT."
    )


def _folder(path: str) -> str:
    return str(PurePosixPath(path).parent)


def _mapped_modules(auto_map: Any) -> list[str]:
    """The module files an ``auto_map`` points at (``module.Class`` or ``other/repo--module.Class`` values)."""
    values = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
    names = [v for value in values for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return sorted({name.rsplit(".", 1)[0].replace("--", ": ") + ".py" for name in names}) or ["no module named"]


def _json_object(content: bytes) -> dict[str, Any]:
    """The JSON object in `content`, or an empty dict when it is not one (the loader then fails on its own)."""
    try:
        data = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
