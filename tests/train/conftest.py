"""Fixtures for the training tests: one tiny model per session, small datasets
built in the ``swe-srl dataset`` schema with ``datasets.Dataset.from_list``."""

from __future__ import annotations

from pathlib import Path

import pytest

@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    # On a busy 2-core machine, OpenMP spin-waiting makes 2 threads several times slower than 1.
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from swe_srl.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)
