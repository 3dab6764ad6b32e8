"""Conformance suite over every policy backend, and the agent run through each.

Backends: transformers (``hf:``, base and LoRA adapter), vLLM in process
(``vllm:``, on a LoRA adapter), a real ``vllm serve`` through the
OpenAI-compatible client (``openai:``), and ``replay:``. The model is the tiny
model fine-tuned to solve the calc task, so greedy answers are known: every
backend must return exactly them (sampling, stop strings and token caps are
then checked against the same reference), and the agent must fix the bug
through every backend in a real Docker sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from swe_srl.agent.loop import Agent, AgentConfig
from swe_srl.errors import SweSrlError
from swe_srl.io import iter_jsonl, write_jsonl
from swe_srl.policy import bind, load_policy
from swe_srl.protocols import Policy
from swe_srl.trajectories.models import Action, Step, Trajectory

pytestmark = pytest.mark.model

BACKENDS = [
    pytest.param("hf", id="hf"),
    pytest.param("hf-lora", id="hf-lora"),
    pytest.param("vllm-lora", id="vllm-lora", marks=pytest.mark.vllm),
    pytest.param("openai", id="openai", marks=pytest.mark.vllm),
    pytest.param("replay", id="replay"),
]
MODEL_BACKENDS = {"hf", "hf-lora", "vllm-lora", "openai"}


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, solver_model, solver_adapter, calc, calc_task, tmp_path_factory):
    """(kind, policy factory): the factory binds the policy to the calc task (a fresh
    replay episode each time; the shared model otherwise)."""
    kind = request.param
    opts = dict(temperature=0.0, max_tokens=64)
    if kind == "hf":
        policy = load_policy(f"hf:{solver_model}", **opts)
    elif kind == "hf-lora":
        policy = load_policy(f"hf:{solver_adapter}", **opts)
    elif kind == "vllm-lora":
        request.getfixturevalue("vllm_available")
        policy = load_policy(f"vllm:{solver_adapter}", max_model_len=4096, **opts)
    elif kind == "openai":
        url = request.getfixturevalue("vllm_server")
        policy = load_policy(f"openai:{url}#solver", timeout=60, max_retries=2, **opts)
    else:
        steps = [Step(Action("bash", {"command": calc.FIX_COMMAND}), "fix add", ""), Step(Action("submit", {}), "done", "")]
        path = tmp_path_factory.mktemp("replay") / "recorded.jsonl"
        write_jsonl(path, [Trajectory(id="rec", source_format="swe-srl-agent", instance_id=calc_task["instance_id"],
                                      steps=steps, patch=calc_task["patch"]).to_dict()])
        policy = load_policy(f"replay:{path}")
    yield kind, (lambda: bind(policy, calc_task))
    policy.close()


def test_protocol_and_completion_records(backend, calc):
    kind, fresh = backend
    policy = fresh()
    assert isinstance(policy, Policy)
    messages = calc.solver_examples()[0][0]
    texts = policy.propose(messages, n=3)
    assert len(texts) == 3 and all(isinstance(t, str) and t for t in texts)
    completions = fresh().generate(messages, 2)
    assert len(completions) == 2
    for c in completions:
        assert c.finish_reason in ("stop", "length")
        if kind in MODEL_BACKENDS:
            assert c.prompt_tokens > 400 and 0 < c.completion_tokens <= 64
            # the agent fits prompts to the model with these two
            assert policy.count_tokens(messages) == c.prompt_tokens
            assert policy.max_context in (4096, 8192)
    with pytest.raises(SweSrlError):
        fresh().generate([], 1) if kind != "replay" else load_policy("replay:/nonexistent")


def test_greedy_answers_are_the_trained_ones(backend, calc):
    """The same text from every backend: chat template, decoding and stop handling agree."""
    _, fresh = backend
    policy = fresh()
    for messages, expected in calc.solver_examples():
        [c] = policy.generate(messages, 1)
        assert c.text == expected
        assert c.finish_reason == "stop"


def test_seeded_sampling_is_reproducible(backend, calc):
    kind, fresh = backend
    messages = calc.solver_examples()[0][0]
    a = [c.text for c in fresh().generate(messages, 2, temperature=1.0, seed=11)]
    b = [c.text for c in fresh().generate(messages, 2, temperature=1.0, seed=11)]
    assert a == b and len(a) == 2


def test_max_tokens_and_stop_strings(backend, calc):
    kind, fresh = backend
    messages, expected = calc.solver_examples()[0]
    if kind not in MODEL_BACKENDS:  # replay answers the recorded step whole, whatever the settings
        assert [c.text for c in fresh().generate(messages, 2, max_tokens=4, stop=("</think>",))] == [expected] * 2
        return
    for c in fresh().generate(messages, 2, max_tokens=4, stop=()):
        assert c.completion_tokens <= 4 and c.finish_reason == "length"
        assert expected.startswith(c.text) and len(c.text) < len(expected)
    [c] = fresh().generate(messages, 1, stop=("</think>",))
    assert c.text == expected[: expected.index("</think>") + len("</think>")]
    assert c.finish_reason == "stop"


def test_concurrent_calls_from_agent_workers(backend, calc):
    kind, fresh = backend
    messages, expected = calc.solver_examples()[0]
    results, errors = [], []

    def worker():
        try:
            results.append(fresh().generate(messages, 1)[0].text)
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and results == [expected] * 3


@pytest.mark.docker
def test_agent_fixes_the_bug_through_the_backend(backend, calc_task, calc_image):
    from swe_srl.sandbox import DockerSandbox

    _, fresh = backend
    image, config = calc_image
    with DockerSandbox.start(image, config, run_id="pytest-policy") as sandbox:
        result = Agent(fresh(), sandbox, calc_task, AgentConfig(max_steps=4, max_format_errors=1)).run()
    assert result.exit_reason == "submitted", result.trajectory.meta
    assert result.patch == calc_task["patch"]
    assert [s.action.tool for s in result.trajectory.steps] == ["bash", "submit"]


@pytest.mark.vllm
@pytest.mark.docker
@pytest.mark.slow
def test_swe_srl_run_against_vllm_serve(vllm_server, calc_task, calc_image, tmp_path):
    """The CLI end to end through the OpenAI backend, with two workers."""
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, [calc_task, dict(calc_task, instance_id="local__calc-1b")])
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "swe_srl", "run", "--tasks", str(tasks), "--policy",
                           f"openai:{vllm_server}#solver", "--out", str(out), "--workers", "2", "--max-steps", "4"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    preds = {p["instance_id"]: p for _, p in iter_jsonl(out / "predictions.jsonl")}
    assert set(preds) == {"local__calc-1", "local__calc-1b"}
    assert all(p["model_patch"] == calc_task["patch"] for p in preds.values())
    assert "submitted" in proc.stdout and "mean steps" in proc.stdout
    ev = subprocess.run([sys.executable, "-m", "swe_srl", "eval", "--tasks", str(tasks), "--predictions",
                         str(out / "predictions.jsonl"), "--run-id", "agent", "--out", str(tmp_path / "eval"), "--workers", "2"],
                        capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr[-2000:]
    import json

    assert json.loads((tmp_path / "eval" / "report.json").read_text())["resolved_ids"] == ["local__calc-1", "local__calc-1b"]


@pytest.mark.vllm
@pytest.mark.slow
def test_oracle_edit_mode_through_the_cli_resolves_via_eval(vllm_server, calc_task, calc_image, tmp_path):
    """The SRL paper's main evaluation, end to end: one call to the served model with the
    issue and the gold file, its search/replace edits as the patch, graded by swe-srl eval."""
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, [calc_task])
    out = tmp_path / "oracle"
    proc = subprocess.run([sys.executable, "-m", "swe_srl", "run", "--tasks", str(tasks), "--mode", "oracle-edit",
                           "--policy", f"openai:{vllm_server}#solver", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [pred] = [p for _, p in iter_jsonl(out / "predictions.jsonl")]
    assert pred["model_patch"] == calc_task["patch"]
    ev = subprocess.run([sys.executable, "-m", "swe_srl", "eval", "--tasks", str(tasks), "--predictions",
                         str(out / "predictions.jsonl"), "--run-id", "oracle", "--out", str(tmp_path / "eval")],
                        capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr[-2000:]
    import json

    assert json.loads((tmp_path / "eval" / "report.json").read_text())["resolved_ids"] == [calc_task["instance_id"]]


def test_the_vllm_engine_keeps_a_float32_checkpoint_in_float32_on_cpu(backend):
    """vLLM's CPU build downcasts float32 checkpoints to bfloat16, which wipes out most of a short
    LoRA fine-tune merged into the weights; the project's engines keep float32 (engine_dtype)."""
    kind, fresh = backend
    if kind != "vllm-lora":
        pytest.skip("the in-process vLLM engine only")
    import torch

    assert fresh().llm.llm_engine.model_config.dtype == torch.float32


def test_the_vllm_worker_computes_on_every_core_of_a_small_machine(backend):
    """vLLM's ``auto`` binding gives its CPU worker one core and keeps one for the scheduler;
    on a machine of at most SMALL_CPU cores the project's engines bind it to all of them
    (cpu_threads_bind): the worker's compute threads, one pinned per core, cover every core."""
    import glob

    import psutil

    from swe_srl.policy.vllm import SMALL_CPU

    kind, fresh = backend
    if kind != "vllm-lora":
        pytest.skip("the in-process vLLM engine only")
    cores = os.sched_getaffinity(0)
    if len(cores) > SMALL_CPU or "VLLM_CPU_OMP_THREADS_BIND" in os.environ and os.environ["VLLM_CPU_OMP_THREADS_BIND"] != ",".join(map(str, sorted(cores))):
        pytest.skip("a large machine or a user-chosen binding: vLLM's own choice stands")
    fresh().generate([{"role": "user", "content": "hi"}], 1)
    workers = [p for p in psutil.Process().children(recursive=True) if p.name().startswith("VLLM::Worker")]
    assert workers, "no vLLM worker process found"
    pinned = set()
    for task in glob.glob(f"/proc/{workers[0].pid}/task/*"):
        try:
            affinity = os.sched_getaffinity(int(task.rsplit("/", 1)[1]))
        except OSError:  # the thread ended
            continue
        if len(affinity) == 1:
            pinned |= affinity
    assert pinned == cores


@pytest.mark.vllm
def test_cpu_threads_bind(vllm_available, monkeypatch):
    from swe_srl.policy.vllm import cpu_threads_bind

    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    assert cpu_threads_bind({0, 1}) == "0,1" and cpu_threads_bind({3, 1}) == "1,3"
    assert cpu_threads_bind(set(range(16))) is None  # many cores: vLLM's auto (one kept for its scheduler)
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    assert cpu_threads_bind({0, 1}) == "nobind"  # the user's choice wins


@pytest.mark.vllm
def test_engine_dtype(vllm_available, tmp_path):
    from swe_srl.policy.vllm import engine_dtype

    for stored, expected in (("float32", "float32"), ("bfloat16", "auto"), ("float16", "auto")):
        folder = tmp_path / stored
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"dtype": stored}))
        assert engine_dtype("auto", folder) == expected, stored
        assert engine_dtype("bfloat16", folder) == "bfloat16"  # an explicit choice stands
    assert engine_dtype("auto", tmp_path / "missing") == "auto"
