"""Git, run as a subprocess: the one wrapper and the plumbing built on it.

Used by the sandbox (a repository snapshot per environment image), by bug
synthesis (bare mirrors, root commits with one file changed, tags) and by the
oracle-edit mode (a patch between two sets of file contents). Commits made
here have a fixed author, committer and date (:data:`FIXED_IDENTITY`), so the
same inputs give the same shas, and the images built from them stay cached.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from swe_srl.errors import SweSrlError

__all__ = ["FIXED_IDENTITY", "GitError", "git", "git_ok", "tag_sha", "ensure_bare", "commit_dir", "commit_file", "list_files",
           "read_blob", "file_mode"]

FIXED_IDENTITY = {
    "GIT_AUTHOR_NAME": "swe-srl", "GIT_AUTHOR_EMAIL": "swe-srl@localhost", "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "swe-srl", "GIT_COMMITTER_EMAIL": "swe-srl@localhost",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}


class GitError(SweSrlError):
    """A git command failed (the message names the command and git's last line,
    which is also ``last_line``)."""

    last_line = ""


def git(args: list[str], cwd: Path | str | None = None, *, input: bytes | None = None,
        env: dict[str, str] | None = None, error: type[SweSrlError] = GitError, timeout: float | None = None) -> str:
    """``git ARGS`` in ``cwd`` (the fixed identity, no terminal prompt), its stdout as text.
    A failure raises ``error`` with one line: the command and git's last message
    (also its ``last_line``); past ``timeout`` seconds, ``subprocess.TimeoutExpired``."""
    full_env = {**os.environ, **FIXED_IDENTITY, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=full_env, timeout=timeout)
    if proc.returncode != 0:
        last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        where = f" in {cwd}" if cwd is not None else ""
        err = error(f"git {' '.join(args[:3])}{where} failed: {last}")
        err.last_line = last  # type: ignore[attr-defined]
        raise err
    return proc.stdout.decode("utf-8", "replace")


def git_ok(args: list[str], cwd: Path | str | None = None) -> bool:
    """Whether ``git ARGS`` succeeds (for questions: does this commit exist?)."""
    return subprocess.run(["git", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}).returncode == 0


def tag_sha(repo: Path, tag: str) -> str | None:
    """The commit ``refs/tags/TAG`` points to, or None."""
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"], cwd=repo,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_bare(mirror: Path) -> None:
    """Make ``mirror`` a bare repository if it is not one yet."""
    if not (mirror / "HEAD").is_file():
        mirror.mkdir(parents=True, exist_ok=True)
        git(["init", "-q", "--bare", "."], mirror)


def commit_dir(mirror: Path, src: Path, message: str, tag: str) -> str:
    """Commit the files of ``src`` as a root commit in the bare ``mirror``; tag it."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(src), "GIT_DIR": str(mirror)}
        git(["add", "-A", "-f", "."], src, env=env)
        tree = git(["write-tree"], src, env=env).strip()
    sha = git(["commit-tree", tree, "-m", message], mirror).strip()
    git(["update-ref", f"refs/tags/{tag}", sha], mirror)
    return sha


def list_files(repo: Path, commit: str) -> list[str]:
    return [f for f in git(["ls-tree", "-r", "--name-only", commit], repo).splitlines() if f]


def read_blob(repo: Path, commit: str, path: str) -> str:
    return git(["show", f"{commit}:{path}"], repo)


def file_mode(repo: Path, commit: str, path: str) -> str:
    out = git(["ls-tree", commit, "--", path], repo).split()
    return out[0] if out else "100644"


def commit_file(repo: Path, base: str, path: str, content: str, message: str, tag: str) -> str:
    """A root commit (no parent) with ``base``'s tree and ``path`` replaced by ``content``; tagged."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(["read-tree", base], repo, env=env)
        blob = git(["hash-object", "-w", "--stdin"], repo, input=content.encode()).strip()
        git(["update-index", "--cacheinfo", f"{file_mode(repo, base, path)},{blob},{path}"], repo, env=env)
        tree = git(["write-tree"], repo, env=env).strip()
    sha = git(["commit-tree", tree, "-m", message], repo).strip()
    git(["update-ref", f"refs/tags/{tag}", sha], repo)
    return sha
