"""The doctest examples of the reward and training modules run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "swe_srl.rewards.format",
    "swe_srl.rewards.similarity",
    "swe_srl.rewards.reward",
    "swe_srl.train.config",
    "swe_srl.train.sft",
    "swe_srl.train.grpo",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
