"""Grading: each test pins one way a verdict could go wrong; parity with swebench."""

from __future__ import annotations

import importlib.util
import itertools

import pytest

from swe_srl.harness import grading as g

from .logs import PYTEST_BODY, wrap

HAS_SWEBENCH = importlib.util.find_spec("swebench") is not None

BODY_FIXED = """PASSED tests/test_m.py::test_bug
PASSED tests/test_m.py::test_other
PASSED tests/test_m.py::test_third"""
TASK = {"instance_id": "x__y-1", "FAIL_TO_PASS": ["tests/test_m.py::test_bug"],
        "PASS_TO_PASS": ["tests/test_m.py::test_other", "tests/test_m.py::test_third"]}


def test_gold_like_log_resolves():
    v = g.grade(TASK, wrap(BODY_FIXED, 0))
    assert v["resolved"] and v["resolution"] == g.RESOLVED_FULL and v["patch_successfully_applied"]


def test_spoofed_passed_lines_do_not_resolve():
    # a patch that prints PASSED lines for every test while the real run fails (exit 1, no FAILED line)
    v = g.grade(TASK, wrap(BODY_FIXED, 1))
    assert not v["resolved"]
    assert not v["patch_successfully_applied"]


def test_spoofed_lines_outside_the_markers_are_ignored():
    log = wrap("FAILED tests/test_m.py::test_bug\nPASSED tests/test_m.py::test_other\nPASSED tests/test_m.py::test_third",
               1, before=BODY_FIXED + "\n", after=BODY_FIXED + "\n")
    v = g.grade(TASK, log)
    assert not v["resolved"]
    assert v["tests_status"]["FAIL_TO_PASS"]["failure"] == ["tests/test_m.py::test_bug"]


def test_missing_end_marker_means_no_test_run():
    v = g.grade(TASK, f"{g.START_TEST_OUTPUT}\n{BODY_FIXED}\n")
    assert not v["resolved"] and not v["patch_successfully_applied"]


@pytest.mark.parametrize("marker", g.FAILURE_MARKERS)
def test_failure_markers_void_the_log(marker):
    v = g.grade(TASK, wrap(BODY_FIXED, 0, after=marker + "\n"))
    assert not v["resolved"] and not v["patch_successfully_applied"]


def test_absent_fail_to_pass_test_is_a_failure():
    v = g.grade(TASK, wrap("PASSED tests/test_m.py::test_other\nPASSED tests/test_m.py::test_third", 0))
    assert not v["resolved"]
    assert v["tests_status"]["FAIL_TO_PASS"]["failure"] == ["tests/test_m.py::test_bug"]


def test_skipped_fail_to_pass_test_is_not_a_fix():
    v = g.grade(TASK, wrap(BODY_FIXED.replace("PASSED tests/test_m.py::test_bug", "SKIPPED tests/test_m.py::test_bug"), 0))
    assert not v["resolved"]


def test_skipped_pass_to_pass_test_is_not_a_regression():
    v = g.grade(TASK, wrap(BODY_FIXED.replace("PASSED tests/test_m.py::test_other", "SKIPPED tests/test_m.py::test_other"), 0))
    assert v["resolved"]


def test_xfail_counts_as_passing():
    v = g.grade(TASK, wrap(BODY_FIXED.replace("PASSED tests/test_m.py::test_bug", "XFAIL tests/test_m.py::test_bug"), 0))
    assert v["resolved"]


def test_broken_pass_to_pass_test_blocks_resolution_even_when_fail_to_pass_is_fixed():
    v = g.grade(TASK, wrap(BODY_FIXED.replace("PASSED tests/test_m.py::test_third", "FAILED tests/test_m.py::test_third"), 1))
    assert not v["resolved"] and v["resolution"] == g.RESOLVED_NO
    assert v["tests_status"]["PASS_TO_PASS"]["failure"] == ["tests/test_m.py::test_third"]


def test_partial_fix_is_reported_partial_not_resolved():
    task = dict(TASK, FAIL_TO_PASS=["tests/test_m.py::test_bug", "tests/test_m.py::test_bug2"])
    v = g.grade(task, wrap(BODY_FIXED + "\nFAILED tests/test_m.py::test_bug2", 1))
    assert v["resolution"] == g.RESOLVED_PARTIAL and not v["resolved"]


def test_truncated_parametrized_id_matches_only_when_candidates_agree():
    task = {"FAIL_TO_PASS": ["t.py::test_p[log(photon"], "PASS_TO_PASS": []}
    agree = "PASSED t.py::test_p[log(photon)-1]\nPASSED t.py::test_p[log(photon)-2]"
    disagree = "PASSED t.py::test_p[log(photon)-1]\nFAILED t.py::test_p[log(photon)-2]"
    assert g.grade(task, wrap(agree, 0))["resolved"]
    assert not g.grade(task, wrap(disagree, 1))["resolved"]


def test_none_patch_is_not_evaluated():
    v = g.grade(TASK, wrap(BODY_FIXED, 0), model_patch=None)
    assert v["patch_is_None"] and not v["patch_exists"] and not v["resolved"] and "tests_status" not in v


def test_nonzero_exit_with_real_failures_is_still_graded():
    v = g.grade(TASK, wrap(BODY_FIXED.replace("PASSED tests/test_m.py::test_bug", "FAILED tests/test_m.py::test_bug"), 1))
    assert v["patch_successfully_applied"] and not v["resolved"]


# ----------------------------------------------------------------------------- parity
def _logs() -> list[tuple[str, str]]:
    """(log, parser) pairs covering the branches above and the sample bodies."""
    bodies = [BODY_FIXED, PYTEST_BODY,
              BODY_FIXED.replace("PASSED tests/test_m.py::test_bug", "SKIPPED tests/test_m.py::test_bug"),
              BODY_FIXED.replace("PASSED tests/test_m.py::test_third", "FAILED tests/test_m.py::test_third"),
              "PASSED t.py::test_p[log(photon)-1]\nFAILED t.py::test_p[log(photon)-2]", "", "no results here"]
    out = []
    for body, code, parser in itertools.product(bodies, (0, 1, None), ("parse_log_pytest", "parse_log_pytest_options")):
        out.append((wrap(body, code), parser))
    out.append((f"{g.START_TEST_OUTPUT}\n{BODY_FIXED}\n", "parse_log_pytest"))
    out.append((wrap(BODY_FIXED, 0, after=g.TESTS_TIMEOUT + "\n"), "parse_log_pytest"))
    out.append((wrap("", 0, after="\n5 passing (3ms)\n"), "parse_log_pytest"))
    return out


TASKS = [TASK, dict(TASK, FAIL_TO_PASS=["tests/test_m.py::test_bug", "t.py::test_p[log(photon"]),
         {"instance_id": "x__y-1", "FAIL_TO_PASS": ["tests/test_a.py::test_sub", "tests/test_a.py::test_param[a"],
          "PASS_TO_PASS": ["tests/test_a.py::test_add", "tests/test_a.py::test_skipped", "tests/test_a.py::test_xfail"]}]


@pytest.mark.skipif(not HAS_SWEBENCH, reason="swebench (dev extra) not installed")
def test_verdicts_and_test_lists_match_swebench_grading(tmp_path):
    from swe_srl.testsuite import canonical_name

    for i, ((log, parser), task) in enumerate(itertools.product(_logs(), TASKS)):
        path = tmp_path / f"{i}.log"
        path.write_text(log)
        theirs = swebench_report(task, path, parser)
        ours = g.grade(task, log, log_parser=canonical_name(parser), model_patch="diff")
        assert same_verdict(ours, theirs), (log, parser, task, ours, theirs)


def swebench_report(task: dict, log_path, parser: str) -> dict:
    """swebench.harness.grading's per-instance report for one saved log."""
    from swebench.harness.grading import get_eval_report
    from swebench.types import TestSpec

    spec = TestSpec(instance_id=task["instance_id"], image="", eval_script_list=[], repo="x/y", version="",
                    FAIL_TO_PASS=task["FAIL_TO_PASS"], PASS_TO_PASS=task["PASS_TO_PASS"], log_parser=parser,
                    eval_type="pass_and_fail")
    pred = {"instance_id": task["instance_id"], "model_name_or_path": "m", "model_patch": "diff"}
    return get_eval_report(spec, pred, str(log_path), include_tests_status=True)[task["instance_id"]]


def same_verdict(ours: dict, theirs: dict) -> bool:
    keys = ("patch_is_None", "patch_exists", "patch_successfully_applied", "resolved")
    if any(ours[k] != theirs[k] for k in keys):
        return False
    return ours.get("tests_status") == theirs.get("tests_status")
