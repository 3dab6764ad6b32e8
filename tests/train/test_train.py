"""Training on the tiny local model: SFT and SRL end to end through the CLI,
LoRA save/resume/load, dynamic sampling, and a real GRPO learning check."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml

from swe_srl.train.toy import save_toy_dataset as save_dataset
from swe_srl.train.toy import short_rows
from swe_srl.trajectories.models import Action

pytestmark = pytest.mark.model

# SFT warm start: the format plus four different actions, so the policy samples all of them.
MIX = ["ls", "git status", Action("str_replace_editor", {"command": "view", "path": "/testbed/setup.py"}),
       "python -m pytest -x -q tests/test_core.py"]
TARGET = "ls"  # the learnable fixed expert action for the GRPO check


def run_cli(args: list[str], catch: bool = False):
    from typer.testing import CliRunner

    from swe_srl.cli import app

    return CliRunner().invoke(app, args, catch_exceptions=catch)


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def datasets_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    save_dataset(root / "mix", short_rows(MIX, 32), short_rows(MIX, 4, prefix="v"))
    save_dataset(root / "target", short_rows([TARGET], 16), short_rows([TARGET], 4, prefix="v"))
    return root


@pytest.fixture(scope="session")
def sft_model(tiny_model, datasets_dir, tmp_path_factory) -> Path:
    """The SFT baseline, run through `swe-srl train` (full fine-tuning): the warm start of the GRPO tests."""
    out = tmp_path_factory.mktemp("sft") / "run"
    cfg = write_config(out.parent / "sft.yaml", {
        "method": "sft", "model": str(tiny_model), "dataset": str(datasets_dir / "mix"), "output_dir": str(out),
        "lora": None, "validation": {"every_steps": 120, "max_samples": 4, "max_new_tokens": 32},
        "learning_rate": 2e-3, "lr_scheduler_type": "constant", "per_device_train_batch_size": 8, "max_steps": 120,
        "logging_steps": 20, "save_strategy": "no", "use_cpu": True, "seed": 0, "disable_tqdm": True,
    })
    res = run_cli(["train", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert (out / "model" / "model.safetensors").exists() and (out / "model" / "tokenizer.json").exists()
    return out


def test_sft_baseline_learns_the_format(sft_model):
    recs = metrics(sft_model)
    losses = [r["loss"] for r in recs if "loss" in r]
    assert losses[-1] < losses[0] / 5
    val = [r for r in recs if "validation/similarity" in r]
    assert val and val[-1]["validation/format_failure_rate"] == 0.0 and val[-1]["validation/similarity"] > 0.5
    summary = json.loads((sft_model / "summary.json").read_text())
    assert summary["method"] == "sft" and summary["global_step"] == 120
    assert {Path(p).name for p in summary["plots"]} >= {"loss.png", "validation.png"}
    assert yaml.safe_load((sft_model / "config.yaml").read_text())["format"] == "swe-srl.train/v1"


@pytest.fixture(scope="session")
def lora_run(sft_model, datasets_dir, tmp_path_factory) -> Path:
    """SRL with LoRA through the CLI: 2 steps, a refused re-run, then --resume to step 3."""
    tmp_path = tmp_path_factory.mktemp("lora")
    out = tmp_path / "srl"
    cfg = write_config(tmp_path / "srl.yaml", {
        "method": "srl", "model": str(sft_model / "model"), "dataset": str(datasets_dir / "mix"), "output_dir": str(out),
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": "all-linear"},
        "srl": {"epsilon": 1e-6, "max_refill_rounds": 1},
        "validation": {"every_steps": 2, "max_samples": 4, "max_new_tokens": 32},
        "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 32, "learning_rate": 1e-4,
        "max_steps": 2, "save_steps": 2, "use_cpu": True, "seed": 0, "disable_tqdm": True,
    })
    res = run_cli(["train", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    # re-running over existing checkpoints without --resume is refused with one line
    from swe_srl.errors import ConfigError

    res = run_cli(["train", "--config", str(cfg), "max_steps=3"], catch=True)
    assert res.exit_code != 0 and isinstance(res.exception, ConfigError) and "--resume" in str(res.exception)
    with open(out / "metrics.jsonl", "a") as fh:  # as if the first run had logged step 3 and died before saving it
        fh.write(json.dumps({"step": 3, "reward": 99.0}) + "\n")
    res = run_cli(["train", "--config", str(cfg), "max_steps=3", "save_steps=1", "--resume"])
    assert res.exit_code == 0, res.output
    return out


def test_srl_lora_trains_saves_resumes_and_the_adapter_loads(lora_run, sft_model):
    out = lora_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["global_step"] == 3 and summary["resumed_from"].endswith("checkpoint-2")
    steps = [r["step"] for r in metrics(out) if "reward" in r]
    assert steps == [1, 2, 3]  # the resumed run continued at step 3 and appended
    assert all(r.get("reward") != 99.0 for r in metrics(out))  # records after the checkpoint were dropped
    recs = metrics(out)
    assert any("dynamic_sampling/drop_fraction" in r for r in recs)
    assert any("srl/format_failure_rate" in r for r in recs)
    assert any("validation/similarity" in r for r in recs)
    for name in ("reward.png", "dynamic_sampling.png", "format_failure.png", "validation.png"):
        assert (out / "plots" / name).stat().st_size > 1000
    adapter = out / "adapter"
    assert (adapter / "adapter_config.json").exists()

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(sft_model / "model")
    model = PeftModel.from_pretrained(base, adapter)
    assert any("lora_A" in n for n, _ in model.named_parameters())

    from swe_srl.policy import load_policy

    policy = load_policy(f"hf:{adapter}", max_tokens=24, temperature=0.0)
    out_text = policy.propose(short_rows([TARGET], 1)[0]["prompt"], n=1)
    assert len(out_text) == 1 and isinstance(out_text[0], str)


@pytest.mark.parametrize("method", ["sft", "srl"])
def test_training_can_start_from_a_lora_adapter(method, sft_model, datasets_dir, tmp_path):
    """`model:` may be an adapter folder (an SFT warm start's adapter/): training starts from the
    base with the adapter merged in (saved as start_model/). With learning_rate 0 the result is
    exactly that merge: a full model (sft, lora: null), or a new adapter whose base is start_model/."""
    import torch
    from transformers import AutoModelForCausalLM

    from swe_srl.models.tiny import random_lora_adapter

    base_dir = sft_model / "model"
    adapter = tmp_path / "warm" / "adapter"  # no tokenizer saved: the base's is used
    peft_model = random_lora_adapter(base_dir, adapter, rank=4, scale=0.05, seed=0)
    expected = {k: v.clone() for k, v in peft_model.merge_and_unload().state_dict().items()}

    out = tmp_path / "run"
    extra = ({"num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 16,
              "lora": {"r": 4, "lora_alpha": 8, "target_modules": "all-linear"}}
             if method == "srl" else {"per_device_train_batch_size": 8, "lora": None})
    cfg = write_config(tmp_path / "cfg.yaml", {
        "method": method, "model": str(adapter), "dataset": str(datasets_dir / "mix"), "output_dir": str(out),
        "validation": {"every_steps": 0}, "learning_rate": 0.0, "max_steps": 1,
        "save_strategy": "no", "use_cpu": True, "seed": 0, "disable_tqdm": True, **extra,
    })
    res = run_cli(["train", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    if method == "srl":
        from peft import PeftModel

        new_adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
        assert new_adapter["base_model_name_or_path"] == str(out / "start_model")
        trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(out / "start_model")),
                                            str(out / "adapter")).merge_and_unload().state_dict()
    else:
        trained = AutoModelForCausalLM.from_pretrained(str(out / "model")).state_dict()
    base = AutoModelForCausalLM.from_pretrained(str(base_dir)).state_dict()
    changed = [k for k in expected if not torch.equal(expected[k], base[k])]
    assert changed, "the adapter must change some weights for this test to mean anything"
    for k in expected:
        assert torch.allclose(trained[k], expected[k], atol=1e-6), k


def test_an_adapter_without_its_base_is_one_clear_error(datasets_dir, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp_path / "gone")}))
    cfg = write_config(tmp_path / "cfg.yaml", {"method": "sft", "model": str(adapter),
                                                "dataset": str(datasets_dir / "mix"), "output_dir": str(tmp_path / "o")})
    res = run_cli(["train", "--config", str(cfg)], catch=True)
    assert res.exit_code != 0 and "is not a local model directory" in str(res.exception or res.output)


@pytest.mark.vllm
@pytest.mark.slow
def test_trained_adapter_serves_with_the_vllm_policy(lora_run):
    from swe_srl.policy import load_policy

    policy = load_policy(f"vllm:{lora_run / 'adapter'}", max_tokens=24, temperature=0.0, max_model_len=1024)
    try:
        out = policy.propose(short_rows([TARGET], 1)[0]["prompt"], n=2)
    finally:
        policy.close()
    assert len(out) == 2 and all(isinstance(t, str) for t in out)


def _sampled_reward(model_dir: Path, n: int = 64, seed: int = 123) -> float:
    """Mean SRL reward of n temperature-1 samples for the target prompts (fixed seed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from swe_srl.rewards.reward import srl_reward

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    rows = short_rows([TARGET], 8)
    texts = [tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in rows]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(seed)
    completions = []
    with torch.no_grad():
        for _ in range(n // len(rows)):
            out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=32,
                                 pad_token_id=tok.pad_token_id)
            completions += tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    rewards = srl_reward(completions, [rows[0]["expert_action"]] * len(completions))
    return statistics.mean(rewards)


def test_grpo_learns_a_fixed_expert_action(sft_model, datasets_dir, tmp_path):
    """LEARNING: from the SFT warm start (which samples four actions), 30 seeded GRPO
    steps towards a fixed expert action raise the mean reward clearly."""
    from swe_srl.train.config import config_from_dict
    from swe_srl.train.runner import run_training

    out = tmp_path / "learn"
    cfg = config_from_dict({
        "method": "srl", "model": str(sft_model / "model"), "dataset": str(datasets_dir / "target"), "output_dir": str(out),
        "lora": None, "srl": {"epsilon": 1e-6, "max_refill_rounds": 1}, "validation": {"every_steps": 0},
        "num_generations": 8, "per_device_train_batch_size": 32, "max_completion_length": 32,
        "learning_rate": 5e-4, "lr_scheduler_type": "constant", "max_steps": 30, "save_strategy": "no",
        "use_cpu": True, "seed": 0, "disable_tqdm": True,
    })
    before = _sampled_reward(sft_model / "model")
    run_training(cfg)
    after = _sampled_reward(out / "model")
    rewards = [r["reward"] for r in metrics(out) if "reward" in r]
    first, last = statistics.mean(rewards[:6]), statistics.mean(rewards[-6:])
    print(f"sampled reward before {before:.3f} after {after:.3f}; train reward first6 {first:.3f} last6 {last:.3f}")
    assert after > before + 0.05
    assert last > first + 0.03


def test_dynamic_sampling_drops_exactly_the_zero_variance_groups(tiny_model, tmp_path):
    """A reward that is constant for some prompts: exactly those groups are dropped and refilled."""
    from swe_srl.train.config import config_from_dict
    from swe_srl.train.runner import run_training

    rows = short_rows(["ls"], 8)
    for i, r in enumerate(rows):
        r["trajectory_id"] = ("const" if i % 2 == 0 else "var") + f"-{i}"
    save_dataset(tmp_path / "data", rows, rows[:2])
    calls = []

    def reward(completions, trajectory_id, **kwargs):
        out = []
        for c, tid in zip(completions, trajectory_id):
            text = c[0]["content"] if isinstance(c, list) else c
            out.append(0.5 if tid.startswith("const") else (len(text) % 7) / 7.0)
        calls.append((list(trajectory_id), out))
        return out

    cfg = config_from_dict({
        "method": "srl", "model": str(tiny_model), "dataset": str(tmp_path / "data"), "output_dir": str(tmp_path / "run"),
        "lora": None, "srl": {"epsilon": 0.0, "max_refill_rounds": 3}, "validation": {"every_steps": 0},
        "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 16, "max_steps": 3,
        "save_strategy": "no", "use_cpu": True, "seed": 0, "disable_tqdm": True, "learning_rate": 1e-5,
    })
    summary, trainer = run_training(cfg, reward_funcs=[reward])
    history = trainer.dynamic_sampling_history
    assert len(history) == 3
    n_const_groups = n_dropped = 0
    for h in history:
        for rnd in h["rounds"]:
            for keep, rewards, rid in zip(rnd["keep"], rnd["rewards"], rnd["ids"]):
                const = rid.startswith("const")
                n_const_groups += const
                n_dropped += not keep
                assert keep == (len(set(rewards)) > 1), (rid, rewards)
                assert not (const and keep)
        assert h["dropped_total"] == sum(not k for rnd in h["rounds"] for k in rnd["keep"])
        chosen = h["chosen_ids_local"]
        assert len(chosen) == 2
        kept_var = [c for c in chosen if c.startswith("var")]
        assert len(kept_var) == 2 - h["unfilled"]
        assert h["refilled"] == sum(1 for r, g in h["chosen_local"] if r > 0 and h["rounds"][r]["keep"][g])
    assert n_const_groups > 0 and n_dropped >= n_const_groups
    # the reward function saw exactly the groups recorded (first batch + refills)
    assert sum(len(ids) for ids, _ in calls) == 4 * sum(len(rnd["keep"]) for h in history for rnd in h["rounds"])
    recs = [r for r in metrics(tmp_path / "run") if "dynamic_sampling/drop_fraction" in r]
    assert [r["dynamic_sampling/drop_fraction"] for r in recs] == [h["dropped_first"] / h["groups"] for h in history]
    assert summary["dynamic_sampling"]["groups_dropped_total"] == sum(h["dropped_total"] for h in history)


@pytest.mark.parametrize("signal_at", [None, 1])
def test_srl_stops_after_steps_without_learning_signal(signal_at, tiny_model, tmp_path):
    """Every reward equal (a model that never follows the format): dynamic sampling keeps no group,
    the gradient is zero, and srl.stop_without_signal_steps ends the run; one step with signal
    resets the count."""
    from swe_srl.train.config import config_from_dict
    from swe_srl.train.runner import run_training

    rows = short_rows(["ls"], 8)
    save_dataset(tmp_path / "data", rows, rows[:2])
    steps = []

    def reward(completions, trainer_state=None, **kwargs):
        step = int(trainer_state.global_step) if trainer_state is not None else len(steps)
        steps.append(step)
        if step == signal_at:
            return [float(i % 2) for i in range(len(completions))]  # spread within every group
        return [-1.0] * len(completions)

    cfg = config_from_dict({
        "method": "srl", "model": str(tiny_model), "dataset": str(tmp_path / "data"), "output_dir": str(tmp_path / "run"),
        "lora": None, "srl": {"max_refill_rounds": 0, "stop_without_signal_steps": 2}, "validation": {"every_steps": 0},
        "num_generations": 2, "per_device_train_batch_size": 2, "max_completion_length": 8, "max_steps": 6,
        "save_strategy": "no", "use_cpu": True, "seed": 0, "disable_tqdm": True, "learning_rate": 1e-5,
    })
    summary, trainer = run_training(cfg, reward_funcs=[reward])
    expected = 2 if signal_at is None else 4  # quiet 0,1 -> stop; or quiet 0, signal 1, quiet 2,3 -> stop
    assert summary["global_step"] == expected
    assert summary["stopped_early"] and "no learning signal for 2 consecutive steps" in summary["stopped_early"]
    assert summary["dynamic_sampling"]["groups_unfilled"] == expected - (signal_at is not None)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["stopped_early"] == summary["stopped_early"]


def test_select_groups_uses_population_std_and_epsilon():
    import torch

    from swe_srl.train.grpo import select_groups

    r = torch.tensor([0.3] * 4 + [0.0, 0.0, 0.0, 0.1] + [1.0, -1.0, 1.0, -1.0])
    assert select_groups(r, 4, 0.0).tolist() == [False, True, True]
    # population std of [0, 0, 0, .1] is 0.0433 (sample std would be 0.05)
    assert select_groups(r, 4, 0.045).tolist() == [False, False, True]
    assert select_groups(r, 4, 0.04).tolist() == [False, True, True]


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(sft_model, datasets_dir, tmp_path):
    """The distributed path: 2 processes (torch.distributed, gloo on CPU) through `accelerate launch`.

    `accelerate launch --cpu` alone starts independent single-process copies; `--multi_gpu` makes it use
    torchrun, and `use_cpu: true` in the config puts the process group on CPU (gloo)."""
    import os
    import subprocess
    import sys

    out = tmp_path / "dist"
    cfg = write_config(tmp_path / "dist.yaml", {
        "method": "srl", "model": str(sft_model / "model"), "dataset": str(datasets_dir / "mix"), "output_dir": str(out),
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": "all-linear"},
        "srl": {"epsilon": 1e-6, "max_refill_rounds": 2},
        "validation": {"every_steps": 2, "max_samples": 3, "max_new_tokens": 24},  # 3 rows over 2 ranks: uneven on purpose
        "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 24, "learning_rate": 1e-4,
        "max_steps": 2, "save_steps": 2, "use_cpu": True, "seed": 0, "disable_tqdm": True,
    })
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "swe_srl", "train", "--config", str(cfg)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["global_step"] == 2
    assert summary["dynamic_sampling"]["generation_batches"] == 2
    assert (out / "adapter" / "adapter_config.json").exists()
    assert any(r.get("validation/samples") == 3.0 for r in metrics(out))  # gathered from both ranks


def test_filler_groups_get_zero_advantage(tiny_model, tmp_path):
    """When refills run out, dropped groups fill the batch with zero advantage (no gradient),
    even when epsilon > 0 lets them have a small spread that normalisation would blow up."""
    from swe_srl.train.config import config_from_dict
    from swe_srl.train.runner import run_training

    rows = short_rows(["ls"], 4)
    save_dataset(tmp_path / "data", rows, rows[:1])
    seen = {}

    def tiny_spread(completions, **kwargs):  # std ~1e-3 < epsilon: every group is dropped
        return [0.5 + 1e-3 * (i % 2) for i in range(len(completions))]

    cfg = config_from_dict({
        "method": "srl", "model": str(tiny_model), "dataset": str(tmp_path / "data"), "output_dir": str(tmp_path / "run"),
        "lora": None, "srl": {"epsilon": 0.01, "max_refill_rounds": 1}, "validation": {"every_steps": 0},
        "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 8, "max_steps": 1,
        "save_strategy": "no", "use_cpu": True, "seed": 0, "disable_tqdm": True,
    })
    from swe_srl.train import grpo

    original = grpo.SRLGRPOTrainer._merge

    def spy(self, rounds, chosen, fillers):
        out = original(self, rounds, chosen, fillers)
        seen["adv"] = out["advantages"].clone()
        seen["raw"] = rounds[0][0]["advantages"].clone()
        return out

    grpo.SRLGRPOTrainer._merge = spy
    try:
        summary, trainer = run_training(cfg, reward_funcs=[tiny_spread])
    finally:
        grpo.SRLGRPOTrainer._merge = original
    h = trainer.dynamic_sampling_history[0]
    assert h["unfilled"] == 2 and h["dropped_total"] == 4
    assert seen["raw"].abs().max() > 0.5  # TRL's normalisation turned a 1e-3 spread into ~0.74
    assert seen["adv"].abs().max() == 0.0


@pytest.mark.vllm
@pytest.mark.slow
def test_srl_with_vllm_rollouts_learns_from_the_served_adapter(sft_model, datasets_dir, tmp_path):
    """``rollout.backend: vllm``: rollouts and validation come from a vLLM engine that serves the
    current LoRA adapter each step (CPU), and the policy still learns the fixed expert action."""
    from swe_srl.train.config import config_from_dict
    from swe_srl.train.runner import run_training

    out = tmp_path / "vllm"
    cfg = config_from_dict({
        "method": "srl", "model": str(sft_model / "model"), "dataset": str(datasets_dir / "target"), "output_dir": str(out),
        "lora": {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"},
        "srl": {"epsilon": 1e-6, "max_refill_rounds": 1}, "validation": {"every_steps": 10, "max_samples": 4, "max_new_tokens": 32},
        "rollout": {"backend": "vllm", "max_model_len": 1024},
        "num_generations": 8, "per_device_train_batch_size": 32, "max_completion_length": 32,
        "learning_rate": 3e-3, "lr_scheduler_type": "constant", "max_steps": 20, "save_strategy": "no",
        "use_cpu": True, "seed": 0, "disable_tqdm": True,
    })
    summary, _ = run_training(cfg)
    assert summary["rollout"]["backend"] == "vllm"
    assert summary["rollout"]["calls"] >= 20 + 2  # one call per generation batch, plus validation at steps 0 and 20
    # one adapter folder per optimizer step was served; only the last few are kept on disk
    kept = sorted(p.name for p in (out / "rollout_adapters").iterdir())
    assert kept and all(name.startswith("step-") for name in kept) and len(kept) <= 2
    rewards = [r["reward"] for r in metrics(out) if "reward" in r]
    first, last = statistics.mean(rewards[:5]), statistics.mean(rewards[-5:])
    print(f"vllm rollouts: train reward first5 {first:.3f} last5 {last:.3f}; validation {summary['validation']}")
    assert last > first + 0.03
    val = summary["validation"]
    assert [v["step"] for v in val] == [0, 10, 20]


def _engine_children(pid: int) -> set[int]:
    """The vLLM engine processes below ``pid`` (not other runs' engines on this machine)."""
    import psutil

    try:
        return {c.pid for c in psutil.Process(pid).children(recursive=True) if c.name().startswith("VLLM")}
    except psutil.Error:
        return set()


def _alive(pids: set[int]) -> set[int]:
    import psutil

    out = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.add(pid)
        except psutil.Error:
            continue
    return out


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_stopping_vllm_training_leaves_no_engine_process(sig, tiny_model, datasets_dir, tmp_path):
    """Stopping `swe-srl train` while the vLLM engine is up ends the engine's processes too: on
    SIGTERM the run closes it; on SIGKILL a watcher process ends it."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cfg = write_config(tmp_path / "srl.yaml", {
        "method": "srl", "model": str(tiny_model), "dataset": str(datasets_dir / "mix"), "output_dir": str(out),
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": "all-linear"}, "rollout": {"backend": "vllm", "max_model_len": 1024},
        "validation": {"every_steps": 0}, "num_generations": 4, "per_device_train_batch_size": 8,
        "max_completion_length": 16, "max_steps": 10_000, "save_strategy": "no", "use_cpu": True, "disable_tqdm": True,
    })
    proc = subprocess.Popen([sys.executable, "-m", "swe_srl", "train", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and not (out / "rollout_adapters").is_dir():  # the engine serves step 0
            assert proc.poll() is None, "training ended before its engine started"
            time.sleep(1)
        started = _engine_children(proc.pid)
        assert started, "no vLLM engine process was running"
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.time() + 30
    while time.time() < deadline and _alive(started):
        time.sleep(0.5)
    assert not _alive(started)
    assert proc.returncode == (143 if sig == "SIGTERM" else -9)
