"""The SFT baseline: TRL's ``SFTTrainer`` on the dataset's SFT rows.

Rows are conversational prompt/completion pairs (``prompt``: the same chat
the SRL policy sees; ``completion``: ``[{"role": "assistant", "content":
"<think>THOUGHT</think>\\nACTION"}]``), so the loss covers the completion only.
An SRL dataset (``expert_thought`` + ``expert_action``, no ``completion``) is
turned into SFT rows on the fly, so one ``swe-srl dataset`` output serves
both methods.
"""

from __future__ import annotations

from typing import Any

from swe_srl.errors import ConfigError

__all__ = ["sft_completion", "to_sft_dataset", "build_sft_trainer"]


def sft_completion(thought: str, action: str) -> list[dict[str, str]]:
    """The assistant turn the SFT baseline imitates.

    >>> sft_completion("look", "<function=submit>\\n</function>")
    [{'role': 'assistant', 'content': '<think>look</think>\\n<function=submit>\\n</function>'}]
    """
    return [{"role": "assistant", "content": f"<think>{thought}</think>\n{action}"}]


def to_sft_dataset(ds, *, source: str = "dataset"):
    """Keep ``prompt`` and ``completion`` (building the completion from an SRL row if needed)."""
    cols = set(ds.column_names)
    if "prompt" not in cols:
        raise ConfigError(f"{source}: no 'prompt' column (columns: {', '.join(sorted(cols))})")
    if "completion" not in cols:
        if not {"expert_action"} <= cols:
            raise ConfigError(f"{source}: neither 'completion' nor 'expert_action' column for SFT")

        def add(row: dict[str, Any]) -> dict[str, Any]:
            return {"completion": sft_completion(row.get("expert_thought") or "", row["expert_action"])}

        ds = ds.map(add)
    return ds.select_columns(["prompt", "completion"])


def build_sft_trainer(cfg, args, tokenizer, train_dataset, callbacks, *, model: str):
    from trl import SFTTrainer

    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=to_sft_dataset(train_dataset, source=cfg.dataset),
        processing_class=tokenizer,
        peft_config=cfg.lora_config(),
        callbacks=callbacks,
    )
