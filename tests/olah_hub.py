"""A Hugging Face Hub on loopback: model folders committed to local git repositories, served by olah.

Large files are stored the way the Hub stores them, as Git LFS pointers with the object under
``.git/lfs/objects``, so the mirror answers with sha256 ETags and LFS metadata like the real Hub.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

LFS_THRESHOLD = 1024 * 1024
LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt")


def _git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@localhost",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@localhost",
    )
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def publish(mirrors: Path, repo_id: str, source: Path) -> str:
    """Commit the files of `source` as model repo `repo_id` under `mirrors`; returns the commit sha."""
    repo = mirrors / "models" / repo_id
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        target = repo / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in LFS_SUFFIXES or path.stat().st_size >= LFS_THRESHOLD:
            _store_lfs(repo, path, target)
        else:
            shutil.copyfile(path, target)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"publish {repo_id}")
    return _git(repo, "rev-parse", "HEAD").strip()


def _store_lfs(repo: Path, source: Path, pointer: Path) -> None:
    digest = hashlib.sha256()
    with source.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    oid = digest.hexdigest()
    obj = repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    obj.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, obj)
    pointer.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {source.stat().st_size}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OlahHub:
    """An olah server in offline mode serving `mirrors`; `endpoint` is what HF_ENDPOINT should be."""

    def __init__(self, mirrors: Path, workdir: Path) -> None:
        self.mirrors = mirrors
        self.workdir = workdir
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> OlahHub:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "olah.toml"
        config.write_text(
            "[basic]\n"
            f'host = "127.0.0.1"\nport = {self.port}\n'
            f'mirror-netloc = "127.0.0.1:{self.port}"\nmirror-lfs-netloc = "127.0.0.1:{self.port}"\n'
            f'repos-path = "{self.workdir / "repos"}"\nmirrors-path = ["{self.mirrors}"]\n'
            "[accessibility]\noffline = true\n"
        )
        olah = Path(sys.executable).with_name("olah-cli")
        log = (self.workdir / "olah.log").open("w")
        self.process = subprocess.Popen([str(olah), "-c", str(config)], cwd=self.workdir, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.endpoint}/api/whoami-v2", timeout=1)
                return self
            except httpx.TransportError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"olah exited: {(self.workdir / 'olah.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        raise RuntimeError("olah did not start within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
