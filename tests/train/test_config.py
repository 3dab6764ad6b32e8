"""Training config: YAML + key=value overrides, validated with one-line errors."""

from __future__ import annotations

import pytest

from swe_srl.errors import ConfigError
from swe_srl.train.config import load_config, parse_override

BASE = """\
method: srl
model: m
dataset: d
output_dir: o
lora: {r: 4, lora_alpha: 8}
srl: {epsilon: 0.001}
learning_rate: 5e-7
num_generations: 4
"""


def write(tmp_path, text=BASE):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_yaml_and_overrides(tmp_path):
    cfg = load_config(write(tmp_path), ["srl.max_refill_rounds=7", "lora.r=16", "max_steps=3", "report_to=[tensorboard]"])
    assert cfg.method == "srl" and cfg.srl.epsilon == 0.001 and cfg.srl.max_refill_rounds == 7
    assert cfg.lora == {"r": 16, "lora_alpha": 8}
    assert cfg.trainer["learning_rate"] == 5e-7  # YAML 1.1 would read "5e-7" as a string
    assert cfg.trainer["max_steps"] == 3 and cfg.trainer["report_to"] == ["tensorboard"]
    # paper defaults where the file is silent
    assert cfg.trainer["beta"] == 0.0 and cfg.trainer["temperature"] == 1.0 and cfg.trainer["num_generations"] == 4
    args = cfg.build_trainer_args(use_cpu=True)
    assert type(args).__name__ == "GRPOConfig" and args.learning_rate == 5e-7 and args.num_generations == 4
    assert cfg.lora_config().r == 16
    assert load_config(write(tmp_path), ["lora=null", "srl.epsilon=null"]).lora is None


def test_sft_method_uses_sftconfig_fields(tmp_path):
    cfg = load_config(write(tmp_path, BASE.replace("num_generations: 4", "max_length: 128")), ["method=sft"])
    assert cfg.build_trainer_args(use_cpu=True).max_length == 128
    with pytest.raises(ConfigError, match="num_generations: unknown key .*SFTConfig"):
        load_config(write(tmp_path), ["method=sft"])


@pytest.mark.parametrize("override, pattern", [
    (["learning_rat=1e-5"], r"learning_rat: unknown key .*did you mean learning_rate"),
    (["srl.epsilonn=1"], r"srl.epsilonn: unknown key"),
    (["lora.rank=4"], r"lora.rank: unknown key \(not a peft LoraConfig field\)"),
    (["max_steps=abc"], r"max_steps: expected an integer"),
    (["method=ppo"], r"method: expected one of srl, sft"),
    (["srl.similarity=cosine"], r"srl.similarity: expected one of"),
    (["model="], r"model: required"),
    (["nonsense"], r"expected KEY=VALUE"),
])
def test_bad_keys_are_one_line_errors_naming_the_key(tmp_path, override, pattern):
    with pytest.raises(ConfigError, match=pattern) as e:
        load_config(write(tmp_path), override)
    assert "\n" not in str(e.value)


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:2: invalid YAML"):
        load_config(write(tmp_path, "method: srl\n  bad: [\n"))
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "none.yaml")


def test_trl_validation_errors_become_config_errors(tmp_path):
    cfg = load_config(write(tmp_path), ["per_device_train_batch_size=3"])  # 3 rows is not whole groups of 4
    with pytest.raises(ConfigError, match="invalid GRPOConfig"):
        cfg.build_trainer_args(use_cpu=True)


def test_parse_override_values():
    assert parse_override("a.b=1e-3") == (["a", "b"], 0.001)
    assert parse_override("x=[a, b]") == (["x"], ["a", "b"])
    assert parse_override("x=true") == (["x"], True)
    # YAML 1.2 booleans: TRL's string options keep their words
    assert parse_override("save_strategy=no") == (["save_strategy"], "no")
    assert parse_override("x=off") == (["x"], "off")


def test_save_strategy_no_on_the_command_line():
    cfg = load_config(None, ["method=sft", "model=m", "dataset=d", "output_dir=o", "save_strategy=no"])
    assert cfg.trainer["save_strategy"] == "no"


def test_example_configs_are_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    names = sorted(p.name for p in root.glob("*.yaml"))
    assert {"srl_tiny_cpu.yaml", "sft_tiny_cpu.yaml", "srl_qwen7b_gpu.yaml", "sft_qwen7b_gpu.yaml"} <= set(names)
    for p in root.glob("*.yaml"):
        cfg = load_config(p)
        assert cfg.method in ("srl", "sft")
    big = load_config(root / "srl_qwen7b_gpu.yaml")
    t = big.trainer
    assert t["num_generations"] == 8 and t["temperature"] == 1.0 and t["learning_rate"] == 5e-7 and t["beta"] == 0.0
    assert t["use_vllm"] is True and t["vllm_mode"] == "colocate"
