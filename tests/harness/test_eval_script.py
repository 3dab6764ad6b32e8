"""The eval script and the patch chain, run with real bash and git (no Docker)."""

from __future__ import annotations

import difflib
import subprocess
import sys

from swe_srl.harness import eval_script as es
from swe_srl.harness.grading import APPLY_PATCH_FAIL, APPLY_PATCH_PASS, grade

from .conftest import git

TEST_CMD = f"{sys.executable} -m pytest -rA -p no:cacheprovider"


def _diff(path: str, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


def _apply(repo, patch: str) -> subprocess.CompletedProcess:
    patch_file = repo.parent / "p.diff"
    patch_file.write_text(patch)
    return subprocess.run(["bash", "-c", es.apply_script(str(patch_file), str(repo))], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _run_eval(repo, task) -> str:
    script = es.eval_script(task, TEST_CMD, workdir=str(repo))
    return subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout


def _task(repo, base, **kw):
    return {"instance_id": "t-1", "base_commit": base, "test_patch": "", "test_files": ["tests/test_pkg.py"],
            "FAIL_TO_PASS": ["tests/test_pkg.py::test_add"], "PASS_TO_PASS": ["tests/test_pkg.py::test_mul"], **kw}


FIX = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
BUGGY = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"


def test_clean_patch_applies_with_git_apply(git_repo):
    repo, _ = git_repo
    res = _apply(repo, _diff("pkg/__init__.py", BUGGY, FIX))
    assert f"{APPLY_PATCH_PASS} (git_apply)" in res.stdout
    assert (repo / "pkg/__init__.py").read_text() == FIX


def test_patch_with_stale_context_falls_back_to_fuzz(git_repo):
    repo, _ = git_repo
    lines = [f"v{i} = {i}\n" for i in range(30)]
    (repo / "pkg/long.py").write_text("".join(lines))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "long")
    # the patch was made against an older file: two lines fewer at the top, an outer context line changed
    stale = lines[2:]
    stale[10] = "v12 = 'old'\n"
    fixed = list(stale)
    fixed[13] = "v15 = 'fixed'\n"
    res = _apply(repo, _diff("pkg/long.py", "".join(stale), "".join(fixed)))
    assert res.returncode == 0, res.stdout
    assert "v15 = 'fixed'" in (repo / "pkg/long.py").read_text()
    assert "(git_apply)" not in res.stdout and APPLY_PATCH_PASS in res.stdout


def test_patch_that_does_not_apply_is_reported_and_leaves_the_tree_clean(git_repo):
    repo, _ = git_repo
    res = _apply(repo, _diff("pkg/__init__.py", "def nothing():\n    pass\n\n\nx = 1\ny = 2\n", "def nothing():\n    pass\n\n\nx = 3\ny = 2\n"))
    assert res.returncode == 1 and APPLY_PATCH_FAIL in res.stdout
    assert git(repo, "status", "--porcelain") == ""


def test_test_file_edits_are_reverted_before_test_patch(git_repo):
    repo, base = git_repo
    # the "model" rewrote the failing test so it passes, and did not fix the code
    (repo / "tests/test_pkg.py").write_text("def test_add():\n    pass\n\n\ndef test_mul():\n    pass\n")
    log = _run_eval(repo, _task(repo, base))
    v = grade(_task(repo, base), log)
    assert not v["resolved"]
    assert v["tests_status"]["FAIL_TO_PASS"]["failure"] == ["tests/test_pkg.py::test_add"]
    # and the script leaves the test file at the base version afterwards
    assert "assert add(1, 2) == 3" in (repo / "tests/test_pkg.py").read_text()


def test_test_patch_is_applied_after_the_reset_and_its_files_are_the_targets(git_repo):
    repo, base = git_repo
    old = (repo / "tests/test_pkg.py").read_text()
    test_patch = _diff("tests/test_pkg.py", old, old + "\n\ndef test_new():\n    assert True\n")
    task = _task(repo, base, test_patch=test_patch, test_files=None,
                 FAIL_TO_PASS=["tests/test_pkg.py::test_new"], PASS_TO_PASS=["tests/test_pkg.py::test_mul"])
    assert es.test_targets(task) == ["tests/test_pkg.py"]
    (repo / "tests/test_pkg.py").write_text(old + "\n\ndef test_new():\n    assert False\n")  # spoofed first
    v = grade(task, _run_eval(repo, task))
    assert v["resolved"], v


def test_exit_code_and_timing_are_recorded_after_the_end_marker(git_repo):
    repo, base = git_repo
    log = _run_eval(repo, _task(repo, base))
    end = log.index(">>>>> End Test Output")
    assert log.index(">>>>> Test Exit Code: 1") > end
    assert es.test_duration(log) is not None and es.test_duration(log) > 0


def test_fixed_code_resolves(git_repo):
    repo, base = git_repo
    (repo / "pkg/__init__.py").write_text(FIX)
    v = grade(_task(repo, base), _run_eval(repo, _task(repo, base)))
    assert v["resolved"] and v["test_exit_code"] == 0


def test_heredoc_delimiter_inside_the_test_patch_is_avoided():
    delim, _ = es._heredoc("line\nEOF_SWE_SRL_TEST_PATCH\n", "TEST_PATCH")
    assert delim != "EOF_SWE_SRL_TEST_PATCH"


def test_patch_files_reads_git_and_plain_headers():
    assert es.patch_files("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n") == ["x.py"]
    assert es.patch_files("--- a/y.py\n+++ b/y.py\n@@ -1 +1 @@\n") == ["y.py"]


def test_test_command_placeholders():
    assert es.test_command("pytest -rA", ["tests/a.py"]) == "pytest -rA tests/a.py"
    assert es.test_command("pytest {tests} -x", ["tests/a.py"]) == "pytest tests/a.py -x"
    assert es.test_command("./tests/runtests.py -v 2 {test_modules}", ["tests/admin_views/test_forms.py"]) == \
        "./tests/runtests.py -v 2 admin_views.test_forms"


FORCE_PASS = '''import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
'''


def test_conftest_hook_forcing_passes_is_removed_before_the_tests(git_repo):
    repo, base = git_repo
    (repo / "tests" / "conftest.py").write_text(FORCE_PASS)  # added by the "model", code not fixed
    (repo / "conftest.py").write_text(FORCE_PASS)
    v = grade(_task(repo, base), _run_eval(repo, _task(repo, base)))
    assert not v["resolved"]
    assert v["tests_status"]["FAIL_TO_PASS"]["failure"] == ["tests/test_pkg.py::test_add"]
    assert not (repo / "tests" / "conftest.py").exists()


def test_conftest_in_the_base_commit_is_kept_and_a_changed_one_restored(git_repo):
    repo, base = git_repo
    (repo / "tests" / "conftest.py").write_text("MARK = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "conftest")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "tests" / "conftest.py").write_text(FORCE_PASS)
    (repo / "pkg/__init__.py").write_text(FIX)
    v = grade(_task(repo, base), _run_eval(repo, _task(repo, base)))
    assert v["resolved"]
    assert (repo / "tests" / "conftest.py").read_text() == "MARK = 1\n"


def test_a_test_file_beside_code_protects_only_itself():
    """astroid-1030: the test file script/test_bump_changelog.py sits beside script/bump_changelog.py,
    which the gold patch adds; resetting the whole script/ folder undid the gold patch."""
    from swe_srl.harness.eval_script import test_dirs

    task = {"test_patch": "diff --git a/script/test_bump_changelog.py b/script/test_bump_changelog.py\n--- /dev/null\n"
                          "+++ b/script/test_bump_changelog.py\n@@ -0,0 +1 @@\n+x = 1\n",
            "FAIL_TO_PASS": [], "PASS_TO_PASS": []}
    assert test_dirs(task) == ["script/test_bump_changelog.py"]
    nested = {"test_patch": "diff --git a/pkg/tests/unit/test_a.py b/pkg/tests/unit/test_a.py\n--- a/pkg/tests/unit/test_a.py\n"
                            "+++ b/pkg/tests/unit/test_a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n",
              "FAIL_TO_PASS": [], "PASS_TO_PASS": []}
    assert test_dirs(nested) == ["pkg/tests"]
