"""Fixtures of the agent tests: a small buggy repository turned into a SWE-bench
task (inline environment spec), its environment image built once per session,
and scripted policies (deterministic responses, for the loop's edge cases)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

CALC = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
FIXED = CALC.replace("return a - b\n\n\ndef sub", "return a + b\n\n\ndef sub")
TEST_SUB = "from calc import sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n"
TEST_ADD = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
FILES = {
    "calc/__init__.py": CALC,
    "tests/test_sub.py": TEST_SUB,
    "pyproject.toml": ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
                       '[project]\nname = "calc"\nversion = "0.1"\n'),
}
SPEC = {"python": "3.11", "pip_packages": ["pytest"], "install": ["pip install --no-build-isolation -e ."]}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout


def make_task(root: Path) -> dict:
    """A repository whose ``add`` subtracts, and the SWE-bench task that fixes it."""
    repo = root / "calc"
    for name, text in FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "calc")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "calc/__init__.py").write_text(FIXED)
    patch = git(repo, "diff")
    git(repo, "checkout", "-q", "--", ".")
    (repo / "tests/test_add.py").write_text(TEST_ADD)
    git(repo, "add", "-N", "tests/test_add.py")
    test_patch = git(repo, "diff")
    git(repo, "reset", "-q")
    (repo / "tests/test_add.py").unlink()
    return {
        "instance_id": "local__calc-1",
        "repo": "local/calc",
        "base_commit": base,
        "patch": patch,
        "test_patch": test_patch,
        "problem_statement": "calc.add(1, 2) returns -1 instead of 3: add subtracts its arguments.",
        "FAIL_TO_PASS": ["tests/test_add.py::test_add"],
        "PASS_TO_PASS": ["tests/test_sub.py::test_sub"],
        "version": "0.1",
        "environment_setup_commit": base,
        "repo_path": str(repo),
        "spec": SPEC,
    }


@pytest.fixture(scope="session")
def docker_engine():
    from swe_srl.sandbox.images import docker_client
    from swe_srl.sandbox.spec import SandboxError

    try:
        return docker_client()
    except SandboxError as e:
        pytest.skip(f"no Docker engine: {e}")


@pytest.fixture(scope="session")
def calc_task(tmp_path_factory) -> dict:
    return make_task(tmp_path_factory.mktemp("agent-repo"))


@pytest.fixture(scope="session")
def calc_image(docker_engine, calc_task):
    from swe_srl.agent.runner import RunConfig, prepare_task

    image, config = prepare_task(calc_task, RunConfig())
    return image, config


@pytest.fixture
def sandbox(calc_image):
    from swe_srl.sandbox import DockerSandbox

    image, config = calc_image
    with DockerSandbox.start(image, config, run_id="pytest-agent") as sb:
        yield sb


class Scripted:
    """A policy answering with a fixed list of responses (then repeating the last)."""

    def __init__(self, responses):
        self.responses = list(responses)
        self.calls = 0
        self.prompts = []

    def propose(self, messages, n=1):
        self.prompts.append(messages)
        text = self.responses[min(self.calls, len(self.responses) - 1)]
        self.calls += 1
        return [text] * n


def call(tool: str, **args) -> str:
    from swe_srl.trajectories.render import render_action

    return f"<think>step</think>\n{render_action(tool, args)}"


FIX_SCRIPT = [
    call("bash", command="grep -n 'return a - b' calc/__init__.py"),
    call("str_replace_editor", command="str_replace", path="/testbed/calc/__init__.py",
         old_str="def add(a, b):\n    return a - b", new_str="def add(a, b):\n    return a + b"),
    call("bash", command="python -c 'from calc import add; print(add(1, 2))'"),
    call("submit"),
]


@pytest.fixture
def scripted():
    return Scripted
