"""`swe-srl dataset`: step-wise rows, prompts, filters, token budget, split by trajectory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from swe_srl.data import SYSTEM_PROMPT, build_prompt
from swe_srl.data.build import DatasetConfig, build_dataset, split_trajectories
from swe_srl.data.prompts import PromptConfig
from swe_srl.errors import SweSrlError
from swe_srl.io import write_jsonl
from swe_srl.trajectories import Action, Step, Trajectory


def _traj(i: int, n_steps: int = 5, *, obs_len: int = 50, outcome: str = "unknown", submit: bool = True,
          format_error_at: int | None = None, problem: str | None = None) -> Trajectory:
    steps = []
    for j in range(n_steps):
        steps.append(Step(
            Action("bash", {"command": f"cat file_{i}_{j}.py"}),
            thought=f"thought {i}.{j}",
            observation=(f"OBS-{i}-{j}|" + "x" * obs_len),
        ))
    if format_error_at is not None:
        steps[format_error_at].meta["format_error"] = True
        steps[format_error_at].observation = "Please always provide EXACTLY ONE action"
    if submit:
        steps.append(Step(Action("submit", {}), thought="done"))
    return Trajectory(id=f"traj-{i}", source_format="swe-agent", instance_id=f"o__r-{i}",
                      problem_statement=problem if problem is not None else f"Issue {i}: fix the bug.",
                      steps=steps, outcome=outcome)  # type: ignore[arg-type]


def _write(path: Path, trajs: list[Trajectory]) -> Path:
    write_jsonl(path, [t.to_dict() for t in trajs])
    return path


def _load(out: Path):
    import datasets

    return datasets.load_from_disk(str(out))


# -- prompts --------------------------------------------------------------------------------------

def test_system_prompt_states_format_and_tools():
    for needle in ("<think>", "</think>", "<function=", "ONE", "bash", "str_replace_editor", "submit",
                   "view", "create", "str_replace", "insert", "undo_edit", "insert_line", "view_range", "old_str"):
        assert needle in SYSTEM_PROMPT, needle


def test_build_prompt_shows_only_last_rounds_and_cuts_observations():
    t = _traj(0, n_steps=5, obs_len=10_000)
    msgs = build_prompt(t.problem_statement, t.steps[:4], context_steps=2, max_observation_chars=1000)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "Issue 0: fix the bug." in user
    assert "OBS-0-2" in user and "OBS-0-3" in user
    assert "OBS-0-1" not in user and "cat file_0_1.py" not in user
    assert t.steps[3].action.render() in user
    assert "characters elided" in user
    assert len(user) < 2 * 1000 + 2000
    # no history; zero context steps
    assert "No actions" in build_prompt("p", [])[1]["content"]
    zero = build_prompt("p", t.steps[:3], context_steps=0)[1]["content"]
    assert "OBS-0" not in zero and "3 actions" in zero


# -- srl / sft builds -----------------------------------------------------------------------------

def test_srl_rows_one_per_expert_step(tmp_path):
    src = _write(tmp_path / "t.jsonl", [_traj(i) for i in range(6)])
    stats = build_dataset(src, tmp_path / "ds", DatasetConfig(kind="srl", val_fraction=0.0))
    dd = _load(tmp_path / "ds")
    train = dd["train"]
    assert len(train) == 6 * 6 == stats["rows"]["total"] and len(dd["validation"]) == 0
    assert {"prompt", "expert_action", "expert_thought", "trajectory_id", "step_index", "num_steps", "tool"} <= set(train.column_names)
    row = next(r for r in train if r["trajectory_id"] == "traj-2" and r["step_index"] == 3)
    assert row["expert_action"] == Action("bash", {"command": "cat file_2_3.py"}).render()
    assert row["expert_thought"] == "thought 2.3" and row["num_steps"] == 6 and row["tool"] == "bash"
    user = row["prompt"][1]["content"]
    # --context-steps 2: steps 1 and 2 shown, step 0 not
    assert "OBS-2-1" in user and "OBS-2-2" in user and "OBS-2-0" not in user
    assert row["prompt"][0]["content"] == SYSTEM_PROMPT
    last = next(r for r in train if r["trajectory_id"] == "traj-2" and r["step_index"] == 5)
    assert last["expert_action"] == "<function=submit>\n</function>" and last["tool"] == "submit"
    assert stats["actions_by_tool"] == {"bash": 30, "submit": 6}
    assert (tmp_path / "ds" / "train.parquet").is_file() and (tmp_path / "ds" / "validation.parquet").is_file()
    on_disk = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert on_disk["rows"]["total"] == 36 and on_disk["prompt_chars"]["max"] >= on_disk["prompt_chars"]["p50"] > 0
    assert on_disk["version"] and on_disk["format"] == "swe-srl.dataset/v1"


def test_context_steps_option(tmp_path):
    src = _write(tmp_path / "t.jsonl", [_traj(0, n_steps=6)])
    build_dataset(src, tmp_path / "ds", DatasetConfig(prompt=PromptConfig(context_steps=4), val_fraction=0.0))
    row = next(r for r in _load(tmp_path / "ds")["train"] if r["step_index"] == 5)
    user = row["prompt"][1]["content"]
    assert all(f"OBS-0-{j}" in user for j in (1, 2, 3, 4)) and "OBS-0-0" not in user


def test_sft_rows_are_prompt_completion(tmp_path):
    src = _write(tmp_path / "t.jsonl", [_traj(i) for i in range(3)])
    build_dataset(src, tmp_path / "sft", DatasetConfig(kind="sft", val_fraction=0.0))
    train = _load(tmp_path / "sft")["train"]
    assert "completion" in train.column_names and "expert_action" not in train.column_names
    row = next(r for r in train if r["trajectory_id"] == "traj-1" and r["step_index"] == 0)
    assert row["completion"] == [{"role": "assistant", "content": "<think>thought 1.0</think>\n"
                                  + Action("bash", {"command": "cat file_1_0.py"}).render()}]
    assert row["prompt"][1]["role"] == "user"


# -- filters --------------------------------------------------------------------------------------

def test_format_errors_dropped_by_default_and_kept_on_request(tmp_path):
    src = _write(tmp_path / "t.jsonl", [_traj(0, n_steps=5, format_error_at=2)])
    stats = build_dataset(src, tmp_path / "a", DatasetConfig(val_fraction=0.0))
    assert stats["rows"]["total"] == 5 and stats["filters"]["format_error_steps"] == 1
    rows = list(_load(tmp_path / "a")["train"])
    assert all("EXACTLY ONE" not in r["prompt"][1]["content"] for r in rows)
    assert all("file_0_2" not in r["expert_action"] for r in rows)
    stats = build_dataset(src, tmp_path / "b", DatasetConfig(val_fraction=0.0, drop_format_errors=False))
    assert stats["rows"]["total"] == 6 and stats["filters"]["format_error_steps"] == 0


def test_only_resolved_and_only_submitted(tmp_path):
    trajs = [_traj(0, outcome="resolved"), _traj(1, outcome="unresolved"), _traj(2, submit=False, outcome="resolved")]
    src = _write(tmp_path / "t.jsonl", trajs)
    s = build_dataset(src, tmp_path / "r", DatasetConfig(only_resolved=True, val_fraction=0.0))
    assert s["trajectories"]["total"] == 2 and s["filters"]["not_resolved"] == 1
    s = build_dataset(src, tmp_path / "s", DatasetConfig(only_submitted=True, val_fraction=0.0))
    assert set(_load(tmp_path / "s")["train"]["trajectory_id"]) == {"traj-0", "traj-1"}
    assert s["filters"]["not_submitted"] == 1


def test_dedupe_identical_prompt_action_rows(tmp_path):
    # Two copies of one run under different ids: every row is a duplicate.
    a, b = _traj(7), _traj(7)
    b.id = "copy"
    src = _write(tmp_path / "t.jsonl", [a, b])
    s = build_dataset(src, tmp_path / "d", DatasetConfig(val_fraction=0.0))
    assert s["rows"]["total"] == 6 and s["filters"]["duplicates"] == 6
    s = build_dataset(src, tmp_path / "n", DatasetConfig(val_fraction=0.0, dedupe=False))
    assert s["rows"]["total"] == 12 and s["filters"]["duplicates"] == 0


# -- split ----------------------------------------------------------------------------------------

def test_split_by_trajectory_seeded(tmp_path):
    src = _write(tmp_path / "t.jsonl", [_traj(i, n_steps=3) for i in range(20)])
    s1 = build_dataset(src, tmp_path / "s1", DatasetConfig(val_fraction=0.25, seed=3))
    dd = _load(tmp_path / "s1")
    train_ids, val_ids = set(dd["train"]["trajectory_id"]), set(dd["validation"]["trajectory_id"])
    assert len(val_ids) == 5 and len(train_ids) == 15 and not train_ids & val_ids
    assert s1["trajectories"] == {"total": 20, "train": 15, "validation": 5}
    # every row of a trajectory is in the same split
    assert len(dd["validation"]) == 5 * 4
    build_dataset(src, tmp_path / "s2", DatasetConfig(val_fraction=0.25, seed=3))
    assert set(_load(tmp_path / "s2")["validation"]["trajectory_id"]) == val_ids
    assert (tmp_path / "s1" / "validation.parquet").read_bytes() == (tmp_path / "s2" / "validation.parquet").read_bytes()
    # another seed gives another split (of the 15504 possible ones)
    assert split_trajectories([f"traj-{i}" for i in range(20)], 0.25, 4) != val_ids
    assert split_trajectories(["a"], 0.5, 0) == set()
    assert len(split_trajectories(["a", "b"], 0.01, 0)) == 1


# -- token budget ---------------------------------------------------------------------------------

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    """A small byte-level BPE tokenizer with a ChatML template, trained here."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([SYSTEM_PROMPT, "OBS-1-2|xxxxxxxx cat file_1_2.py Issue fix the bug"] * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>")
    fast.chat_template = CHATML
    out = tmp_path_factory.mktemp("tok")
    fast.save_pretrained(str(out))
    return out


def test_token_budget_drops_oldest_rounds_then_shrinks_observations(tmp_path, tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))

    def n_tokens(prompt):
        return len(tok(tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True), add_special_tokens=False)["input_ids"])

    trajs = [_traj(i, n_steps=6, obs_len=3000) for i in range(2)]
    src = _write(tmp_path / "t.jsonl", trajs)
    untouched = n_tokens(build_prompt(trajs[0].problem_statement, trajs[0].steps[:4]))
    system_only = n_tokens(build_prompt(trajs[0].problem_statement, []))
    budget = system_only + (untouched - system_only) // 3
    s = build_dataset(src, tmp_path / "b", DatasetConfig(prompt=PromptConfig(max_prompt_tokens=budget), tokenizer=str(tokenizer_dir),
                                                             val_fraction=0.0))
    rows = list(_load(tmp_path / "b")["train"])
    assert len(rows) == 14 and s["filters"]["over_token_budget"] == 0
    for r in rows:
        assert r["prompt_tokens"] == n_tokens(r["prompt"]) <= budget
    r = next(r for r in rows if r["trajectory_id"] == "traj-0" and r["step_index"] == 4)
    cut = r["truncation"]
    assert cut["rounds_dropped"] >= 1 and cut["rounds_shown"] == 1
    user = r["prompt"][1]["content"]
    assert "OBS-0-3" in user and "OBS-0-2" not in user  # the oldest round went first
    if cut["observations_cut"]:
        assert cut["observation_chars"] < 4000 and "characters elided" in user
    assert s["prompt_tokens"]["max"] <= budget
    # without a budget nothing is cut
    build_dataset(src, tmp_path / "nb", DatasetConfig(val_fraction=0.0))
    r0 = next(r for r in _load(tmp_path / "nb")["train"] if r["trajectory_id"] == "traj-0" and r["step_index"] == 4)
    assert r0["truncation"]["rounds_dropped"] == 0 and "OBS-0-2" in r0["prompt"][1]["content"]


def test_token_budget_too_small_drops_rows(tmp_path, tokenizer_dir):
    src = _write(tmp_path / "t.jsonl", [_traj(0, n_steps=2)] + [_traj(1, n_steps=2, problem="word " * 10)])
    with pytest.raises(SweSrlError, match="filtered out"):
        build_dataset(src, tmp_path / "x", DatasetConfig(prompt=PromptConfig(max_prompt_tokens=5), tokenizer=str(tokenizer_dir)))
    assert not (tmp_path / "x").exists()


# -- bad input, CLI ---------------------------------------------------------------------------------

def test_bad_lines_counted_and_config_errors(tmp_path):
    src = tmp_path / "t.jsonl"
    good = json.dumps(_traj(0).to_dict())
    src.write_text(good + "\n{not json\n" + json.dumps({"id": "x", "steps": "oops"}) + "\n[1, 2]\n")
    s = build_dataset(src, tmp_path / "ds", DatasetConfig(val_fraction=0.0))
    assert s["filters"]["bad_lines"] == 3 and s["rows"]["total"] == 6
    assert any(":2: invalid JSON" in r for r in s["filters"]["bad_line_reasons"])
    with pytest.raises(SweSrlError, match="needs --tokenizer"):
        build_dataset(src, tmp_path / "e", DatasetConfig(prompt=PromptConfig(max_prompt_tokens=100)))
    with pytest.raises(SweSrlError, match="no such file"):
        build_dataset(tmp_path / "missing.jsonl", tmp_path / "e")


def test_cli_dataset_end_to_end_and_rerun(tmp_path):
    src = _write(tmp_path / "t.jsonl", [_traj(i, n_steps=2) for i in range(10)])
    cmd = [sys.executable, "-m", "swe_srl", "dataset", str(src), "--out", str(tmp_path / "ds"), "--kind", "sft",
           "--val-fraction", "0.2", "--seed", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "rows" in p.stdout and "Traceback" not in p.stderr
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert stats["rows"] == {"total": 30, "train": 24, "validation": 6}
    assert stats["command"]["argv"][:2] == ["swe-srl", "dataset"]
    first = (tmp_path / "ds" / "train.parquet").read_bytes()
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
    assert (tmp_path / "ds" / "train.parquet").read_bytes() == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left
    bad = tmp_path / "bad.jsonl"
    bad.write_text("garbage\n")
    p = subprocess.run([sys.executable, "-m", "swe_srl", "dataset", str(bad), "--out", str(tmp_path / "b")],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "Traceback" not in p.stderr and "no canonical trajectory" in p.stderr


def test_fit_prompt_counts_exactly_with_the_dataset_tokenizer(tokenizer_dir):
    """Every count is exact (no per-piece estimate), so the agent, counting with its
    own policy, builds the same prompt; the cuts are the oldest rounds first."""
    from swe_srl.data.build import TokenCounter
    from swe_srl.data.prompts import fit_prompt

    counter = TokenCounter(tokenizer_dir)
    t = _traj(3, n_steps=8, obs_len=2500)
    full = counter(build_prompt(t.problem_statement, t.steps[:8], context_steps=4))
    shown = []
    for budget in (full // 4, full // 2, (3 * full) // 4, full):
        fitted = fit_prompt(t.problem_statement, t.steps[:8], PromptConfig(context_steps=4, max_prompt_tokens=budget),
                            counter)
        assert fitted.fits and fitted.tokens == counter(fitted.prompt) <= budget
        shown.append(fitted.truncation["rounds_shown"])
        # the largest number of rounds that fits (untruncated observations) is the one kept
        k = fitted.truncation["rounds_shown"]
        if fitted.truncation["observations_cut"] == 0 and k < 4:
            assert counter(build_prompt(t.problem_statement, t.steps[:8], context_steps=k + 1)) > budget
    assert shown == sorted(shown) and shown[-1] == 4


def test_stats_record_the_prompt_config(tmp_path):
    from swe_srl.data.prompts import prompt_config_for_model, prompt_config_from_stats

    src = _write(tmp_path / "t.jsonl", [_traj(0, n_steps=3)])
    cfg = PromptConfig(context_steps=3, max_observation_chars=1234, thoughts="show")
    stats = build_dataset(src, tmp_path / "ds", DatasetConfig(prompt=cfg, val_fraction=0.0))
    assert stats["prompt_config"] == cfg.to_dict()
    assert "context_steps" not in stats["config"]  # stated once: the prompt's settings live in prompt_config
    on_disk = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert prompt_config_from_stats(on_disk, "stats.json") == cfg
    # a dataset folder is found directly
    assert prompt_config_for_model(tmp_path / "ds") == (cfg, str(tmp_path / "ds" / "stats.json"))
    # "show" puts the expert's thoughts in the rounds
    row = next(r for r in _load(tmp_path / "ds")["train"] if r["step_index"] == 2)
    assert "<thought>\nthought 0.1\n</thought>" in row["prompt"][1]["content"]


def test_prompt_config_for_model_finds_the_training_record(tmp_path):
    from swe_srl.data.prompts import DEFAULT_PROMPT_CONFIG, prompt_config_for_model
    from swe_srl.errors import ConfigError

    data = tmp_path / "data" / "srl"
    src = _write(tmp_path / "t.jsonl", [_traj(0, n_steps=2)])
    trained = PromptConfig(context_steps=1, max_observation_chars=999)
    build_dataset(src, data, DatasetConfig(prompt=trained, val_fraction=0.0))
    out = tmp_path / "runs" / "srl"
    (out / "adapter").mkdir(parents=True)
    (out / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    # the training config names the dataset (as written, relative to where training ran: here absolute)
    (out / "config.yaml").write_text(f"method: srl\ndataset: {data}\n")
    for where in (out / "adapter", out, out / "checkpoints" / "checkpoint-4"):
        cfg, source = prompt_config_for_model(where)
        assert cfg == trained and source.startswith(str(data / "stats.json")), (where, source)
    # prompt_config.json, written by training, comes first
    (out / "prompt_config.json").write_text(json.dumps({"context_steps": 3, "source": str(data / "stats.json")}))
    cfg, source = prompt_config_for_model(out / "adapter")
    assert cfg == PromptConfig(context_steps=3) and source == f"{out / 'prompt_config.json'} (from {data / 'stats.json'})"
    # a bad record is a one-line error naming the file and the field
    (out / "prompt_config.json").write_text(json.dumps({"context_steps": -1}))
    with pytest.raises(ConfigError, match=r"prompt_config.json: context_steps: Input should be greater"):
        prompt_config_for_model(out / "adapter")
    # nothing recorded: the defaults, and the source says so
    (tmp_path / "bare").mkdir()
    cfg, source = prompt_config_for_model(tmp_path / "bare")
    assert cfg == DEFAULT_PROMPT_CONFIG and source.startswith("defaults")
    # datasets written before stats.json had prompt_config: read from config
    legacy = {"config": {"kind": "srl", "context_steps": 4, "max_observation_chars": 500, "max_prompt_tokens": None}}
    from swe_srl.data.prompts import prompt_config_from_stats
    assert prompt_config_from_stats(legacy, "old") == PromptConfig(context_steps=4, max_observation_chars=500)


def test_prompt_config_rejects_unknown_keys_and_bad_orders():
    from swe_srl.errors import ConfigError

    with pytest.raises(ConfigError, match="x: context_step: unknown key; valid: context_steps"):
        PromptConfig.from_dict({"context_step": 1}, "x")
    with pytest.raises(ConfigError, match="truncation_order"):
        PromptConfig.from_dict({"truncation_order": ["task", "task"]}, "x")
    assert PromptConfig.model_fields["context_steps"].description  # documented fields
