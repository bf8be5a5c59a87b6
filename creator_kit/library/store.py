"""ModelStore: the local model library, a Hugging Face cache in ``models/``.

The façade users call: it checks names, then delegates to `hub` (what the Hub has, which files to
fetch), `download` (resumable transfer of one blob), `cache` (the hub cache layout and the record
of each model beside its ``snapshots``) and `sizing` (will it fit). Models already in the user's
own Hugging Face cache are linked, never downloaded twice. A model that needs Python code of its own
is refused at download, at import and before every load (`check_before_load`, which also re-hashes
the files that changed since they were last checked); downloading an installed model again fetches
exactly its damaged files.

Every change to a models folder (download, import, register, remove) is told to the watchers of that
folder (`ModelStore.watch`), shared by every ModelStore of the same folder in this process, so every
view of the store updates at once; `refresh` tells them to re-read it after another process changed it.

    store = ModelStore()
    store.download("distilbert/distilgpt2", on_event=TqdmReporter())
    store.installed(task="text-generation")
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import psutil

from creator_kit.core import files, validate
from creator_kit.core.config import get_settings
from creator_kit.core.errors import (
    CreatorKitError,
    IntegrityError,
    InvalidInputError,
    ModelNotInstalledError,
    NetworkError,
    OfflineError,
    from_os_error,
)
from creator_kit.core.events import Done, EventCallback, Log, Progress, emit
from creator_kit.core.validate import LOCAL_NAMESPACE
from creator_kit.library import cache, hub, sizing, variants
from creator_kit.library.cache import InstalledModel, VerifyReport
from creator_kit.library.catalog import CatalogEntry, catalog_entries, catalog_entry, check_task


@dataclass(frozen=True)
class DiskUsage:
    """Bytes used by the store and left on its disk."""

    store_bytes: int
    free_bytes: int
    total_bytes: int
    models: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoreChange:
    """What changed in a models folder: `action` ("download", "import", "register", "remove", "refresh") on
    `repo_id` (None for "refresh": anything may have changed)."""

    action: str
    repo_id: str | None
    models_dir: Path


StoreWatcher = Callable[[StoreChange], None]
#: The store's scratch space (`ModelStore.scratch`): work in progress, on the store's own disk.
SCRATCH = ".tmp"
#: The watchers of each models folder (resolved), shared by every ModelStore of that folder in this process.
_watchers: dict[Path, list[StoreWatcher]] = {}
_watchers_lock = threading.Lock()


class ModelStore:
    """The local model library.

    Args:
        models_dir: the store folder (default: settings: --models-dir / CREATOR_KIT_MODELS_DIR, else the project's
            models/, else ~/creator-kit/models; see `config`).
        offline: refuse every network call (default: settings, i.e. --offline / HF_HUB_OFFLINE).
        user_cache: an existing Hugging Face cache whose blobs are linked instead of downloaded again
            (default: huggingface_hub's, usually ~/.cache/huggingface/hub).
    """

    def __init__(
        self,
        models_dir: str | Path | None = None,
        *,
        offline: bool | None = None,
        user_cache: str | Path | None = None,
    ) -> None:
        settings = get_settings()
        self.models_dir = Path(models_dir).absolute() if models_dir is not None else settings.models_dir
        self.offline = settings.offline if offline is None else offline
        if user_cache is None:
            from huggingface_hub import constants

            user_cache = constants.HF_HUB_CACHE
        self.user_cache = Path(user_cache).expanduser().absolute()

    def watch(self, callback: StoreWatcher) -> None:
        """Call `callback(change)` after every change to this models folder, by any ModelStore of it (once each)."""
        with _watchers_lock:
            callbacks = _watchers.setdefault(self._folder_key(), [])
            if callback not in callbacks:
                callbacks.append(callback)

    def unwatch(self, callback: StoreWatcher) -> None:
        """Stop calling `callback`."""
        with _watchers_lock:
            callbacks = _watchers.get(self._folder_key(), [])
            if callback in callbacks:
                callbacks.remove(callback)

    def refresh(self) -> None:
        """Tell the watchers to re-read the folder (after another process, or a hand, changed it)."""
        self._changed("refresh", None)

    def _changed(self, action: str, repo_id: str | None) -> None:
        with _watchers_lock:
            callbacks = list(_watchers.get(self._folder_key(), []))
        change = StoreChange(action, repo_id, self.models_dir)
        for callback in callbacks:
            callback(change)

    @contextmanager
    def _changing(self, action: str, repo_id: str) -> Iterator[None]:
        """Tell the watchers about `action` on `repo_id` once the block ends, whether or not it succeeded."""
        try:
            yield
        finally:
            self._changed(action, repo_id)

    def _folder_key(self) -> Path:
        return self.models_dir.resolve()

    def catalog(self, task: str | None = None) -> list[CatalogEntry]:
        """The curated models, all or for one task."""
        return catalog_entries(task)

    def search(self, query: str, *, task: str | None = None, limit: int = 20) -> list[hub.ModelSummary]:
        """Search the Hub (or HF_ENDPOINT) for models; OfflineError in offline mode, NetworkError within seconds
        without a network (`hub.search`: one request, no retries)."""
        if self.offline:
            raise OfflineError(
                "Cannot search the Hub in offline mode. Go online (unset HF_HUB_OFFLINE, drop --offline)."
            )
        return hub.search(query, task=task, limit=limit)

    def download(
        self,
        repo_id: str,
        revision: str | None = None,
        *,
        allow_pickle: bool = False,
        on_event: EventCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> InstalledModel:
        """Download `repo_id` at `revision` (default ``main``) into the store, resuming any earlier attempt.

        Only safetensors weights are fetched; a repo whose weights are pickle files only raises
        UnsafeWeightsError unless `allow_pickle` is True, and one that needs Python code of its own
        raises RemoteCodeError, both before anything is fetched or stored. Downloading an installed model
        again repairs it: the files that no longer match their checksums, and only those, are fetched
        again. Progress arrives as byte Progress events; setting `cancel` stops between chunks with
        CancelledError, keeping what was fetched.
        """
        repo_id = validate.repo_id(repo_id)
        revision = validate.revision(revision or "main")
        if repo_id.startswith(f"{LOCAL_NAMESPACE}/"):
            installed = self._installed_at(repo_id, None)
            hint = repair_hint(installed) if installed else _REMAKE_HINT
            raise InvalidInputError(f"{repo_id} was made on this machine, so it cannot be downloaded: {hint}.")
        if self.offline:
            return self._install_offline(repo_id, revision)

        commit, remote = hub.remote_files(repo_id, revision)
        selected = hub.select_files(repo_id, remote, allow_pickle=allow_pickle)
        hub.refuse_remote_code(repo_id, hub.read_configs(repo_id, commit, remote), remote)
        self.require_writable()
        with self._changing("download", repo_id):
            repo_dir = self._repo_dir(repo_id)
            blobs_dir = repo_dir / "blobs"
            blobs_dir.mkdir(parents=True, exist_ok=True)
            for damaged in cache.discard_damaged(repo_dir, selected):
                emit(on_event, Log("download", f"{damaged.path} is damaged: fetching it again"))
            cache.reuse_blobs(self.user_cache, repo_id, selected, blobs_dir)
            sizing.require_free_disk(repo_id, cache.missing_bytes(blobs_dir, selected), self.models_dir)
            record = cache.new_record(repo_id, revision, commit, selected, allow_pickle=allow_pickle)
            cache.write_record(repo_dir, record)
            missing = [f for f in selected if not (blobs_dir / f.etag).exists()]
            total = sum(f.size for f in selected)
            done = total - sum(f.size for f in missing)
            emit(on_event, Log("download", f"{repo_id} @ {commit[:12]}: {len(selected)} files, {total / 1e6:.1f} MB"))
            emit(on_event, Progress("download", done, total, unit="B", stage=repo_id))
            from creator_kit.library.download import fetch_blob

            headers = hub.request_headers()
            for remote_file in missing:

                def on_bytes(n: int, offset: int = done) -> None:
                    emit(on_event, Progress("download", offset + n, total, unit="B", stage=repo_id))

                fetch_blob(
                    hub.file_url(repo_id, remote_file.path, commit),
                    blobs_dir / remote_file.etag,
                    cache.lock_path(self.models_dir, repo_id, remote_file.etag),
                    etag=remote_file.etag,
                    size=remote_file.size,
                    headers=headers,
                    on_bytes=on_bytes,
                    cancel=cancel,
                )
                done += remote_file.size
                emit(on_event, Progress("download", done, total, unit="B", stage=repo_id))

            cache.finish(repo_dir, record)
            installed = cache.describe(repo_dir)
        emit(on_event, Done("download", installed))
        return installed

    def _install_offline(self, repo_id: str, revision: str) -> InstalledModel:
        """`download` in offline mode: the installed model once its files check out, else the copy in the
        user's Hugging Face cache, imported (linked), else OfflineError."""
        go_online = f"Go online (unset HF_HUB_OFFLINE, drop --offline) and run `creator-kit models download {repo_id}`"
        installed = self._installed_at(repo_id, revision)
        if installed is not None:
            problems = cache.verify(self._repo_dir(repo_id), changed_only=True).problems
            if problems:
                raise OfflineError(
                    f"{repo_id} has damaged files ({'; '.join(problems[:3])}); repairing them needs the network. "
                    f"{go_online}."
                )
            return installed
        source = cache.cached_snapshot(self.user_cache, repo_id, revision)
        if source is not None and self.user_cache.resolve() != self.models_dir.resolve():
            configs, found = cache.snapshot_configs(source)
            hub.refuse_remote_code(repo_id, configs, found)
            self.require_writable()
            with self._changing("import", repo_id):
                imported = cache.import_snapshot(source, self._repo_dir(repo_id), repo_id, revision)
            if imported:
                return cache.describe(self._repo_dir(repo_id))
        raise OfflineError(f"{repo_id} is not installed and offline mode is on. {go_online}.")

    def register_local(
        self,
        name: str,
        folder: str | Path,
        *,
        task: str,
        source: str = "custom",
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> InstalledModel:
        """Add a model made on this machine (a fine-tune, a starter model) as ``local/<name>``.

        The files of `folder` are copied into the cache layout under a commit hash derived from their
        content, so loading it works exactly like loading a downloaded model. The copy is made in the scratch
        space and moved in with one rename: a failed or interrupted registration never leaves a torn model.
        """
        repo_id = validate.repo_id(name if name.startswith(f"{LOCAL_NAMESPACE}/") else f"{LOCAL_NAMESPACE}/{name}")
        folder = Path(folder)
        if not any(p.is_file() for p in folder.rglob("*")):
            raise InvalidInputError(f"{folder} holds no files to register as a model.")
        self.require_writable()
        repo_dir = self._repo_dir(repo_id)
        with self._changing("register", repo_id), self.scratch() as staging:
            staged = staging / repo_dir.name
            commit, copied = cache.copy_into_blobs(folder, staged / "blobs")
            about = {"source": source, "task": task, "description": description, "metadata": metadata or {}}
            cache.finish(staged, cache.new_record(repo_id, "main", commit, copied, **about))
            cache.remove_repo(self.models_dir, repo_id)
            staged.rename(repo_dir)
        return cache.describe(repo_dir)

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        """A new folder in the store's scratch space (`SCRATCH`, on the store's disk: what is built there moves in
        with a rename), removed when the block ends, however it ends. It is named after its process
        (``<pid>-<start time>-<random>``); the folders of processes no longer running are swept first."""
        root = self.models_dir / SCRATCH
        for leftover in root.glob("*-*-*"):
            if not _in_use(leftover.name):
                with contextlib.suppress(CreatorKitError):
                    files.remove_tree(leftover, inside=root)
        me = psutil.Process()
        folder = root / f"{me.pid}-{int(me.create_time())}-{secrets.token_hex(4)}"
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise from_os_error(exc, folder) from exc
        try:
            yield folder
        finally:
            with contextlib.suppress(CreatorKitError):
                files.remove_tree(folder, inside=root)
            with contextlib.suppress(OSError):
                root.rmdir()  # once no process works there: huggingface_hub's cache scan never meets it

    def installed(self, task: str | None = None) -> list[InstalledModel]:
        """Every model in the store (complete or not), sorted by id; with `task`, only the models of that task."""
        if task is not None:
            check_task(task)
        models = [cache.describe(repo_dir) for repo_dir in cache.repo_folders(self.models_dir)]
        return [m for m in models if task is None or m.task == task]

    def is_installed(self, repo_id: str) -> bool:
        """Whether `repo_id` is in the store and complete."""
        return self._installed_at(validate.repo_id(repo_id), None) is not None

    def get(self, repo_id: str) -> InstalledModel:
        """The installed model `repo_id`, or ModelNotInstalledError saying how to get it."""
        repo_id = validate.repo_id(repo_id)
        installed = self._installed_at(repo_id, None)
        if installed is None:
            raise self._not_installed(repo_id)
        return installed

    def _not_installed(self, repo_id: str) -> ModelNotInstalledError:
        """The error for `repo_id` missing from the store, saying how to get it."""
        if repo_id.startswith(f"{LOCAL_NAMESPACE}/"):
            hint = f"{_REMAKE_HINT.capitalize()}."
        elif catalog_entry(repo_id) is None:
            hint = f"Run `creator-kit models download {repo_id}` (or search with `models catalog`)."
        else:
            hint = f"Run `creator-kit models download {repo_id}`."
        return ModelNotInstalledError(f"{repo_id} is not installed in {self.models_dir}. {hint}")

    def snapshot_path(self, repo_id: str) -> Path:
        """The folder holding the installed files of `repo_id` (what `from_pretrained` takes)."""
        return Path(self.get(repo_id).path)

    def verify(self, repo_id: str) -> VerifyReport:
        """Re-hash every installed file and compare it with the size and checksum the Hub published.

        A damaged model's report says how to repair it (`repair`).
        """
        model = self.get(repo_id)
        report = cache.verify(self._repo_dir(model.repo_id))
        return report if report.ok else replace(report, repair=repair_hint(model))

    def check_before_load(self, repo_id: str) -> InstalledModel:
        """The installed model `repo_id`, once it is fit to load: RemoteCodeError if it needs Python code of its
        own, IntegrityError (naming the files and the repair) if a file changed since it was last checked and
        no longer matches its checksum. Only changed files are re-hashed (`cache.verify(changed_only=True)`)."""
        model = self.get(repo_id)
        hub.refuse_remote_code(model.repo_id, *cache.snapshot_configs(Path(model.path)))
        problems = cache.verify(self._repo_dir(model.repo_id), changed_only=True).problems
        if problems:
            raise _damaged(model, problems)
        return model

    def find_damage(self, repo_id: str) -> IntegrityError | None:
        """After a library failed on `repo_id`'s files: IntegrityError naming the damaged files and the repair when a
        full re-hash finds damage its stamps did not show (a restored mtime), else None: the failure stands."""
        model = self.get(repo_id)
        problems = cache.verify(self._repo_dir(model.repo_id)).problems
        return _damaged(model, problems) if problems else None

    def require_writable(self) -> None:
        """UnwritablePathError naming the store folder unless it exists (or can be made) and takes files."""
        files.require_writable_folder(self.models_dir)

    def remove(self, repo_id: str) -> int:
        """Delete `repo_id` (complete or not) from the store; returns the bytes freed."""
        repo_id = validate.repo_id(repo_id)
        if self.models_dir.exists():
            self.require_writable()
        repo_dir = self._repo_dir(repo_id)
        if not (repo_dir.is_dir() or repo_dir.is_symlink()):
            raise ModelNotInstalledError(f"{repo_id} is not in {self.models_dir}; nothing to remove.")
        with self._changing("remove", repo_id):
            return cache.remove_repo(self.models_dir, repo_id)

    def disk_usage(self) -> DiskUsage:
        """How much the store takes and how much is left on its disk."""
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise from_os_error(error, self.models_dir) from error
        usage = shutil.disk_usage(self.models_dir)
        models = self.installed()
        return DiskUsage(sum(m.size_on_disk for m in models), usage.free, usage.total, len(models))

    def info(self, repo_id: str, *, dtype: str | None = None, device: str | None = None) -> sizing.ModelInfo:
        """What `repo_id` is, what it needs on disk and in memory, and whether that fits here. A ``local/`` model
        that is not installed is ModelNotInstalledError: it was made here, so the Hub is never asked about it."""
        repo_id = validate.repo_id(repo_id)
        here = {"models_dir": self.models_dir, "dtype": dtype, "device": device}
        installed = self._installed_at(repo_id, None)
        if installed is not None:
            return sizing.from_installed(installed, **here)
        if repo_id.startswith(f"{LOCAL_NAMESPACE}/"):
            raise self._not_installed(repo_id)
        entry = catalog_entry(repo_id)
        if self.offline and entry is None:
            raise OfflineError(
                f"{repo_id} is not installed and offline mode is on: nothing is known about it. Go online (unset "
                "HF_HUB_OFFLINE, drop --offline) to ask the Hub."
            )
        if not self.offline:
            try:
                _, remote = hub.remote_files(repo_id, "main")
            except NetworkError:
                if entry is None:
                    raise
            else:
                return sizing.from_hub_files(
                    repo_id, hub.select_files(repo_id, remote, allow_pickle=True), entry, **here
                )
        return sizing.from_catalog(entry, **here)

    def _repo_dir(self, repo_id: str) -> Path:
        return self.models_dir / cache.repo_folder_name(repo_id)

    def _installed_at(self, repo_id: str, revision: str | None) -> InstalledModel | None:
        """The complete install of `repo_id` (at `revision`, a name or commit, when given), else None."""
        repo_dir = self._repo_dir(repo_id)
        if not repo_dir.is_dir():
            return None
        installed = cache.describe(repo_dir)
        if installed.status == "incomplete":
            return None
        if revision is not None and revision not in (installed.revision, installed.commit):
            return None
        return installed


def _in_use(name: str) -> bool:
    """Whether the scratch folder `name` may be in use: the process it is named after still runs (or it is not
    named as `ModelStore.scratch` names them)."""
    try:
        pid, started, _ = name.split("-", 2)
        return int(psutil.Process(int(pid)).create_time()) == int(started)
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, ValueError):
        return True


_REMAKE_HINT = "train it again, or run `creator-kit models starter` for the starter models"


def repair_hint(model: InstalledModel) -> str:
    """What repairs `model` when its files are damaged: download it again, or make again a model made here."""
    made = variants.conversion_of(model)
    if made:
        return f"run `{variants.remake_command(made)}`"
    if model.source == "starter":
        return "build it again with `creator-kit models starter --force`"
    if model.source == "custom":
        return "make it again (train it again, or register its folder again)"
    return f"run `creator-kit models download {model.repo_id}`, which fetches the damaged files again"


def _damaged(model: InstalledModel, problems: list[str]) -> IntegrityError:
    """The error for `model` whose files have `problems`: which, and the repair."""
    return IntegrityError(
        f"{model.repo_id} could not be loaded: its files are damaged ({'; '.join(problems[:3])}). "
        f"To repair it, {repair_hint(model)}."
    )
