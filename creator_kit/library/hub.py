"""Everything that talks to the Hub: a repo's files at a pinned commit, which of them to fetch, search, errors.

The Hub is whatever HF_ENDPOINT (``Settings.endpoint``) points at: huggingface.co or a mirror. Only
safetensors weights are chosen by default; pickle weights are refused unless the user opts in, and
other frameworks' weights or variant copies are never fetched. A model that needs Python code
of its own (`remote_code`: an ``auto_map``, a custom pipeline) is refused, from its small config files
alone, before any weight is fetched. huggingface_hub and HTTP exceptions become Creator Kit errors
here, with the fix in the message. huggingface_hub is imported inside the functions, so importing
this module stays cheap.

Every request is one request (no retries) with a connection and an answer timeout (CONNECT_S, ANSWER_S; a
download's reads: BLOB_READ_S), so a Hub that hangs fails within seconds. Every answer is checked for the shape
the Hub API gives before anything uses it: anything else is one NetworkError, never a library's exception.

    commit, remote = remote_files("distilbert/distilgpt2", "main")
    files = select_files("distilbert/distilgpt2", remote, allow_pickle=False)
    refuse_remote_code("distilbert/distilgpt2", read_configs("distilbert/distilgpt2", commit, remote), remote)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from creator_kit.core import readers, validate
from creator_kit.core.config import get_settings
from creator_kit.core.errors import (
    InvalidInputError,
    ModelNotFoundError,
    NetworkError,
    OfflineError,
    RemoteCodeError,
    UnsafeWeightsError,
)

if TYPE_CHECKING:
    import httpx2

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
#: Seconds a request waits to connect to the Hub, and then for each part of its answer. No request is retried
#: (huggingface_hub's listings retry a silent Hub with back-off, and wait for it without end), so a Hub that
#: accepts the connection and never answers fails after CONNECT_S + ANSWER_S at most.
CONNECT_S = 5.0
ANSWER_S = 10.0
#: Seconds a download waits for each read of a file (per read: a large file takes as long as it takes).
BLOB_READ_S = 30.0
#: A search's waits: it runs while a panel waits, so it gives up sooner.
SEARCH_CONNECT_S = 1.5
SEARCH_ANSWER_S = 5.0
#: The ETags of the Hub's files: the git blob sha1, or the sha256 of an LFS file (they name the blobs on disk).
_ETAG = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


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
    params: dict[str, Any] = {"search": query, "limit": limit}
    if task:
        params["pipeline_tag"] = task
    with translate_errors(query):
        response = _get(f"{get_settings().endpoint}/api/models", params, wait=(SEARCH_CONNECT_S, SEARCH_ANSWER_S))
    hits = _json(response, query)
    if not isinstance(hits, list) or not all(isinstance(hit, dict) and isinstance(hit.get("id"), str) for hit in hits):
        raise _not_the_hub_api(query, "its search results are not a list of models")
    return [ModelSummary(h["id"], h.get("pipeline_tag"), h.get("downloads"), h.get("likes")) for h in hits[:limit]]


def remote_files(repo_id: str, revision: str) -> tuple[str, list[RemoteFile]]:
    """The commit `revision` points at and every file of the repo there, with sizes and ETags.

    Asked of the Hub API as HfApi's `model_info` and `list_repo_tree` ask it; a file's ETag is its LFS sha256,
    else its git blob id (what the Hub's resolve URL answers as ETag). File names are validated before anything
    uses them as paths.
    """
    endpoint = get_settings().endpoint
    with translate_errors(repo_id):
        about = _json(_get(f"{endpoint}/api/models/{repo_id}/revision/{quote(revision, safe='')}"), repo_id)
    commit = about.get("sha") if isinstance(about, dict) else None
    if not isinstance(commit, str) or not validate.COMMIT.fullmatch(commit):
        raise _not_the_hub_api(repo_id, "its model info names no commit")
    files = [_remote_file(entry, repo_id) for entry in _tree(f"{endpoint}/api/models/{repo_id}/tree/{commit}", repo_id)]
    return commit, [f for f in files if f is not None]


def _tree(url: str, subject: str) -> Iterator[Any]:
    """The entries of the recursive file listing at `url`, page after page (the Link header names the next)."""
    params: dict[str, Any] | None = {"recursive": True}
    next_url: str | None = url
    while next_url is not None:
        with translate_errors(subject):
            response = _get(next_url, params)
        page = _json(response, subject)
        if not isinstance(page, list):
            raise _not_the_hub_api(subject, f"its file listing is a JSON {type(page).__name__}, not a list")
        yield from page
        next_url, params = response.links.get("next", {}).get("url"), None


def _remote_file(entry: Any, subject: str) -> RemoteFile | None:
    """The file an entry of a file listing describes; None for a folder."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or "type" not in entry:
        raise _not_the_hub_api(subject, "its file listing holds an entry without a path or type")
    if entry.get("type") != "file":
        return None
    about = entry["lfs"] if isinstance(entry.get("lfs"), dict) else entry
    size, etag = about.get("size"), about.get("oid")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0 or not isinstance(etag, str):
        raise _not_the_hub_api(subject, f"its file listing gives no size or id for {entry['path']!r}")
    if not _ETAG.fullmatch(etag):
        raise _not_the_hub_api(subject, f"its file listing gives {entry['path']!r} an id that is not a hash")
    return RemoteFile(validate.relative_file(entry["path"]), size, etag)


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
    configs = {}
    with translate_errors(repo_id):
        for f in files:
            if is_code_config(f.path):
                configs[f.path] = _json_object(_get(file_url(repo_id, f.path, commit)).content)
    return configs


def _get(
    url: str, params: Mapping[str, Any] | None = None, *, wait: tuple[float, float] | None = None
) -> httpx2.Response:
    """One GET of `url` with the user's headers, no retries, waiting `wait` (seconds to connect, then for each
    part of the answer; default CONNECT_S, ANSWER_S); HTTP errors raised as huggingface_hub's errors."""
    import httpx2
    from huggingface_hub.utils import get_session, hf_raise_for_status

    connect_s, answer_s = wait or (CONNECT_S, ANSWER_S)
    timeout = httpx2.Timeout(answer_s, connect=connect_s)
    response = get_session().get(url, params=params, headers=request_headers(), follow_redirects=True, timeout=timeout)
    hf_raise_for_status(response)
    return response


def _json(response: httpx2.Response, subject: str) -> Any:
    """The JSON of a Hub API answer about `subject`, or NetworkError when it is not JSON."""
    try:
        return readers.parse_json(response.content, what="answer about", source=subject)
    except InvalidInputError as exc:  # not UTF-8, not JSON, or nested past the readers' depth
        raise _not_the_hub_api(subject, "its answer is not JSON it can read") from exc


def failure(error: Exception) -> str:
    """Why a request failed, in a few words: how long a timeout waited, else the first line of the error."""
    import httpx2

    if isinstance(error, httpx2.TimeoutException):
        waited = error.request.extensions.get("timeout", {})
        if isinstance(error, httpx2.ConnectTimeout):
            return f"no connection within {waited.get('connect', CONNECT_S):g} s"
        return f"no answer within {waited.get('read', ANSWER_S):g} s"
    return (str(error).splitlines() or [type(error).__name__])[0].rstrip(".")


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
            f"Could not reach {endpoint} for {subject}: {failure(exc)}. Check your connection or HF_ENDPOINT, "
            "or use --offline to work with installed models."
        ) from exc


def _not_the_hub_api(subject: str, answer: str) -> NetworkError:
    return NetworkError(
        f"{get_settings().endpoint} did not answer like the Hub API for {subject} ({answer}; some mirrors do not "
        "implement every endpoint, e.g. search). Check HF_ENDPOINT."
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
        data = readers.parse_json(content, what="config", source="from the Hub")
    except InvalidInputError:
        return {}
    return data if isinstance(data, dict) else {}
