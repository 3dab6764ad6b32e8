"""A small synthetic step-wise dataset in the ``swe-srl dataset`` schema.

For smoke runs, tests and benchmarks of the training stage without the data
stage: each row's prompt is built with :func:`swe_srl.data.prompts.build_prompt`
(when that module is present) and its expert action is one of a few canonical
actions. Not training data for a real model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from swe_srl.trajectories.models import Action

__all__ = ["TOY_ACTIONS", "SHORT_SYSTEM", "toy_rows", "short_rows", "save_toy_dataset"]

SHORT_SYSTEM = "Reply with <think>...</think> then exactly one function call."

TOY_ACTIONS: list[Action] = [
    Action("bash", {"command": "ls"}),
    Action("bash", {"command": "pwd"}),
    Action("bash", {"command": "git status"}),
    Action("str_replace_editor", {"command": "view", "path": "/testbed/setup.py"}),
]


def _prompt(problem: str) -> list[dict[str, str]]:
    try:
        from swe_srl.data.prompts import build_prompt
    except ImportError:  # the data stage is optional here
        return [{"role": "system", "content": "Answer with <think>...</think> then one function call."},
                {"role": "user", "content": problem}]
    return build_prompt(problem, [], context_steps=2)


def toy_rows(n: int, *, actions: Sequence[Action] | None = None, thought: str = "next step",
             problems: Sequence[str] | None = None, id_prefix: str = "toy") -> list[dict[str, Any]]:
    """``n`` SRL+SFT rows; row i uses ``actions[i % len(actions)]`` and ``problems[i % len(problems)]``."""
    actions = list(actions or TOY_ACTIONS)
    problems = list(problems or [f"Fix issue {k}: the tests fail." for k in range(max(1, n))])
    rows = []
    for i in range(n):
        action = actions[i % len(actions)]
        rendered = action.render()
        rows.append({
            "prompt": _prompt(problems[i % len(problems)]),
            "expert_action": rendered,
            "expert_thought": thought,
            "completion": [{"role": "assistant", "content": f"<think>{thought}</think>\n{rendered}"}],
            "trajectory_id": f"{id_prefix}-{i}",
            "step_index": 0,
            "num_steps": 1,
            "tool": action.tool,
        })
    return rows


def short_rows(actions: Sequence[Action | str], n: int, *, prefix: str = "t", thought: str = "go") -> list[dict[str, Any]]:
    """Rows with a two-line prompt (fast on CPU); row i has ``actions[i % len(actions)]``
    (a string is a bash command) and the task ``Task {i % 7}``."""
    rows = []
    for i in range(n):
        a = actions[i % len(actions)]
        a = a if isinstance(a, Action) else Action("bash", {"command": a})
        rendered = a.render()
        rows.append({
            "prompt": [{"role": "system", "content": SHORT_SYSTEM}, {"role": "user", "content": f"Task {i % 7}: next step?"}],
            "expert_action": rendered,
            "expert_thought": thought,
            "completion": [{"role": "assistant", "content": f"<think>{thought}</think>\n{rendered}"}],
            "trajectory_id": f"{prefix}-{i}",
            "step_index": 0,
            "num_steps": 1,
            "tool": a.tool,
        })
    return rows


def save_toy_dataset(out_dir: str | Path, train_rows: list[dict[str, Any]], validation_rows: list[dict[str, Any]]) -> Path:
    """Save ``{train, validation}`` with ``save_to_disk`` (what ``swe-srl train`` reads)."""
    import datasets

    out = Path(out_dir)
    datasets.DatasetDict({
        "train": datasets.Dataset.from_list(train_rows),
        "validation": datasets.Dataset.from_list(validation_rows),
    }).save_to_disk(str(out))
    return out
