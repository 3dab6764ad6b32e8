"""SRL training (GRPO + dynamic sampling) and the SFT baseline, on TRL + peft + accelerate.

* :mod:`swe_srl.train.config`: YAML + ``key=value`` overrides -> :class:`TrainConfig`.
* :mod:`swe_srl.train.grpo`: :class:`SRLGRPOTrainer` (TRL ``GRPOTrainer`` + dynamic sampling).
* :mod:`swe_srl.train.sft`: the SFT baseline on TRL ``SFTTrainer``.
* :mod:`swe_srl.train.callbacks`: ``metrics.jsonl``, greedy validation, plots.
* :mod:`swe_srl.train.runner`: :func:`train` (what ``swe-srl train`` runs).

Submodules load lazily (torch, transformers and TRL are heavy).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "config",
    "load_config": "config",
    "config_from_dict": "config",
    "SRLGRPOTrainer": "grpo",
    "select_groups": "grpo",
    "train": "runner",
    "run_training": "runner",
    "last_checkpoint": "runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"swe_srl.train.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'swe_srl.train' has no attribute {name!r}")
