"""SRL rewards: the response format, action similarity and the TRL reward function.

* :func:`parse_response` (``format``): ``<think>...</think>`` + exactly one action.
* :func:`action_similarity` (``similarity``): difflib's ratio, bit for bit, C-fast.
* :func:`srl_reward` (``reward``): a TRL reward function, -1 on format failure.

Light to import (no torch): the agent and the CLI use it too.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ParsedResponse": "format",
    "parse_response": "format",
    "is_degenerate": "format",
    "action_similarity": "similarity",
    "get_similarity": "similarity",
    "SIMILARITIES": "similarity",
    "srl_reward": "reward",
    "make_srl_reward": "reward",
    "completion_text": "reward",
    "FORMAT_FAILURE_REWARD": "reward",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"swe_srl.rewards.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'swe_srl.rewards' has no attribute {name!r}")
