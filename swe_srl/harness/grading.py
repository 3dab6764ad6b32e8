"""Grading with SWE-bench's semantics.

A test log is graded in three steps, each matching ``swebench.harness.grading``
so that the same log gets the same verdict from both:

1. :func:`read_status_map` finds the test run in the log (explicit start/end
   markers), parses it with the spec's log parser, and refuses logs that
   cannot describe a real run: a failure marker (patch not applied, reset
   failed, tests errored or timed out), missing markers, no results and no
   sign a suite ran, or results that claim no failure while the recorded exit
   code of the test command is non-zero (a patch printing fake ``PASSED``
   lines). The harness writes its markers with a per-run *nonce* that the
   sandbox never sees (``>>>>> Start Test Output <nonce>``); given the nonce,
   only text between the two nonce markers is test output, failure markers
   count only outside it, and the exit code is the one after the nonce end
   marker, so nothing the tests print can move the section or fake the code.
   A test that the section reports both passing and failing (a forged
   ``PASSED`` line after the real ``FAILED`` one) counts as failing: a
   deliberate deviation from SWE-bench, whose parsers keep the last line.
2. :func:`tests_report` sorts FAIL_TO_PASS and PASS_TO_PASS into success and
   failure lists (a skipped PASS_TO_PASS test is kept, a skipped FAIL_TO_PASS
   test is a failure; truncated parametrized ids match by prefix when all the
   candidates agree).
3. :func:`resolution_status`: FULL only when both lists are complete, PARTIAL
   when some FAIL_TO_PASS pass and every PASS_TO_PASS does.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from swe_srl.testsuite import ERROR, FAILED, PASSED, SKIPPED, XFAIL, status_map_parser

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


def split_log(log: str, nonce: str | None = None) -> tuple[str, str, str] | None:
    """``(before, section, after)`` around the test output, or None when the
    markers are missing. With ``nonce``, the markers are the harness's nonce
    lines (nothing the tests print can match them); without, SWE-bench's plain
    markers (the first start, the first end after it)."""
    if nonce:
        start, end = f"{START_TEST_OUTPUT} {nonce}\n", f"{END_TEST_OUTPUT} {nonce}\n"
        i = log.find(start)
        j = log.find("\n" + end, i + len(start) - 1) if i >= 0 else -1
        if i < 0 or j < 0:
            return None
        return log[:i], log[i + len(start):j + 1], log[j + 1:]
    if START_TEST_OUTPUT not in log or END_TEST_OUTPUT not in log:
        return None
    before, rest = log.split(START_TEST_OUTPUT, 1)
    section, _, after = rest.partition(END_TEST_OUTPUT)
    return before, section, after


def test_exit_code(log: str, nonce: str | None = None) -> int | None:
    """The exit status of the test command recorded after the end marker, if any."""
    if nonce:
        parts = split_log(log, nonce)
        m = re.search(re.escape(f"{TEST_EXIT_CODE} {nonce}") + r":\s*(-?\d+)", parts[2]) if parts else None
    else:
        m = _EXIT_CODE.search(log)
    return int(m.group(1)) if m else None


def harness_text(log: str, nonce: str | None = None) -> str:
    """The part of the log the harness wrote itself (everything but the test
    output when the nonce is known; the whole log otherwise)."""
    parts = split_log(log, nonce) if nonce else None
    return parts[0] + parts[2] if parts else log


def contradicted(section: str, parse: Callable[[str], dict[str, str]], status: dict[str, str]) -> list[str]:
    """Tests that ``status`` reports passing although some line of the section
    reports them failed or errored (each line parsed on its own)."""
    bad: set[str] = set()
    for line in section.split("\n"):
        if FAILED in line or ERROR in line or "FAIL" in line or line.rstrip().endswith((" E", " F")):
            for name, st in parse(line).items():
                if st in (FAILED, ERROR):
                    bad.add(name)
    return sorted(n for n in bad if status.get(n) in (*_PASSING, SKIPPED))


def read_status_map(log: str, log_parser: str = "pytest", *, nonce: str | None = None) -> tuple[dict[str, str], bool]:
    """``(status map, found)`` for one eval log; ``found`` False means the log
    does not describe a usable test run (the instance cannot be resolved)."""
    parts = split_log(log, nonce)
    if parts is None:
        return {}, False
    before, section, after = parts
    if any(marker in (before + after if nonce else log) for marker in FAILURE_MARKERS):
        return {}, False
    parse = status_map_parser(log_parser)
    status = parse(section)
    if not status and not nonce:
        # some runners print results outside the markers (stream interleaving)
        status = parse(log)
    if not status and not _SUITE_RAN.search(section if nonce else log):
        return {}, False
    for name in contradicted(section, parse, status):
        status[name] = FAILED
    code = test_exit_code(log, nonce)
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


def grade(task: dict[str, Any], log: str, *, log_parser: str = "pytest", model_patch: str | None = "",
          nonce: str | None = None) -> dict[str, Any]:
    """The per-instance verdict for one eval log (the value under the instance
    id in ``report.json``): SWE-bench's keys (``patch_is_None``,
    ``patch_exists``, ``patch_successfully_applied``, ``resolved``,
    ``tests_status``) plus ``resolution`` and ``test_exit_code``. ``nonce``:
    the harness's marker nonce for this log (see :func:`split_log`)."""
    verdict: dict[str, Any] = {
        "patch_is_None": model_patch is None,
        "patch_exists": model_patch is not None,
        "patch_successfully_applied": False,
        "resolved": False,
    }
    if model_patch is None:
        return verdict
    status, found = read_status_map(log, log_parser, nonce=nonce)
    verdict["test_exit_code"] = test_exit_code(log, nonce)
    if not found:
        verdict["resolution"] = RESOLVED_NO
        return verdict
    verdict["patch_successfully_applied"] = True
    report = tests_report(status, task.get(FAIL_TO_PASS) or [], task.get(PASS_TO_PASS) or [])
    verdict["resolution"] = resolution_status(report)
    verdict["resolved"] = verdict["resolution"] == RESOLVED_FULL
    verdict["tests_status"] = report
    return verdict
