"""Grading with SWE-bench's semantics.

A test log is graded in three steps, each matching ``swebench.harness.grading``
so that the same log gets the same verdict from both:

1. :func:`read_status_map` finds the test run in the log (explicit start/end
   markers written by the eval script), parses it with the spec's log parser,
   and refuses logs that cannot describe a real run: a failure marker
   (patch not applied, reset failed, tests errored or timed out), missing
   markers, no results and no sign a suite ran, or results that claim no
   failure while the recorded exit code of the test command is non-zero
   (a patch printing fake ``PASSED`` lines).
2. :func:`tests_report` sorts FAIL_TO_PASS and PASS_TO_PASS into success and
   failure lists (a skipped PASS_TO_PASS test is kept, a skipped FAIL_TO_PASS
   test is a failure; truncated parametrized ids match by prefix when all the
   candidates agree).
3. :func:`resolution_status`: FULL only when both lists are complete, PARTIAL
   when some FAIL_TO_PASS pass and every PASS_TO_PASS does.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from swe_srl.harness.log_parsers import ERROR, FAILED, PASSED, SKIPPED, XFAIL, get_parser

START_TEST_OUTPUT = ">>>>> Start Test Output"
END_TEST_OUTPUT = ">>>>> End Test Output"
TEST_EXIT_CODE = ">>>>> Test Exit Code"
APPLY_PATCH_FAIL = ">>>>> Patch Apply Failed"
APPLY_PATCH_PASS = ">>>>> Applied Patch"
RESET_FAILED = ">>>>> Reset Failed"
TESTS_ERROR = ">>>>> Tests Errored"
TESTS_TIMEOUT = ">>>>> Tests Timed Out"
FAILURE_MARKERS = (APPLY_PATCH_FAIL, RESET_FAILED, TESTS_ERROR, TESTS_TIMEOUT)

FAIL_TO_PASS = "FAIL_TO_PASS"
PASS_TO_PASS = "PASS_TO_PASS"
FAIL_TO_FAIL = "FAIL_TO_FAIL"
PASS_TO_FAIL = "PASS_TO_FAIL"

RESOLVED_FULL = "RESOLVED_FULL"
RESOLVED_PARTIAL = "RESOLVED_PARTIAL"
RESOLVED_NO = "RESOLVED_NO"

_EXIT_CODE = re.compile(re.escape(TEST_EXIT_CODE) + r":\s*(-?\d+)")

# Summary lines by which a runner shows it executed at least one test, for logs
# whose parser reads failures only; a zero count is not evidence.
_SUITE_RAN = re.compile(
    "|".join(
        [
            r"Executed [1-9]\d* of \d+",
            r"TOTAL: [1-9]\d* (?:SUCCESS|FAILED)",
            r"[1-9]\d* passing",
            r"Tests:\s+[1-9]\d*",
            r"Test Suites:\s+(?:\d+ \w+, )*[1-9]\d* total",
            r"^# tests [1-9]\d*",
            r"[1-9]\d* specs?, \d+ failures?",
            r"': ok$",
        ]
    ),
    re.M,
)

_PASSING = (PASSED, XFAIL)


def test_exit_code(log: str) -> int | None:
    """The exit status of the test command recorded by the eval script, if any."""
    m = _EXIT_CODE.search(log)
    return int(m.group(1)) if m else None


def read_status_map(log: str, log_parser: str = "pytest") -> tuple[dict[str, str], bool]:
    """``(status map, found)`` for one eval log; ``found`` False means the log
    does not describe a usable test run (the instance cannot be resolved)."""
    if any(marker in log for marker in FAILURE_MARKERS):
        return {}, False
    if START_TEST_OUTPUT not in log or END_TEST_OUTPUT not in log:
        return {}, False
    parse = get_parser(log_parser)
    section = log.split(START_TEST_OUTPUT)[1].split(END_TEST_OUTPUT)[0]
    status = parse(section)
    if not status:
        # some runners print results outside the markers (stream interleaving)
        status = parse(log)
    if not status and not _SUITE_RAN.search(log):
        return {}, False
    code = test_exit_code(log)
    if code not in (None, 0) and status and not any(s in (FAILED, ERROR) for s in status.values()):
        # a non-zero exit with no failure at all: the lines were not written by the run
        return {}, False
    return status, True


def _lookup(test: str, status: dict[str, str]) -> str | None:
    """The key of ``status`` for ``test``; a truncated parametrized id (more
    ``[`` than ``]``) matches by prefix when every candidate agrees on pass/fail."""
    if test in status:
        return test
    if test.count("[") > test.count("]"):
        keys = [k for k in status if k.startswith(test)]
        if keys and len({status[k] in _PASSING for k in keys}) == 1:
            return keys[0]
    return None


def passed(test: str, status: dict[str, str]) -> bool:
    key = _lookup(test, status)
    return key is not None and status[key] in _PASSING


def maintained(test: str, status: dict[str, str]) -> bool:
    """PASS_TO_PASS: a skipped test is not a regression."""
    key = _lookup(test, status)
    return passed(test, status) or (key is not None and status[key] == SKIPPED)


def failed(test: str, status: dict[str, str]) -> bool:
    """Absent, failed, errored or skipped (a skipped FAIL_TO_PASS test is not fixed)."""
    key = _lookup(test, status)
    return key is None or status[key] in (FAILED, ERROR, SKIPPED)


def tests_report(
    status: dict[str, str],
    fail_to_pass: Iterable[str],
    pass_to_pass: Iterable[str],
    *,
    fail_to_fail: Iterable[str] = (),
    pass_to_fail: Iterable[str] = (),
) -> dict[str, dict[str, list[str]]]:
    """FAIL_TO_PASS / PASS_TO_PASS (and the informational x_TO_FAIL) success and failure lists."""

    def split(tests: Iterable[str], ok) -> dict[str, list[str]]:
        success: list[str] = []
        failure: list[str] = []
        for t in tests:
            if ok(t, status):
                success.append(t)
            elif failed(t, status):
                failure.append(t)
        return {"success": success, "failure": failure}

    return {
        FAIL_TO_PASS: split(fail_to_pass, passed),
        PASS_TO_PASS: split(pass_to_pass, maintained),
        FAIL_TO_FAIL: split(fail_to_fail, passed),
        PASS_TO_FAIL: split(pass_to_fail, passed),
    }


def _rate(part: dict[str, list[str]]) -> float:
    total = len(part["success"]) + len(part["failure"])
    return 1.0 if total == 0 else len(part["success"]) / total


def resolution_status(report: dict[str, dict[str, list[str]]]) -> str:
    f2p = _rate(report[FAIL_TO_PASS])
    p2p = _rate(report[PASS_TO_PASS])
    if f2p == 1 and p2p == 1:
        return RESOLVED_FULL
    if 0 < f2p < 1 and p2p == 1:
        return RESOLVED_PARTIAL
    return RESOLVED_NO


def grade(task: dict[str, Any], log: str, *, log_parser: str = "pytest", model_patch: str | None = "") -> dict[str, Any]:
    """The per-instance verdict for one eval log (the value under the instance
    id in ``report.json``): SWE-bench's keys (``patch_is_None``,
    ``patch_exists``, ``patch_successfully_applied``, ``resolved``,
    ``tests_status``) plus ``resolution`` and ``test_exit_code``."""
    verdict: dict[str, Any] = {
        "patch_is_None": model_patch is None,
        "patch_exists": model_patch is not None,
        "patch_successfully_applied": False,
        "resolved": False,
    }
    if model_patch is None:
        return verdict
    status, found = read_status_map(log, log_parser)
    verdict["test_exit_code"] = test_exit_code(log)
    if not found:
        verdict["resolution"] = RESOLVED_NO
        return verdict
    verdict["patch_successfully_applied"] = True
    report = tests_report(status, task.get(FAIL_TO_PASS) or [], task.get(PASS_TO_PASS) or [])
    verdict["resolution"] = resolution_status(report)
    verdict["resolved"] = verdict["resolution"] == RESOLVED_FULL
    verdict["tests_status"] = report
    return verdict
