"""Synthesis on the task runner decides candidates in site order: the same tasks and
statistics with one suite run at a time or several (runs finishing in any order), and
a second run takes every outcome from the journal. No Docker: the suite's runs are
faked (each candidate's verdict follows from its mutated text; runs sleep a random
while so they finish out of order)."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import time

import pytest

from swe_srl.execution.base import LocalBackend
from swe_srl.tasks import synthesize as synth
from swe_srl.testsuite import FAILED, PASSED

GIT_ENV = {"GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
SOURCE = "\n\n".join(f'''def f{i}(a, b):
    if a < b:
        return a + b
    if a > b + {i}:
        return a - b
    return a * b == {i}''' for i in range(8)) + "\n"
TESTS = ["tests/test_m.py::test_a", "tests/test_m.py::test_b", "tests/test_m.py::test_c"]


def _git(repo, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True,
                          stdout=subprocess.PIPE, text=True).stdout


def _fake_run(self, timeout, mutation=None):
    """Baseline: every test passes. A candidate: a verdict from its text's hash (about a
    third kept, the rest no-op, break-everything or hang)."""
    time.sleep(random.uniform(0, 0.03))
    if mutation is None:
        return {t: PASSED for t in TESTS}, "3 passed", False, 0.5
    h = int(hashlib.sha256(mutation.mutated.encode()).hexdigest(), 16)
    which = h % 6
    status = {t: PASSED for t in TESTS}
    if which in (0, 1):
        status[TESTS[h % 3]] = FAILED
    elif which == 2:
        status = {t: FAILED for t in TESTS}
    return status, f"FAILED {TESTS[h % 3]}", which == 3, 0.5


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setattr(synth._Suite, "run", _fake_run)
    monkeypatch.setattr(synth._Suite, "close", lambda self: None)
    r = tmp_path / "repo"
    (r / "pkg").mkdir(parents=True)
    (r / "tests").mkdir()
    (r / "pkg" / "__init__.py").write_text("")
    (r / "pkg" / "m.py").write_text(SOURCE)
    (r / "tests" / "test_m.py").write_text("def test_a():\n    pass\n")
    _git(r, "init", "-q", "-b", "main")
    _git(r, "add", ".")
    _git(r, "commit", "-q", "-m", "m")
    return r


def _synthesize(repo, tmp_path, name: str, backend, **kw):
    return synth.synthesize_repo(repo, cache_dir=tmp_path / "cache", journal_dir=tmp_path / f"journal-{name}",
                                 backend=backend, **kw)


def _same(stats) -> dict:
    return {k: v for k, v in stats.as_dict().items() if k not in ("baseline_s", "sandbox_restarts")}


@pytest.mark.parametrize("limits", [{"max_tasks": 4}, {"max_tasks": 50, "max_tries": 9}, {"max_tasks": 50}])
def test_several_runs_at_once_give_the_tasks_and_stats_of_one_at_a_time(repo, tmp_path, limits):
    one, one_stats = _synthesize(repo, tmp_path, "one", LocalBackend(1), **limits)
    many, many_stats = _synthesize(repo, tmp_path, "many", LocalBackend(5), **limits)
    assert one and one_stats.tried > one_stats.kept  # some were dropped: the order matters
    if limits == {"max_tasks": 50}:  # every site: some are passed over for a kept bug in their function
        assert one_stats.same_function > 0 and one_stats.tried + one_stats.same_function == one_stats.sites
    key = ("instance_id", "base_commit", "patch", "FAIL_TO_PASS", "PASS_TO_PASS", "meta")
    assert [[t[k] for k in key] for t in many] == [[t[k] for k in key] for t in one]
    assert _same(many_stats) == _same(one_stats)
    assert one_stats.kept == len(one) <= limits["max_tasks"] and one_stats.tried <= (limits.get("max_tries") or 99)
    # a re-run decides everything from the journal, runs nothing but nothing changes
    again, again_stats = _synthesize(repo, tmp_path, "many", LocalBackend(3), **limits)
    assert [t["instance_id"] for t in again] == [t["instance_id"] for t in one]
    assert again_stats.from_journal == again_stats.tried == one_stats.tried


def test_a_failing_suite_run_ends_the_synthesis_with_its_error(repo, tmp_path, monkeypatch):
    from swe_srl.errors import SweSrlError
    from swe_srl.sandbox import SandboxError

    def broken(self, timeout, mutation=None):
        if mutation is not None and mutation.function == "f2":
            raise SandboxError("the container died twice")
        return _fake_run(self, timeout, mutation)

    monkeypatch.setattr(synth._Suite, "run", broken)
    with pytest.raises(SweSrlError, match="a test-suite run failed: .*the container died twice"):
        _synthesize(repo, tmp_path, "x", LocalBackend(3), max_tasks=50)
