"""Fixtures of the agent tests: a fresh Docker sandbox per test. The calc task
(``calc.py``) and its environment image come from ``tests/conftest.py``."""

from __future__ import annotations

import pytest


@pytest.fixture
def sandbox(calc_image):
    from swe_srl.sandbox import DockerSandbox

    image, config = calc_image
    with DockerSandbox.start(image, config, run_id="pytest-agent") as sb:
        yield sb
