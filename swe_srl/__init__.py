"""swe-srl: Supervised Reinforcement Learning for coding agents.

Importing the package is cheap and has no side effects: submodules (and the
heavy libraries they use: torch, transformers, trl, docker) load lazily on
first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "trajectories", "data", "rewards", "train", "policy", "models", "agent",
    "sandbox", "tasks", "harness", "errors", "protocols", "io",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"swe_srl.{name}")
    raise AttributeError(f"module 'swe_srl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
