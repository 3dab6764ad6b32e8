"""Moved to :mod:`swe_srl.harness.validate` (validating a task runs the harness,
which sits above :mod:`swe_srl.tasks`).

Transitional re-export, so that ``swe_srl.cli.tasks`` keeps importing from here
until it imports ``swe_srl.harness.validate``; delete this file then, and its
entry in ``DEBT`` in ``tests/test_layers.py`` (the test fails until both go).
"""

from swe_srl.harness.validate import VALIDATION, validate_tasks

__all__ = ["VALIDATION", "validate_tasks"]
