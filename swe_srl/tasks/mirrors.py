"""Repositories bug synthesis works in, as bare mirrors in the cache.

* a PyPI source distribution (``NAME==VERSION``): ``pip download --no-binary``,
  unpacked and committed (fixed author and date, so the same sdist gives the
  same sha) as the root commit of ``<cache>/repos/pypi__<name>.git``, tag
  ``pypi-<version>``; downloaded once;
* a local git repository: its HEAD fetched into
  ``<cache>/repos/local__<name>.git`` (tag ``local-<sha>``), so the bug commits
  synthesis makes never touch the user's repository.

The git plumbing is :mod:`swe_srl.git`; the cache root is
:func:`swe_srl.paths.cache_root`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from swe_srl.errors import SweSrlError
from swe_srl.git import commit_dir, ensure_bare, git, list_files, tag_sha
from swe_srl.paths import cache_root

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Mirror:
    """A repository at one commit, in a bare mirror of the cache."""

    path: Path
    base_commit: str
    name: str
    """Short name (normalised PyPI name, or the local folder's name)."""
    version: str
    """The PyPI version, or the local HEAD's short sha."""


def cache_dir(cache: Path | None = None) -> Path:
    """``cache`` or the package's cache root."""
    return Path(cache) if cache else cache_root()


def normalize(name: str) -> str:
    """PyPI's name normalisation: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(requirement: str) -> tuple[str, str]:
    """``NAME==VERSION`` -> ``(NAME, VERSION)``; anything else is a one-line error."""
    m = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)\s*", requirement)
    if not m:
        raise SweSrlError(f"--pypi {requirement!r}: expected NAME==VERSION (an exact version)")
    return m.group(1), m.group(2)


def _unpack(archive: Path, dest: Path) -> Path:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    entries = [p for p in dest.iterdir()]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def pypi_mirror(requirement: str, *, cache: Path | None = None, log: Log = _quiet) -> Mirror:
    """The mirror of a PyPI sdist (downloaded once, then read from the cache)."""
    name, version = parse_requirement(requirement)
    norm = normalize(name)
    mirror = cache_dir(cache) / "repos" / f"pypi__{norm}.git"
    tag = f"pypi-{version}"
    if (mirror / "HEAD").is_file():
        sha = tag_sha(mirror, tag)
        if sha:
            return Mirror(mirror, sha, norm, version)
    with tempfile.TemporaryDirectory(prefix="swe-srl-sdist-") as tmp:
        dl = Path(tmp) / "dl"
        log(f"pip download --no-binary :all: {name}=={version}")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
             "--no-binary", ":all:", "-d", str(dl), f"{name}=={version}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        archives = [p for p in dl.glob("*") if p.name.endswith((".tar.gz", ".zip", ".tar.bz2", ".tgz"))] if dl.exists() else []
        if proc.returncode != 0 or not archives:
            tail = proc.stdout.strip().splitlines()[-1:] or ["no source distribution"]
            raise SweSrlError(f"--pypi {requirement}: cannot download the source distribution ({tail[0]})")
        src = _unpack(archives[0], Path(tmp) / "src")
        ensure_bare(mirror)
        sha = commit_dir(mirror, src, f"{name} {version} (PyPI sdist)", tag)
    return Mirror(mirror, sha, norm, version)


def local_mirror(path: str | Path, *, cache: Path | None = None) -> Mirror:
    """The mirror of a local git repository's HEAD."""
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise SweSrlError(f"--repo {path}: no such directory")
    try:
        head = git(["rev-parse", "--verify", "HEAD^{commit}"], p).strip()
    except SweSrlError:
        raise SweSrlError(f"--repo {path}: not a git repository with a commit") from None
    name = p.name.removesuffix(".git")
    mirror = cache_dir(cache) / "repos" / f"local__{name}.git"
    ensure_bare(mirror)
    git(["fetch", "-q", "--no-tags", str(p), f"+{head}:refs/tags/local-{head[:12]}"], mirror)
    return Mirror(mirror, head, name, head[:7])


def src_layout(repo: Path, commit: str) -> bool:
    """Whether the package lives under ``src/`` (and not at the top level)."""
    files = list_files(repo, commit)
    return any(f.startswith("src/") and f.endswith("/__init__.py") for f in files) and not any(
        f.count("/") == 1 and f.endswith("/__init__.py") and not f.startswith(("tests/", "test/")) for f in files)
