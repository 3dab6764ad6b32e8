"""SWE-bench-style evaluation: apply a patch, run the tests, parse logs, grade, report.

- :mod:`~swe_srl.testsuite`: test-log parsers by name (SWE-bench's Python set) and the test command (below the tasks: synthesis reads logs the same way)
- :mod:`~swe_srl.harness.grading`: status maps, FAIL_TO_PASS / PASS_TO_PASS lists, verdicts
- :mod:`~swe_srl.harness.eval_script`: the patch fallback chain and the eval script
- :mod:`~swe_srl.harness.run`: per-instance evaluation in fresh sandboxes, resume, regrading
- :mod:`~swe_srl.harness.report`: per-instance and run reports
- :mod:`~swe_srl.harness.validate`: `swe-srl tasks validate` (gold must resolve, every time; empty must not)

Nothing here imports Docker at module import.
"""

from __future__ import annotations

from swe_srl.harness.grading import grade, read_status_map, resolution_status, tests_report
from swe_srl.testsuite import status_map_parser, parse_log

__all__ = ["grade", "read_status_map", "resolution_status", "tests_report", "status_map_parser", "parse_log",
           "EvalConfig", "run_evaluation", "evaluate_instance"]


def __getattr__(name: str):
    if name in ("EvalConfig", "run_evaluation", "evaluate_instance", "regrade_instance"):
        from swe_srl.harness import run

        return getattr(run, name)
    raise AttributeError(f"module 'swe_srl.harness' has no attribute {name!r}")
