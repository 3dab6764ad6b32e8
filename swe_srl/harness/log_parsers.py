"""The test-log parsers, as the harness names them: they live in
:mod:`swe_srl.testsuite` (below the tasks, which synthesis needs); this module
re-exports them for the harness's callers."""

from __future__ import annotations

from typing import Any

from swe_srl import testsuite as _testsuite
from swe_srl.testsuite import *  # noqa: F401,F403


def __getattr__(name: str) -> Any:
    return getattr(_testsuite, name)
