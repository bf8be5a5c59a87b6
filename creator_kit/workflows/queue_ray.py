"""A queue's pending items on a Ray cluster: one task per item, each worker reading models from the same store.

Needs the optional extra ``creator-kit[cluster]`` (Ray); only ``queue.run(..., ray_address=...)`` imports it.
Workers write each output and its done record exactly as a local run does (`queue_items.run_item`), into the
queue's folder, which every node must see (a shared file system), so a resume works the same either way.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from creator_kit.core.errors import CancelledError, NetworkError, NotFoundError
from creator_kit.workflows.queue_items import Plan, QueueItem, run_item

INSTALL = "pip install 'creator-kit[cluster]' (or: pip install ray)"
POLL_S, CONNECT_S = 0.5, 5.0


def run_on_ray(
    plan: Plan,
    pending: list[QueueItem],
    address: str,
    models_dir: Path,
    cancel: threading.Event,
    after: Callable[[dict[str, Any]], None],
) -> None:
    """Run `pending` as Ray tasks on the cluster at `address`; `after(record)` as each one finishes."""
    try:
        import ray
    except ImportError as exc:
        raise NotFoundError(f"--ray needs Ray, which is not installed: {INSTALL}") from exc
    _require_reachable(address)
    connected_here = not ray.is_initialized()  # a driver that called ray.init itself keeps its connection
    if connected_here:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise NetworkError(f"Cannot reach the Ray cluster at {address}: {exc}".splitlines()[0]) from exc
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_item_task)
        running = {task.remote(plan.task, item, str(plan.folder), str(models_dir)): item for item in pending}
        while running:
            if cancel.is_set():
                for ref in running:
                    ray.cancel(ref, force=True)
                raise CancelledError("Queue cancelled; the items finished so far are kept: run it again to finish it.")
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in ready:
                running.pop(ref)
                try:
                    after(ray.get(ref))
                except ray.exceptions.RayTaskError as exc:
                    raise exc.as_instanceof_cause() from None  # the worker's own error (a CreatorKitError)
    finally:
        if connected_here:
            ray.shutdown()


def _require_reachable(address: str) -> None:
    """NetworkError at once when a HOST:PORT address does not answer (Ray itself would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local": Ray finds or starts the cluster itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_S).close()
    except OSError as exc:
        raise NetworkError(
            f"Cannot reach the Ray cluster at {address} ({exc.strerror or exc}): start it with `ray start --head`, "
            "or check the address."
        ) from exc


def _item_task(task: str, item: QueueItem, folder: str, models_dir: str) -> dict[str, Any]:
    """One item on a Ray worker: the store at `models_dir`, offline (a queue only reads installed models)."""
    from creator_kit.core.config import configure

    configure(models_dir=models_dir, offline=True)
    return run_item(task, item, Path(folder))
