"""Fixtures for the training tests: one tiny model per session, small datasets
built in the ``swe-srl dataset`` schema with ``datasets.Dataset.from_list``."""

from __future__ import annotations

from pathlib import Path

import pytest

SHORT_SYSTEM = "Reply with <think>...</think> then exactly one function call."


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    # On a busy 2-core machine, OpenMP spin-waiting makes 2 threads several times slower than 1.
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from swe_srl.policy.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


def short_rows(actions, n: int, *, prefix: str = "t", thought: str = "go"):
    """Rows with a short prompt (fast on CPU); row i has actions[i % len(actions)]."""
    from swe_srl.trajectories.models import Action

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


def save_dataset(path: Path, train_rows, val_rows) -> Path:
    import datasets

    datasets.DatasetDict({
        "train": datasets.Dataset.from_list(train_rows),
        "validation": datasets.Dataset.from_list(val_rows),
    }).save_to_disk(str(path))
    return path
