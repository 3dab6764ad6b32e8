"""`swe-srl model merge`: a LoRA adapter merged into its base gives the adapter's logits as a
plain model folder (with its tokenizer); re-running is a no-op, a retrained adapter is merged
again, and a folder that is not an adapter is a one-line error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.model]


def _adapter(base: Path, out: Path, seed: int) -> Path:
    from swe_srl.models.tiny import random_lora_adapter

    random_lora_adapter(base, out, rank=4, scale=0.05, seed=seed)
    return out


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(ids).logits


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swe_srl", *map(str, args)], capture_output=True, text=True)


def test_merged_model_gives_the_adapters_logits_and_reruns_are_no_ops(tiny_model, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = _adapter(tiny_model, tmp_path / "adapter", seed=0)
    out = tmp_path / "merged"
    res = _cli("model", "merge", adapter, "--out", out)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "merged" in res.stdout and "no-op" not in res.stdout

    ids = torch.tensor([[1, 5, 9, 42, 7, 3]])
    expected = _logits(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model)), str(adapter)), ids)
    base = _logits(AutoModelForCausalLM.from_pretrained(str(tiny_model)), ids)
    merged = _logits(AutoModelForCausalLM.from_pretrained(str(out)), ids)
    assert not torch.allclose(base, expected, atol=1e-3), "the adapter must change the logits for this test to mean anything"
    torch.testing.assert_close(merged, expected, atol=1e-4, rtol=1e-4)
    # the tokenizer and its chat template come along, so the folder serves on its own
    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.chat_template and tok.chat_template == AutoTokenizer.from_pretrained(str(tiny_model)).chat_template
    record = json.loads((out / "swe_srl_merge.json").read_text())
    assert record["base"] == str(tiny_model.resolve()) and record["adapter"] == str(adapter.resolve())

    weights = out / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    res = _cli("model", "merge", adapter, "--out", out)
    assert res.returncode == 0 and "no-op" in res.stdout
    assert weights.stat().st_mtime_ns == stamp

    _adapter(tiny_model, adapter, seed=1)  # retrained in place: other weights, merged again
    res = _cli("model", "merge", adapter, "--out", out)
    assert res.returncode == 0 and "no-op" not in res.stdout, res.stdout
    remerged = _logits(AutoModelForCausalLM.from_pretrained(str(out)), ids)
    assert not torch.allclose(remerged, merged, atol=1e-4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".merged-")], "temporary folders left behind"


def test_a_folder_that_is_not_an_adapter_is_a_one_line_error(tiny_model, tmp_path):
    res = _cli("model", "merge", tiny_model, "--out", tmp_path / "m")
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [
        f"error: {tiny_model}: not a LoRA adapter (no adapter_config.json); nothing to merge"]
    assert not (tmp_path / "m").exists()
