"""Shared fixtures. ``SHARED`` is ../shared next to the repository; tests that
read the trajectory samples skip cleanly only when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SWE_SRL_SHARED", ROOT.parent / "shared"))
SAMPLES = SHARED / "trajectory-samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} is absent")
    return SAMPLES
