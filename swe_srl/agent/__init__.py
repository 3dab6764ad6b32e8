"""The agent: a policy acting in a sandbox, one action at a time.

* :mod:`swe_srl.agent.loop`: :class:`Agent` (prompt -> response -> action ->
  observation, limits, exit reasons) and :class:`AgentConfig`;
* :mod:`swe_srl.agent.oracle_edit`: one-call search/replace evaluation;
* :mod:`swe_srl.agent.runner`: ``swe-srl run`` over a task set;
* :mod:`swe_srl.agent.replay_check`: replayed vs recorded patches.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Agent": "swe_srl.agent.loop",
    "AgentConfig": "swe_srl.agent.loop",
    "AgentResult": "swe_srl.agent.loop",
    "AgentExit": "swe_srl.agent.loop",
    "run_tasks": "swe_srl.agent.runner",
    "RunConfig": "swe_srl.agent.runner",
    "run_oracle_edit": "swe_srl.agent.oracle_edit",
    "compare_patches": "swe_srl.agent.replay_check",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'swe_srl.agent' has no attribute {name!r}")
