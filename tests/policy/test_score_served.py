"""`swe-srl score --model openai:URL#MODEL`: a model behind a real `vllm serve`, scored over
HTTP, gets the same greedy answers and numbers as the same model loaded in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swe_srl.train.score import score_completions
from swe_srl.train.toy import save_toy_dataset, short_rows


def _cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "swe_srl", "score", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    rows = short_rows(["ls", "git status", "python -m pytest -x -q"], 6)
    return save_toy_dataset(tmp_path_factory.mktemp("served") / "data", rows[:2], rows)


@pytest.mark.vllm
@pytest.mark.model
def test_a_served_model_scores_like_the_same_model_in_process(vllm_server, solver_model, dataset, tmp_path):
    served = tmp_path / "served.json"
    r = _cli("--model", f"openai:{vllm_server}#solver", "--dataset", dataset, "--max-new-tokens", "24",
             "--batch-size", "3", "--out", served)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(served.read_text())
    assert (got["samples"], got["backend"], got["label"], got["adapter"]) == (6, "openai", "served", None)
    assert got["inputs"]["fingerprints"]["served"] == str(solver_model)  # what the server says it serves
    assert [rec["expert_action"] for rec in got["records"]] == [r["expert_action"] for r in short_rows(
        ["ls", "git status", "python -m pytest -x -q"], 6)]  # the validation rows, in order
    again = score_completions([rec["completion"] for rec in got["records"]],
                              [{"expert_action": rec["expert_action"]} for rec in got["records"]])
    assert {k: got[k] for k in ("format_valid_rate", "mean_similarity", "mean_reward", "exact_match_rate")} == \
        {k: again[k] for k in ("format_valid_rate", "mean_similarity", "mean_reward", "exact_match_rate")}

    local = tmp_path / "local.json"
    r = _cli("--model", solver_model, "--dataset", dataset, "--backend", "vllm", "--max-new-tokens", "24", "--out", local)
    assert r.returncode == 0, r.stderr[-3000:]
    ref = json.loads(local.read_text())
    # The same prompts (chat template included) and the same greedy answers, in the rows' order,
    # whichever way the model is reached. Only the tails may differ: this half-trained tiny model
    # has near-tied logits that another batch composition (the server's) can flip late in an answer.
    assert [rec["prompt_tokens"] for rec in got["records"]] == [rec["prompt_tokens"] for rec in ref["records"]]
    pairs = [(a["completion"], b["completion"]) for a, b in zip(got["records"], ref["records"])]
    assert all(a[:24] == b[:24] for a, b in pairs), pairs
    assert sum(a == b for a, b in pairs) >= len(pairs) - 1, pairs

    # unchanged server and inputs: up to date
    r = _cli("--model", f"openai:{vllm_server}#solver", "--dataset", dataset, "--max-new-tokens", "24",
             "--batch-size", "3", "--out", served)
    assert r.returncode == 0 and "up to date" in r.stderr

    # a name the server does not serve: one line naming what it serves
    r = _cli("--model", f"openai:{vllm_server}#nope", "--dataset", dataset, "--out", tmp_path / "x.json")
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0
    assert "serves no model named 'nope'" in r.stderr and "solver" in r.stderr


@pytest.mark.vllm
@pytest.mark.model
def test_a_prompt_longer_than_the_servers_context_counts_as_too_long(vllm_server):
    """vLLM's /tokenize refuses a prompt over its context: the policy reports it as too long (so
    oracle-edit can cut its files), and keeps counting other prompts."""
    from swe_srl.policy.openai import OpenAIPolicy

    policy = OpenAIPolicy(vllm_server, "solver")
    short = [{"role": "user", "content": "hello"}]
    n = policy.count_tokens(short)
    assert n is not None and 0 < n < 50
    long = [{"role": "user", "content": "word " * 6000}]  # ~6k tokens against a 4096-token server
    assert policy.count_tokens(long) > policy.max_context == 4096
    assert policy.count_tokens(short) == n


@pytest.mark.vllm
@pytest.mark.model
def test_a_lora_module_has_its_base_models_context_and_counts_tokens(vllm_lora_server):
    """vLLM lists a LoRA module without max_model_len: the policy takes its base model's, so an
    agent or oracle-edit run on an adapter still fits its prompts."""
    from swe_srl.policy.openai import OpenAIPolicy

    policy = OpenAIPolicy(vllm_lora_server, "ident")
    assert policy.max_context == 4096
    assert policy.count_tokens([{"role": "user", "content": "word " * 6000}]) > 4096
    assert 0 < policy.count_tokens([{"role": "user", "content": "hello"}]) < 50


def test_an_unreachable_server_is_one_clear_error(dataset, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = _cli("--model", f"openai:http://127.0.0.1:{port}/v1#m", "--dataset", dataset, "--out", tmp_path / "x.json")
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "the server does not answer" in r.stderr and not (tmp_path / "x.json").exists()
