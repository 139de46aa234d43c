"""Installs the outside tools some tests need (Debian's chromium, npm packages of the samples),
so that `make test` passes on a fresh machine."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def one_at_a_time(name: str) -> Iterator[None]:
    """`make test` runs two pytest workers: one installs or downloads, the other waits for it
    and then finds the thing there."""
    with open(Path(tempfile.gettempdir()) / f"edgekit-tests-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_chromium() -> str:
    with one_at_a_time("apt"):
        if not Path(CHROMIUM).exists():
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, capture_output=True)
    return CHROMIUM


def ensure_npm_packages(folder: Path) -> Path:
    """`npm install` in a sample folder unless its packages are already there."""
    marker = folder / "node_modules" / ".package-lock.json"
    with one_at_a_time(f"npm-{folder.name}"):
        if not marker.exists() or marker.stat().st_mtime < (folder / "package.json").stat().st_mtime:
            npm = shutil.which("npm")
            assert npm, "npm is needed for the sample tests"
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder,
                check=True,
                capture_output=True,
            )
    return folder / "node_modules"
