import hashlib
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.model


def test_init_tiny_cli_builds_a_generating_chat_model(tmp_path):
    out = tmp_path / "tiny"
    subprocess.run([sys.executable, "-m", "swe_srl", "model", "init-tiny", "--out", str(out)], check=True, capture_output=True)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["hidden_size"] // cfg["num_attention_heads"] == 64  # vLLM CPU kernels accept 32/64/128

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    msgs = [{"role": "user", "content": "fix the bug"}]
    enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert tok.decode(enc["input_ids"][0]).endswith("<|im_start|>assistant\n")
    torch.manual_seed(0)
    gen = model.generate(**enc, max_new_tokens=8, do_sample=True)
    assert gen.shape[1] > enc["input_ids"].shape[1]
    # the action syntax is tokenised into whole pieces
    assert tok.tokenize("<think>")[0] == "<think>" and tok.tokenize("<function=")[0] == "<function="


def test_tiny_model_build_is_deterministic(tmp_path):
    from swe_srl.models.tiny import build_tiny_model

    a = build_tiny_model(tmp_path / "a", seed=3)
    b = build_tiny_model(tmp_path / "b", seed=3)
    digest = lambda p: hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()  # noqa: E731
    assert digest(a) == digest(b)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
