"""End to end in real Docker, on tasks synthesized from two real PyPI sdists
(boltons, more-itertools): gold resolves (through an interrupted and resumed
CLI run), empty does not, a wrong patch names the right failing tests, a patch
that does not apply is reported as such, a hanging test is stopped by the
timeout, test-file edits are undone, saved logs regrade without containers,
and `tasks validate` passes the tasks."""

from __future__ import annotations

import difflib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swe_srl.harness.report import read_instance_report

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "swe_srl"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "COLUMNS": "120"}, timeout=600)


def _source(task: dict) -> tuple[str, str]:
    """(path, buggy content) of the file the task's bug is in."""
    path = task["meta"]["file"]
    text = subprocess.run(["git", "show", f"{task['base_commit']}:{path}"], cwd=task["repo_path"], check=True,
                          stdout=subprocess.PIPE, text=True).stdout
    return path, text


def _diff(path: str, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


def test_synthesized_tasks_follow_the_swe_bench_schema(synth_tasks):
    for t in synth_tasks:
        assert t["FAIL_TO_PASS"] and t["PASS_TO_PASS"]
        assert not set(t["FAIL_TO_PASS"]) & set(t["PASS_TO_PASS"])
        assert t["patch"].startswith("diff --git") and t["test_patch"] == ""
        assert t["spec"]["log_parser"] == "pytest" and any(p.startswith("pytest") for p in t["spec"]["pip_packages"])
        assert all(f.split("::")[0] in t["test_files"] for f in t["FAIL_TO_PASS"])
        # the base commit is a root commit: the fix is not in the history an agent sees
        parents = subprocess.run(["git", "rev-list", "--parents", "-n1", t["base_commit"]], cwd=t["repo_path"],
                                 stdout=subprocess.PIPE, text=True, check=True).stdout.split()
        assert len(parents) == 1
        assert t["FAIL_TO_PASS"][0] in t["problem_statement"]


def test_interrupted_gold_run_resumes_and_gold_resolves(synth_tasks_file, synth_tasks, tmp_path):
    out = tmp_path / "gold"
    args = ["eval", "--tasks", str(synth_tasks_file), "--predictions", "gold", "--run-id", "gold", "--out", str(out)]
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    first: Path | None = None
    while time.time() < deadline and proc.poll() is None:
        done = sorted(out.glob("*/report.json"))
        if done:
            first = done[0]
            break
        time.sleep(0.2)
    assert first is not None, "no instance finished"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    finished_before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/report.json")
                       if (read_instance_report(out, p.parent.name) or {}).get("status") == "resolved"}
    assert finished_before and len(finished_before) < len(synth_tasks)
    res = _cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["resolved_instances"] == len(synth_tasks), res.stdout
    assert report["skipped_finished_instances"] == len(finished_before)
    for iid, mtime in finished_before.items():
        assert (out / iid / "report.json").stat().st_mtime_ns == mtime  # not redone
    for t in synth_tasks:
        v = read_instance_report(out, t["instance_id"])
        assert v["tests_status"]["FAIL_TO_PASS"]["success"] == t["FAIL_TO_PASS"]
        assert v["test_exit_code"] == 0 and v["apply_method"] == "git_apply"


def test_empty_patch_does_not_resolve(synth_tasks_file, synth_tasks, tmp_path):
    res = _cli("eval", "--tasks", str(synth_tasks_file), "--predictions", "empty", "--run-id", "empty",
               "--out", str(tmp_path / "empty"), "--workers", "2", cwd=tmp_path)
    assert res.returncode == 0, res.stdout
    report = json.loads((tmp_path / "empty" / "report.json").read_text())
    assert report["resolved_instances"] == 0 and report["completed_instances"] == len(synth_tasks)
    assert report["empty_patch_ids"] == sorted(t["instance_id"] for t in synth_tasks)
    for t in synth_tasks:
        v = read_instance_report(tmp_path / "empty", t["instance_id"])
        assert sorted(v["tests_status"]["FAIL_TO_PASS"]["failure"]) == sorted(t["FAIL_TO_PASS"])
        assert v["tests_status"]["PASS_TO_PASS"]["failure"] == []


@pytest.fixture(scope="module")
def mixed_run(synth_tasks, tmp_path_factory):
    """One run with a different bad prediction per task (2 workers, 25 s timeout)."""
    from swe_srl.harness.run import EvalConfig, run_evaluation

    by_repo: dict[str, list[dict]] = {}
    for t in synth_tasks:
        by_repo.setdefault(t["repo"], []).append(t)
    wrong, hang = by_repo["pypi/boltons"]
    no_apply, edits_tests = by_repo["pypi/more-itertools"]
    preds = {}
    path, text = _source(wrong)
    preds[wrong["instance_id"]] = _diff(path, text, "# a harmless comment, not a fix\n" + text)
    path, text = _source(hang)
    preds[hang["instance_id"]] = _diff(path, text, "import time\ntime.sleep(3600)\n" + text)
    path, text = _source(no_apply)
    preds[no_apply["instance_id"]] = _diff(path, "def not_there():\n    return 1\n" * 3, "def not_there():\n    return 2\n" * 3)
    test_file = edits_tests["test_files"][0]
    old = subprocess.run(["git", "show", f"{edits_tests['base_commit']}:{test_file}"], cwd=edits_tests["repo_path"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    preds[edits_tests["instance_id"]] = _diff(test_file, old, "import pytest\npytest.skip(allow_module_level=True)\n" + old)
    predictions = {k: {"instance_id": k, "model_name_or_path": "bad", "model_patch": v} for k, v in preds.items()}
    out = tmp_path_factory.mktemp("mixed")
    t0 = time.monotonic()
    report = run_evaluation(synth_tasks, predictions, out, EvalConfig(run_id="mixed", timeout=25, workers=2))
    roles = {"wrong": wrong, "hang": hang, "no_apply": no_apply, "edits_tests": edits_tests}
    return report, out, roles, time.monotonic() - t0


def test_wrong_patch_is_unresolved_with_the_failing_tests_named(mixed_run):
    report, out, roles, _ = mixed_run
    t = roles["wrong"]
    v = read_instance_report(out, t["instance_id"])
    assert v["status"] == "unresolved" and v["patch_successfully_applied"]
    assert sorted(v["tests_status"]["FAIL_TO_PASS"]["failure"]) == sorted(t["FAIL_TO_PASS"])
    assert t["instance_id"] in report["unresolved_ids"]


def test_patch_that_does_not_apply_is_reported_as_such(mixed_run):
    report, out, roles, _ = mixed_run
    iid = roles["no_apply"]["instance_id"]
    v = read_instance_report(out, iid)
    assert v["status"] == "patch_failed" and not v["patch_successfully_applied"]
    assert iid in report["patch_apply_failed_ids"] and iid in report["unresolved_ids"]
    assert ">>>>> Patch Apply Failed" in (out / iid / "test_output.txt").read_text()


def test_hanging_test_is_stopped_by_the_timeout(mixed_run):
    report, out, roles, elapsed = mixed_run
    iid = roles["hang"]["instance_id"]
    v = read_instance_report(out, iid)
    assert v["status"] == "timeout" and not v["resolved"]
    assert iid in report["timeout_ids"] and iid in report["error_ids"] and iid not in report["unresolved_ids"]
    assert elapsed < 300


def test_test_file_edits_cannot_resolve(mixed_run):
    report, out, roles, _ = mixed_run
    t = roles["edits_tests"]
    v = read_instance_report(out, t["instance_id"])
    assert v["status"] == "unresolved"
    assert sorted(v["tests_status"]["FAIL_TO_PASS"]["failure"]) == sorted(t["FAIL_TO_PASS"])


def test_rewrite_reports_regrades_saved_logs_without_containers(mixed_run, synth_tasks, tmp_path):
    report, out, roles, _ = mixed_run
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text("".join(json.dumps(t) + "\n" for t in synth_tasks))
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"instance_id": t["instance_id"], "model_name_or_path": "bad",
                                         "model_patch": (out / t["instance_id"] / "patch.diff").read_text()}) + "\n"
                             for t in synth_tasks))
    before = {t["instance_id"]: read_instance_report(out, t["instance_id"]) for t in synth_tasks}
    res = _cli("eval", "--tasks", str(tasks_file), "--predictions", str(preds), "--run-id", "mixed", "--out", str(out),
               "--rewrite-reports", cwd=tmp_path)
    assert res.returncode == 0, res.stdout
    for iid, old in before.items():
        new = read_instance_report(out, iid)
        assert new["regraded"] and new["status"] == old["status"] and new.get("tests_status") == old.get("tests_status")


def test_real_logs_get_the_same_verdict_from_swebench(mixed_run, synth_tasks, tmp_path):
    pytest.importorskip("swebench")
    from .test_grading import same_verdict, swebench_report

    _, out, _, _ = mixed_run
    for t in synth_tasks:
        ours = read_instance_report(out, t["instance_id"])
        theirs = swebench_report(t, out / t["instance_id"] / "test_output.txt", "parse_log_pytest")
        assert same_verdict(ours, theirs), t["instance_id"]


def test_validate_passes_synthesized_tasks_and_flags_nothing_flaky(synth_tasks, tmp_path):
    one = [t for t in synth_tasks if t["repo"] == "pypi/boltons"][:1]
    tasks_file = tmp_path / "one.jsonl"
    tasks_file.write_text(json.dumps(one[0]) + "\n")
    res = _cli("tasks", "validate", str(tasks_file), "--repeat", "2", "--out", str(tmp_path / "v"),
               "--write-valid", str(tmp_path / "valid.jsonl"), cwd=tmp_path)
    assert res.returncode == 0, res.stdout
    report = json.loads((tmp_path / "v" / "validation.json").read_text())
    assert report["counts"] == {"valid": 1}, report
    assert report["instances"][one[0]["instance_id"]]["flaky_tests"] == []
    assert (tmp_path / "valid.jsonl").read_text().count("\n") == 1


CALC = '''def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def is_even(n):
    return n % 2 == 0


def total(xs):
    s = 0
    for x in xs:
        s += x
    return s
'''
CALC_TESTS = '''from pkg.calc import clamp, is_even, total


def test_clamp_low():
    assert clamp(-5, 0, 10) == 0


def test_clamp_high():
    assert clamp(50, 0, 10) == 10


def test_clamp_inside():
    assert clamp(5, 0, 10) == 5


def test_even():
    assert is_even(4) and not is_even(3)


def test_total():
    assert total([1, 2, 3]) == 6
'''


def test_synthesize_from_a_local_repo_via_the_cli_and_resume_from_the_journal(tmp_path):
    from .conftest import git

    repo = tmp_path / "calcrepo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "calc.py").write_text(CALC)
    (repo / "tests" / "test_calc.py").write_text(CALC_TESTS)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "calc")
    head = git(repo, "rev-parse", "HEAD").strip()
    out = tmp_path / "tasks.jsonl"
    test_cmd = "python -m pytest -rA --tb=short -p no:cacheprovider"
    args = ["tasks", "synthesize", "--repo", str(repo), "--out", str(out), "--max", "2", "--cache-dir",
            str(tmp_path / "cache"), "--test-cmd", test_cmd]
    res = _cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stdout
    tasks = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(tasks) == 2
    for t in tasks:
        assert t["repo"] == "local/calcrepo" and t["FAIL_TO_PASS"] and t["test_files"] == ["tests/test_calc.py"]
        assert t["meta"]["original_commit"] == head and t["spec"]["test_cmd"] == test_cmd
    assert git(repo, "rev-parse", "HEAD").strip() == head and git(repo, "status", "--porcelain") == ""
    first = json.loads((tmp_path / "tasks.jsonl.stats.json").read_text())
    res = _cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stdout
    again = json.loads((tmp_path / "tasks.jsonl.stats.json").read_text())
    assert again["from_journal"] == again["tried"] == first["tried"]
    assert [json.loads(line)["instance_id"] for line in out.read_text().splitlines()] == [t["instance_id"] for t in tasks]


def test_unbuildable_environment_is_an_infra_error_not_a_model_failure(synth_tasks, tmp_path):
    from swe_srl.harness.report import run_report
    from swe_srl.harness.run import EvalConfig, evaluate_instance

    task = dict(synth_tasks[0], base_commit="0" * 40)
    pred = {"instance_id": task["instance_id"], "model_name_or_path": "m", "model_patch": task["patch"]}
    v = evaluate_instance(task, pred, tmp_path, EvalConfig(run_id="infra"))
    assert v["status"] == "infra_error" and v["error_kind"] == "image_build" and "not found" in v["error"]
    report = run_report([task], {task["instance_id"]: pred}, tmp_path, run_id="infra")
    assert report["infra_failure_ids"] == [task["instance_id"]] and report["unresolved_ids"] == []
    assert report["error_ids"] == [task["instance_id"]]


def test_container_death_during_the_tests_is_an_infra_error(synth_tasks, tmp_path):
    import threading

    from swe_srl.harness.run import EvalConfig, evaluate_instance

    task = next(t for t in synth_tasks if t["repo"] == "pypi/boltons")
    path, text = _source(task)
    pred = {"instance_id": task["instance_id"], "model_name_or_path": "m",
            "model_patch": _diff(path, text, "import time\ntime.sleep(3600)\n" + text)}
    result: dict = {}
    run_id = f"death-{os.getpid()}"
    th = threading.Thread(target=lambda: result.update(v=evaluate_instance(task, pred, tmp_path, EvalConfig(run_id=run_id, timeout=120))))
    th.start()
    deadline = time.time() + 120
    killed = False
    while time.time() < deadline and not killed:
        ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label=swe-srl.run={run_id}"], stdout=subprocess.PIPE,
                             text=True).stdout.split()
        if ids and (tmp_path / task["instance_id"] / "eval.sh").exists():
            time.sleep(2)  # the eval script is running (and hanging)
            subprocess.run(["docker", "rm", "-f", *ids], stdout=subprocess.DEVNULL)
            killed = True
        time.sleep(0.3)
    th.join(timeout=200)
    assert killed
    v = result["v"]
    assert v["status"] == "infra_error" and v["error_kind"] == "sandbox", v


def test_test_patch_is_applied_in_the_sandbox_and_its_tests_graded(synth_tasks, tmp_path):
    """A SWE-bench-shaped task (non-empty test_patch): the added test exists only
    through the test patch, so the gold patch resolves only if it was applied."""
    from swe_srl.harness.run import EvalConfig, evaluate_instance

    base = next(t for t in synth_tasks if t["repo"] == "pypi/boltons")
    test_file = base["test_files"][0]
    old = subprocess.run(["git", "show", f"{base['base_commit']}:{test_file}"], cwd=base["repo_path"], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    test_patch = _diff(test_file, old, old + "\n\ndef test_added_by_the_test_patch():\n    assert True\n")
    task = dict(base, instance_id=base["instance_id"] + "-tp", test_patch=test_patch, test_files=None,
                PASS_TO_PASS=[*base["PASS_TO_PASS"], f"{test_file}::test_added_by_the_test_patch"])
    pred = {"instance_id": task["instance_id"], "model_name_or_path": "gold", "model_patch": task["patch"]}
    v = evaluate_instance(task, pred, tmp_path, EvalConfig(run_id="tp", timeout=120))
    assert v["resolved"], v
    assert f"{test_file}::test_added_by_the_test_patch" in v["tests_status"]["PASS_TO_PASS"]["success"]


SPIN = '''import operator


def spin(n):
    i = 0
    while operator.lt(i, n):
        i = i + 1
    return i


def double(x):
    return x * 2
'''
SPIN_TESTS = '''from pkg.spin import double, spin


def test_spin():
    assert spin(3) == 3


def test_double():
    assert double(2) == 4


def test_unrelated():
    assert True
'''


def test_synthesis_drops_and_counts_bugs_that_hang(tmp_path):
    from swe_srl.tasks.synthesize import synthesize_repo

    from .conftest import git

    repo = tmp_path / "spinrepo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "spin.py").write_text(SPIN)
    (repo / "tests" / "test_spin.py").write_text(SPIN_TESTS)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "spin")
    t0 = time.monotonic()
    tasks, stats = synthesize_repo(repo, max_tasks=5, kinds=("swap_operator",), run_timeout=8,
                                   cache_dir=tmp_path / "cache")
    assert stats.tried == 2 and stats.hang == 1 and stats.kept == 1, stats
    assert [t["meta"]["function"] for t in tasks] == ["double"]
    assert tasks[0]["FAIL_TO_PASS"] == ["tests/test_spin.py::test_double"]
    assert sorted(tasks[0]["PASS_TO_PASS"]) == ["tests/test_spin.py::test_spin", "tests/test_spin.py::test_unrelated"]
    assert stats.dropped_examples[0]["reason"] == "hang"
    assert time.monotonic() - t0 < 120


def test_interrupt_during_a_long_test_run_exits_at_once_and_leaves_no_container(synth_tasks, tmp_path):
    task = next(t for t in synth_tasks if t["repo"] == "pypi/boltons")
    path, text = _source(task)
    (tmp_path / "t.jsonl").write_text(json.dumps(task) + "\n")
    (tmp_path / "p.jsonl").write_text(json.dumps({"instance_id": task["instance_id"], "model_name_or_path": "h",
                                                  "model_patch": _diff(path, text, "import time\ntime.sleep(3600)\n" + text)}) + "\n")
    run_id = f"int-{os.getpid()}"
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "eval", "--tasks", str(tmp_path / "t.jsonl"), "--predictions", str(tmp_path / "p.jsonl"),
                             "--run-id", run_id, "--out", str(out), "--timeout", "600"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / task["instance_id"] / "eval.sh").exists():
        time.sleep(0.2)
    time.sleep(3)  # the hanging tests are running
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert time.monotonic() - t0 < 20
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=swe-srl.run={run_id}"], stdout=subprocess.PIPE,
                          text=True).stdout.split()
    assert left == []
    v = read_instance_report(out, task["instance_id"])
    assert v is None or v["status"] == "infra_error"  # not a verdict: a re-run evaluates it again
