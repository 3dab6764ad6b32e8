"""Fixtures of the harness tests.

``synth_tasks`` (session, Docker): tasks synthesized from two real PyPI sdists
(boltons, more-itertools), two bugs each, through
``swe_srl.tasks.synthesize.synthesize_pypi_cached`` (mirrors, images and the
task file are cached under ``~/.cache/swe-srl``, so later sessions reuse them).
Other stages' tests can call the same helper.

``git_repo`` (function): a small local git repository for eval-script tests
that run real bash and git without Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PYPI_PROJECTS = ["boltons==24.0.0", "more-itertools==10.5.0"]

GIT_ENV = {"GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True).stdout


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


@pytest.fixture(scope="session")
def synth_tasks() -> list[dict]:
    if not docker_available():
        pytest.fail("no Docker engine answers: start dockerd (make setup)")
    from swe_srl.tasks.synthesize import synthesize_pypi_cached

    tasks = synthesize_pypi_cached(PYPI_PROJECTS, max_tasks=2)
    assert {t["repo"] for t in tasks} == {"pypi/boltons", "pypi/more-itertools"}
    return tasks


@pytest.fixture(scope="session")
def synth_tasks_file(synth_tasks, tmp_path_factory) -> Path:
    from swe_srl.io import write_jsonl

    path = tmp_path_factory.mktemp("synth") / "tasks.jsonl"
    write_jsonl(path, synth_tasks)
    return path


@pytest.fixture
def git_repo(tmp_path) -> tuple[Path, str]:
    """(repo, base commit): a package with a bug and a test file."""
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pkg" / "__init__.py").write_text("def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n")
    (repo / "tests" / "test_pkg.py").write_text(
        "from pkg import add, mul\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
        "def test_mul():\n    assert mul(2, 3) == 6\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    return repo, git(repo, "rev-parse", "HEAD").strip()
