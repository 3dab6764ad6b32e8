"""`swe-srl score` and the one aggregation function training's validation shares
(swe_srl.train.score.score_completions), checked against numbers computed by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swe_srl.train.score import score_completions

EXPERT_LS = "<function=bash>\n<parameter=command>ls -la</parameter>\n</function>"  # 65 characters
EXPERT_SUBMIT = "<function=submit>\n</function>"
EXPERT_PYTEST = "<function=bash>\n<parameter=command>pytest -x</parameter>\n</function>"


def _rows() -> list[dict]:
    def row(traj: str, step: int, expert: str, tool: str) -> dict:
        return {"prompt": [{"role": "system", "content": "Answer with <think> and one action."},
                           {"role": "user", "content": f"task {traj}, step {step}"}],
                "expert_action": expert, "tool": tool, "trajectory_id": traj, "step_index": step}

    return [row("t1", 0, EXPERT_LS, "bash"), row("t1", 1, EXPERT_SUBMIT, "submit"),
            row("t2", 0, EXPERT_LS, "bash"), row("t2", 1, EXPERT_PYTEST, "bash")]


class KnownAnswers:
    """A fake batch generator: the answer to each prompt is fixed by its user turn."""

    ANSWERS = {
        "task t1, step 0": "<think>list the files</think>\n<function=bash>\n<parameter=command>ls -la</parameter>\n</function>",
        "task t1, step 1": "I am done, submitting.",  # no <think>: a format failure
        "task t2, step 0": "<think>look</think><function=bash><parameter=command>ls -l</parameter></function>",  # one char short
        "task t2, step 1": "<think>run tests</think><function=bash><parameter=command> </parameter></function>",  # blank command
    }

    def generate_batch(self, conversations: list[list[dict]]) -> list[str]:
        return [self.ANSWERS[c[-1]["content"]] for c in conversations]


def test_scores_of_known_answers_equal_hand_computed_numbers():
    rows = _rows()
    completions = KnownAnswers().generate_batch([r["prompt"] for r in rows])
    s = score_completions(completions, rows, records=True)
    # By hand: "ls -l" renders to 64 characters, all of them matched in the 65 of "ls -la",
    # so difflib's ratio is 2*64 / (64 + 65) = 128/129. A blank command is degenerate: 0.
    partial = 128 / 129
    assert [r["reward"] for r in s["records"]] == [1.0, -1.0, partial, 0.0]
    assert [r["format_valid"] for r in s["records"]] == [True, False, True, True]
    assert [r["exact_match"] for r in s["records"]] == [True, False, False, False]
    assert [r["id"] for r in s["records"]] == ["t1#0", "t1#1", "t2#0", "t2#1"]
    assert s["samples"] == 4
    assert s["format_valid_rate"] == 3 / 4
    assert s["mean_similarity"] == pytest.approx((1 + 0 + partial + 0) / 4, abs=1e-15)  # the format failure counts 0
    assert s["mean_reward"] == pytest.approx((1 - 1 + partial + 0) / 4, abs=1e-15)  # ... and -1 here
    assert s["exact_match_rate"] == 1 / 4
    assert s["by_tool"] == {
        "bash": {"samples": 3, "format_valid_rate": 1.0, "mean_similarity": pytest.approx((1 + partial) / 3, abs=1e-15),
                 "exact_match_rate": 1 / 3},
        "submit": {"samples": 1, "format_valid_rate": 0.0, "mean_similarity": 0.0, "exact_match_rate": 0.0},
    }
    assert list(s)[:5] == ["samples", "format_valid_rate", "mean_similarity", "mean_reward", "exact_match_rate"]
    # every valid answer calls the expert's tool here (the degenerate one too)
    assert [r["answer_tool"] for r in s["records"]] == ["bash", None, "bash", "bash"]
    assert s["tool_match_rate"] == 3 / 4 and s["same_tool_similarity"] == s["mean_similarity"]


def test_same_tool_similarity_counts_answers_calling_another_tool_as_zero():
    """difflib compares whole calls: a bash call answering an editor step still shares the call's
    boilerplate with it. same_tool_similarity counts such answers 0; the paper's mean does not."""
    rows = _rows()[:2]
    wrong_tool = "<think>look</think><function=str_replace_editor><parameter=command>view</parameter><parameter=path>/a</parameter></function>"
    s = score_completions([wrong_tool, "<think>done</think><function=submit></function>"], rows, records=True)
    cross = s["records"][0]["similarity"]
    assert cross > 0.2  # boilerplate alone
    assert [r["same_tool"] for r in s["records"]] == [False, True]
    assert s["mean_similarity"] == pytest.approx((cross + 1) / 2, abs=1e-15)
    assert s["tool_match_rate"] == 1 / 2 and s["same_tool_similarity"] == 1 / 2


def test_scores_accept_trl_conversational_completions_and_rows_without_a_tool_column():
    rows = [{"expert_action": EXPERT_SUBMIT}]
    s = score_completions([[{"role": "assistant", "content": "<think>x</think><function=submit></function>"}]], rows)
    assert (s["samples"], s["exact_match_rate"], list(s["by_tool"])) == (1, 1.0, ["submit"])
    assert score_completions([], [])["mean_similarity"] is None
    with pytest.raises(ValueError, match="2 completions for 1 rows"):
        score_completions(["a", "b"], rows)


# ---------------------------------------------------------------- the CLI on real models


def _save_dataset(folder: Path) -> Path:
    import datasets

    rows = _rows()
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:2]),
                          "validation": datasets.Dataset.from_list(rows[2:])}).save_to_disk(str(folder))
    return folder


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swe_srl", "score", *map(str, args)], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from swe_srl.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.mark.model
def test_score_cli_with_transformers_writes_every_response_and_the_same_numbers(tiny_model, tmp_path):
    data = _save_dataset(tmp_path / "data")
    out = tmp_path / "scores" / "tiny.json"
    r = _cli("--model", tiny_model, "--dataset", data, "--split", "all", "--backend", "hf",
             "--max-new-tokens", "12", "--batch-size", "3", "--out", out)
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert (result["samples"], result["split"], result["backend"], result["label"]) == (4, "all", "hf", "tiny")
    assert [rec["id"] for rec in result["records"]] == ["t1#0", "t1#1", "t2#0", "t2#1"]  # train first, then validation
    for rec in result["records"]:
        assert rec["finish_reason"] in ("stop", "length") and 0 < rec["completion_tokens"] <= 12
    # the file's numbers are score_completions of the responses it records
    again = score_completions([rec["completion"] for rec in result["records"]], _rows())
    assert {k: result[k] for k in again} == again
    assert "format valid" in r.stdout and "by expert tool" in r.stdout

    before = out.stat().st_mtime_ns
    r = _cli("--model", tiny_model, "--dataset", data, "--split", "all", "--backend", "hf",
             "--max-new-tokens", "12", "--batch-size", "3", "--out", out)
    assert r.returncode == 0 and "up to date" in r.stderr
    assert out.stat().st_mtime_ns == before


def test_score_cli_bad_input_is_a_one_line_error(tmp_path):
    data = _save_dataset(tmp_path / "data")
    model = tmp_path / "not-a-model"
    model.mkdir()
    for args, expected in [
        (("--model", model, "--dataset", data), "neither a model (config.json) nor a LoRA adapter"),
        (("--model", data, "--dataset", tmp_path / "nowhere"), "nowhere: no such dataset folder"),
    ]:
        r = _cli(*args, "--out", tmp_path / "s.json", "--backend", "hf")
        assert r.returncode == 1, r.stderr
        assert r.stderr.strip().count("\n") == 0 and expected in r.stderr
    assert not (tmp_path / "s.json").exists()


@pytest.mark.model
def test_score_cli_unknown_split_names_the_splits(tiny_model, tmp_path):
    data = _save_dataset(tmp_path / "data")
    r = _cli("--model", tiny_model, "--dataset", data, "--split", "test", "--out", tmp_path / "s.json", "--backend", "hf")
    assert r.returncode == 1 and "--split 'test': expected one of validation, train, all" in r.stderr


@pytest.mark.vllm
@pytest.mark.model
def test_score_cli_with_vllm_on_smollm2(smollm2, tmp_path):
    """The real model through vLLM's CPU engine, all prompts in one call."""
    pytest.importorskip("vllm")
    data = _save_dataset(tmp_path / "data")
    out = tmp_path / "score-base.json"
    r = _cli("--model", smollm2.out, "--dataset", data, "--split", "all", "--backend", "vllm",
             "--max-new-tokens", "48", "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(out.read_text())
    assert (result["samples"], result["backend"], result["max_new_tokens"]) == (4, "vllm", 48)
    assert result["label"] == "smollm2-135m-instruct"  # a file named score*.json takes the model's name
    assert all(rec["completion"] and rec["finish_reason"] in ("stop", "length") for rec in result["records"])
    assert all(rec["prompt_tokens"] > 20 and rec["completion_tokens"] <= 48 for rec in result["records"])
    again = score_completions([rec["completion"] for rec in result["records"]], _rows())
    assert {k: result[k] for k in again} == again
    assert result["tokens_per_s"] > 0


@pytest.mark.vllm
@pytest.mark.model
@pytest.mark.slow
def test_a_killed_score_leaves_no_vllm_engine_process(tiny_model, tmp_path):
    """SIGKILL while the in-process vLLM engine is still starting: nothing can close it, and its
    processes (re-parented, still holding memory and cores) are ended by the policy's watcher."""
    import signal
    import time

    import psutil

    def engine_children(pid: int) -> set[int]:
        try:
            return {c.pid for c in psutil.Process(pid).children(recursive=True) if c.name().startswith("VLLM")}
        except psutil.Error:
            return set()

    data = _save_dataset(tmp_path / "data")
    proc = subprocess.Popen([sys.executable, "-m", "swe_srl", "score", "--model", str(tiny_model), "--dataset", str(data),
                             "--backend", "vllm", "--out", str(tmp_path / "s.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    try:
        started: set[int] = set()
        deadline = time.time() + 600
        while time.time() < deadline and not started:  # the engine core process exists: kill now
            assert proc.poll() is None, "score ended before its engine started"
            started = engine_children(proc.pid)
            time.sleep(0.2)
        assert started, "no vLLM engine process was started"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.time() + 40
    while time.time() < deadline and any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                         for p in started):
        time.sleep(0.5)
    alive = [p for p in started if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"vLLM engine processes left running: {alive}"
    assert not (tmp_path / "s.json").exists()
