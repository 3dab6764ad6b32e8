"""A tiny, randomly initialised chat model built offline (no model hub).

Used by the tests and the demo, and shaped so every backend accepts it:
a Qwen2 architecture (what the SRL paper's base model uses), head_dim 64 (vLLM's
CPU attention kernels take 32/64/128, not 16), a byte-level BPE tokenizer
trained locally on a deterministic corpus (this package's prompts plus Python
standard-library sources), and a ChatML chat template with a generation
prompt, like Qwen2.5-Coder-Instruct's.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from swe_srl.data.prompts import SYSTEM_PROMPT
from swe_srl.trajectories.render import render_action

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Frequent structure of the action format, kept whole so the tiny model can learn it quickly.
ADDED_TOKENS = [
    "<think>", "</think>", "<function=", "</function>", "<parameter=", "</parameter>",
    "bash>", "str_replace_editor>", "submit>", "command>", "path>",
]


def _corpus(max_bytes: int) -> list[str]:
    texts: list[str] = [SYSTEM_PROMPT]
    texts += [
        render_action("bash", {"command": "ls -la /testbed && git status && python -m pytest -x -q"}),
        render_action("str_replace_editor", {"command": "view", "path": "/testbed/setup.py", "view_range": [1, 40]}),
        render_action("str_replace_editor", {"command": "str_replace", "path": "/testbed/pkg/mod.py", "old_str": "if x < 0:", "new_str": "if x <= 0:"}),
        render_action("submit", {}),
    ] * 50
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    total = sum(map(len, texts))
    for path in sorted(stdlib.glob("*.py")):
        if total >= max_bytes:
            break
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(text)
        total += len(text)
    return texts


def build_tokenizer(vocab_size: int = 4096, corpus_bytes: int = 3_000_000):
    """Train a byte-level BPE tokenizer locally and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(corpus_bytes), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        model_max_length=32768,
        padding_side="left",
    )
    fast.add_tokens(ADDED_TOKENS)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    vocab_size: int = 4096,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 2,
    num_kv_heads: int = 1,
    intermediate_size: int = 256,
    max_position_embeddings: int = 8192,
) -> Path:
    """Build and save a tiny Qwen2 chat model + tokenizer to ``out_dir``; returns the path.

    Deterministic for a given seed. head_dim = hidden_size / num_heads (64 by default).
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    tokenizer = build_tokenizer(vocab_size)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        temperature=1.0,
        max_new_tokens=256,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def random_lora_adapter(base: str | Path, out: str | Path, *, rank: int = 4, scale: float = 0.05, seed: int = 0):
    """Save an all-linear LoRA adapter of ``base`` whose B matrices are random (peft starts them
    at zero, so a fresh adapter changes nothing) to ``out``; returns the PeftModel. For tests
    and benchmarks that need an adapter which changes the logits without training one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)),
                           LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear"))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * scale)
    model.save_pretrained(str(out))
    return model
