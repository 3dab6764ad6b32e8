"""Fixtures of the agent tests: the calc task (``calc.py``), its environment
image built once per session, a fresh Docker sandbox per test, scripted policies."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def load_calc():
    """``tests/agent/calc.py`` as a module (tests are not a package)."""
    name = "swe_srl_tests_calc"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("calc.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_calc = load_calc()


@pytest.fixture(scope="session")
def calc():
    """The helpers module (make_task, Scripted, call, FIX_SCRIPT, train_solver ...)."""
    return _calc


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
    return _calc.make_task(tmp_path_factory.mktemp("agent-repo"))


@pytest.fixture(scope="session")
def calc_image(docker_engine, calc_task):
    """(image tag, SandboxConfig) of the calc task's environment."""
    from swe_srl.agent.runner import RunConfig, prepare_task

    return prepare_task(calc_task, RunConfig())


@pytest.fixture
def sandbox(calc_image):
    from swe_srl.sandbox import DockerSandbox

    image, config = calc_image
    with DockerSandbox.start(image, config, run_id="pytest-agent") as sb:
        yield sb
