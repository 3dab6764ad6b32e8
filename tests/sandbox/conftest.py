"""Fixtures of the sandbox tests: a real Docker engine, one small environment image
built once per session from a tiny git repository made here (deterministic commits,
so the cached image is reused across sessions), and sandboxes reset between tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from swe_srl.sandbox.spec import EnvSpec, SandboxConfig

FILES = {
    "calc/__init__.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "pyproject.toml": ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
                       '[project]\nname = "calc"\nversion = "0.1"\n'),
    "README.md": "tiny\n",
}
SPEC = EnvSpec(python="3.11", pip_packages=["pytest"], install=["pip install --no-build-isolation -e ."])


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout


def make_repo(root: Path) -> tuple[Path, str, str]:
    """A two-commit repository: (path, base commit, later commit holding a 'fix')."""
    repo = root / "calc"
    for name, text in FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "calc")
    base = _git(repo, "rev-parse", "HEAD").strip()
    (repo / "FIX.txt").write_text("the fix\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "fix")
    later = _git(repo, "rev-parse", "HEAD").strip()
    return repo, base, later


@pytest.fixture(scope="session")
def env_spec() -> EnvSpec:
    return SPEC


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory) -> tuple[Path, str, str]:
    return make_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="session")
def env_image(docker_engine, tiny_repo) -> str:
    from swe_srl.sandbox.images import build_env_image

    repo, base, _ = tiny_repo
    return build_env_image(SPEC, repo, base, name="calc-test")


def _start(kind: str, env_image: str, tiny_repo, config: SandboxConfig | None = None):
    if kind == "docker":
        from swe_srl.sandbox import DockerSandbox

        return DockerSandbox.start(env_image, config, run_id="pytest")
    from swe_srl.sandbox import LocalSandbox

    repo, base, _ = tiny_repo
    return LocalSandbox.start(repo, base, config)


@pytest.fixture(scope="module")
def docker_sandbox(env_image, tiny_repo):
    sb = _start("docker", env_image, tiny_repo)
    yield sb
    sb.close()


@pytest.fixture
def sb(docker_sandbox):
    """The module's Docker sandbox, back at the base state."""
    docker_sandbox.reset()
    return docker_sandbox


@pytest.fixture(scope="module", params=["docker", "local"])
def any_sandbox_mod(request, tiny_repo):
    env_image = request.getfixturevalue("env_image") if request.param == "docker" else ""
    sb = _start(request.param, env_image, tiny_repo)
    yield sb
    sb.close()


@pytest.fixture
def any_sb(any_sandbox_mod):
    """Every Sandbox implementation (the conformance suite runs on each), reset before the test."""
    any_sandbox_mod.reset()
    return any_sandbox_mod
