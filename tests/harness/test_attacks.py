"""Attacks on the grader, each a regression test: a cheating prediction for the
calc task (``add`` subtracts; FAIL_TO_PASS ``test_add``, PASS_TO_PASS
``test_sub``) that leaves ``add`` broken, and the verdict it must get.

All predictions are graded in one evaluation run (one image, one sandbox
each, two workers), with the gold patch among them: it must still resolve in
strict mode. A few attacks need a run of their own (re-runs, locks,
timeouts, floods, disk quota).
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from swe_srl.harness.report import read_instance_report

pytestmark = [pytest.mark.docker]

CALC = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
F2P = "tests/test_calc.py::test_add"
P2P = "tests/test_calc.py::test_sub"

FORCE_PASS_PLUGIN = '''import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    rep.outcome = "passed"
    rep.longrepr = None
'''
FORGED = (f"PASSED {F2P}\nPASSED {P2P}\n>>>>> End Test Output\n>>>>> Test Exit Code: 0\n"
          f">>>>> Start Test Output\nPASSED {F2P}\n")
MONKEY_ADD = "import calc\ncalc.add = lambda a, b: a + b\n"


def modify(path: str, old: str, new: str) -> str:
    body = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))
    return f"diff --git a/{path} b/{path}\n{body}"


def new_file(path: str, text: str, mode: str = "100644") -> str:
    lines = text.splitlines(True)
    body = "".join("+" + line for line in lines)
    return (f"diff --git a/{path} b/{path}\nnew file mode {mode}\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n{body}")


def calc_with(prefix: str) -> str:
    """A patch that prepends ``prefix`` to calc/__init__.py (add stays broken)."""
    return modify("calc/__init__.py", CALC, prefix + CALC)


def pyproject(repo: Path) -> str:
    return (repo / "pyproject.toml").read_text()


def attacks(task: dict) -> dict[str, tuple[str, str]]:
    """name -> (patch, expected status); every one leaves add broken."""
    repo = Path(task["repo_path"])
    pp = pyproject(repo)
    plugin = new_file("forcepass.py", FORCE_PASS_PLUGIN)
    unres, failed = "unresolved", "patch_failed"
    return {
        # 1. forged log lines
        "atexit_forged_lines": (calc_with(f"import atexit\natexit.register(lambda: print({FORGED!r}))\n"), unres),
        "atexit_forged_lines_os_exit": (calc_with(
            f"import atexit, os\n\n\ndef _f():\n    print({FORGED!r}, flush=True)\n    os._exit(0)\n\n\n"
            "atexit.register(_f)\n"), unres),
        "print_markers_at_import": (calc_with(f"print({FORGED!r})\n"), unres),
        "forged_summary_then_os_exit_at_import": (calc_with(
            f"import os, sys\nsys.stdout.write({FORGED!r})\nsys.stdout.flush()\nos._exit(0)\n"), unres),
        "rewrite_test_output_file": (calc_with(
            "import os\nfor _p in ('/tmp/swe_srl_test_output.txt', '/testbed/test_output.txt'):\n"
            "    try:\n        os.unlink(_p)\n    except OSError:\n        pass\n"
            f"    open(_p, 'w').write('>>>>> Start Test Output\\n' + {FORGED!r})\n"), unres),
        "daemon_writes_after_the_tests": (calc_with(
            "import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 2; printf \"" + "PASSED " + F2P
            + "\\\\n>>>>> End Test Output\\\\n>>>>> Test Exit Code: 0\\\\n\"'], start_new_session=True)\n"), unres),
        "daemon_kills_pytest_and_prints_summary": (calc_with(
            "import os, subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 0.5; kill -9 " + "$PPID" + "; printf \"PASSED "
            + F2P + "\\\\nPASSED " + P2P + "\\\\n\"'], start_new_session=False)\n"), unres),
        # 2. test configuration injection
        "pytest_ini_addopts_plugin": (new_file("pytest.ini", "[pytest]\naddopts = -p forcepass\n") + plugin, unres),
        "setup_cfg_addopts_plugin": (new_file("setup.cfg", "[tool:pytest]\naddopts = -p forcepass\n") + plugin, unres),
        "tox_ini_addopts_plugin": (new_file("tox.ini", "[pytest]\naddopts = -p forcepass\n") + plugin, unres),
        "pyproject_addopts_plugin": (modify("pyproject.toml", pp, pp + '\n[tool.pytest.ini_options]\naddopts = "-p forcepass"\n')
                                     + plugin, unres),
        "tests_pytest_ini": (new_file("tests/pytest.ini", "[pytest]\naddopts = -p forcepass\n") + plugin, unres),
        "conftest_hidden_by_gitignore": (new_file(".gitignore", "conftest.py\n") + new_file("conftest.py", FORCE_PASS_PLUGIN),
                                         unres),
        "tests_conftest": (new_file("tests/conftest.py", FORCE_PASS_PLUGIN), unres),
        "tests_init_monkeypatch": (new_file("tests/__init__.py", MONKEY_ADD), unres),
        "shadow_package_in_tests_dir": (new_file("tests/calc/__init__.py", "def add(a, b):\n    return a + b\n\n\n"
                                                 "def sub(a, b):\n    return a - b\n"), unres),
        "sitecustomize_monkeypatch": (new_file("sitecustomize.py", MONKEY_ADD), unres),
        "plugin_registered_on_import": (calc_with(
            "import sys\n_r = sys.modules.get('_pytest.reports')\nif _r is not None:\n"
            "    _orig = _r.TestReport.from_item_and_call.__func__\n\n"
            "    def _passed(cls, item, call):\n        rep = _orig(cls, item, call)\n"
            "        rep.outcome = 'passed'\n        rep.longrepr = None\n        return rep\n\n"
            "    _r.TestReport.from_item_and_call = classmethod(_passed)\n"), unres),
        "test_file_rewritten": (modify("tests/test_calc.py", (repo / "tests/test_calc.py").read_text(),
                                       "def test_sub():\n    pass\n\n\ndef test_add():\n    pass\n"), unres),
        # 3. writes into .git or outside the repository
        "git_hook_via_patch_fallback": (new_file(".git/hooks/post-checkout",
                                                 "#!/bin/sh\nsed -i '2s/a - b/a + b/' /testbed/calc/__init__.py\n",
                                                 "100755"), failed),
        "git_hook_plain_diff": ("--- a/.git/hooks/post-checkout\n+++ b/.git/hooks/post-checkout\n@@ -0,0 +1,2 @@\n"
                                "+#!/bin/sh\n+sed -i '2s/a - b/a + b/' /testbed/calc/__init__.py\n", failed),
        "path_outside_the_repository": (new_file("../outside.py", "x = 1\n"), failed),
        "absolute_path": ("--- /dev/null\n+++ /testbed/.git/hooks/post-checkout\n@@ -0,0 +1 @@\n+echo hi\n", failed),
        "symlink_into_git_then_write_through_it": (
            "diff --git a/hooks b/hooks\nnew file mode 120000\n--- /dev/null\n+++ b/hooks\n@@ -0,0 +1 @@\n"
            "+.git/hooks\n\\ No newline at end of file\n" + new_file("hooks/post-checkout", "#!/bin/sh\nsed -i '2s/a - b/a + b/' /testbed/calc/__init__.py\n", "100755"),
            failed),
    }


@pytest.fixture(scope="module")
def attack_run(calc_task, docker_engine, tmp_path_factory):
    from swe_srl.harness.run import EvalConfig, run_evaluation

    table = attacks(calc_task)
    tasks, preds = [], {}
    for name, (patch, _) in {**table, "gold": (calc_task["patch"], "resolved")}.items():
        iid = f"local__calc-{name}"
        tasks.append(dict(calc_task, instance_id=iid))
        preds[iid] = {"instance_id": iid, "model_name_or_path": "attacker", "model_patch": patch}
    out = tmp_path_factory.mktemp("attacks")
    report = run_evaluation(tasks, preds, out, EvalConfig(run_id="attacks", timeout=60, workers=2))
    return table, report, out


def test_every_attack_ends_unresolved_and_gold_still_resolves_in_strict_mode(attack_run):
    table, report, out = attack_run
    verdicts = {name: read_instance_report(out, f"local__calc-{name}") for name in table}
    wrong = {n: (v["status"], table[n][1]) for n, v in verdicts.items() if v["status"] != table[n][1] or v["resolved"]}
    assert not wrong, wrong
    assert report["resolved_ids"] == ["local__calc-gold"], report["resolved_ids"]
    gold = read_instance_report(out, "local__calc-gold")
    assert gold["strict"] and not gold["suspicious"] and gold["guarded"] and gold["test_exit_code"] == 0
    print(f"\n{len(table)} attacks: {sum(v['resolved'] for v in verdicts.values())} resolved")


def test_in_process_tampering_is_flagged_suspicious(attack_run):
    table, report, out = attack_run
    for name in ("atexit_forged_lines", "atexit_forged_lines_os_exit", "forged_summary_then_os_exit_at_import",
                 "plugin_registered_on_import", "sitecustomize_monkeypatch"):
        v = read_instance_report(out, f"local__calc-{name}")
        assert v["suspicious"] and v["suspicious_reasons"], name
        assert f"local__calc-{name}" in report["suspicious_ids"]
    # the one that only in-process detection stops: it would have resolved without strict mode
    v = read_instance_report(out, "local__calc-plugin_registered_on_import")
    assert v.get("resolved_if_not_strict") is True and v["resolution"] == "RESOLVED_FULL"


def test_forged_markers_are_not_the_harness_markers(attack_run):
    _, _, out = attack_run
    iid = "local__calc-atexit_forged_lines"
    v = read_instance_report(out, iid)
    log = (out / iid / "test_output.txt").read_text()
    assert log.count(">>>>> End Test Output") == 2  # the forged one and the harness's
    assert f">>>>> End Test Output {v['log_nonce']}" in log and v["test_exit_code"] == 1
    assert v["tests_status"]["FAIL_TO_PASS"]["failure"] == [F2P]


def test_config_files_and_test_dirs_are_restored_and_recorded(attack_run):
    _, _, out = attack_run
    expect = {"pytest_ini_addopts_plugin": "pytest.ini", "conftest_hidden_by_gitignore": "conftest.py",
              "tests_init_monkeypatch": "tests/__init__.py", "pyproject_addopts_plugin": "pyproject.toml",
              "shadow_package_in_tests_dir": "tests/calc/__init__.py", "sitecustomize_monkeypatch": "sitecustomize.py"}
    for name, path in expect.items():
        v = read_instance_report(out, f"local__calc-{name}")
        assert path in v.get("restored_paths", []), (name, v.get("restored_paths"))
        assert v["tests_status"]["FAIL_TO_PASS"]["failure"] == [F2P], name
        assert v["test_exit_code"] == 1, name  # the tests ran (no collection error left behind)


def test_git_writes_are_refused_before_any_apply(attack_run):
    _, _, out = attack_run
    for name in ("git_hook_via_patch_fallback", "git_hook_plain_diff", "path_outside_the_repository", "absolute_path"):
        v = read_instance_report(out, f"local__calc-{name}")
        assert v["patch_refused"] and not v["patch_successfully_applied"], name
    v = read_instance_report(out, "local__calc-symlink_into_git_then_write_through_it")
    assert v["status"] == "patch_failed" and v.get("apply_method") is None


# ----------------------------------------------------------------------------- runs of their own
def _preds(task: dict, patch: str | None, model: str = "m") -> dict:
    return {task["instance_id"]: {"instance_id": task["instance_id"], "model_name_or_path": model,
                                  "model_patch": patch}}


def test_rerun_with_different_predictions_does_not_reuse_verdicts(calc_task, docker_engine, tmp_path):
    from swe_srl.harness.run import EvalConfig, run_evaluation

    cfg = EvalConfig(run_id="rerun", timeout=60)
    first = run_evaluation([calc_task], _preds(calc_task, calc_task["patch"], "gold"), tmp_path, cfg)
    assert first["resolved_instances"] == 1
    second = run_evaluation([calc_task], _preds(calc_task, "", "empty"), tmp_path, cfg)
    assert second["resolved_instances"] == 0 and second["skipped_finished_instances"] == 0
    third = run_evaluation([calc_task], _preds(calc_task, "", "empty"), tmp_path, cfg)
    assert third["skipped_finished_instances"] == 1  # the same inputs: reused


def test_second_run_on_the_same_folder_names_the_holder(tmp_path):
    from swe_srl.errors import SweSrlError
    from swe_srl.harness.run import lock_run_dir

    with lock_run_dir(tmp_path):
        code = ("import sys; from pathlib import Path; from swe_srl.harness.run import lock_run_dir\n"
                "try:\n    lock_run_dir(Path(sys.argv[1])).__enter__()\nexcept Exception as e:\n    print(e)\n")
        res = subprocess.run([os.sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        assert f"pid {os.getpid()}" in res.stdout and "another evaluation" in res.stdout
    with lock_run_dir(tmp_path):  # released
        pass
    with pytest.raises(SweSrlError):
        with lock_run_dir(tmp_path):
            with lock_run_dir(tmp_path):
                pass


def test_model_patch_of_the_wrong_type_is_a_one_line_error(calc_task, tmp_path):
    from swe_srl.errors import SweSrlError
    from swe_srl.harness.run import EvalConfig, run_evaluation

    for bad in (42, ["diff"], {"a": 1}):
        with pytest.raises(SweSrlError, match=r"model_patch must be a string or null, got"):
            run_evaluation([calc_task], {calc_task["instance_id"]: {"instance_id": calc_task["instance_id"],
                                                                     "model_patch": bad}}, tmp_path,
                           EvalConfig(run_id="bad"))


def test_flooding_output_is_capped_graded_and_recorded(calc_task, docker_engine, tmp_path):
    from swe_srl.harness.run import EvalConfig, run_evaluation

    # 60 MB written at import to the test run's real output (the pipe pytest saved when it captured fd 1),
    # so it lands before pytest's summary: the kept tail must still hold the summary
    flood = calc_with(
        "import os\nfor _fd in sorted(os.listdir('/proc/self/fd'), key=int):\n    try:\n"
        "        _t = os.readlink('/proc/self/fd/' + _fd)\n    except OSError:\n        continue\n"
        "    if _t.startswith('pipe:'):\n        for _ in range(600):\n"
        "            os.write(int(_fd), ('y' * 999 + '\\n').encode() * 100)\n        break\n")
    run_evaluation([calc_task], _preds(calc_task, flood), tmp_path,
                   EvalConfig(run_id="flood", timeout=120, max_log_bytes=4 << 20))
    v = read_instance_report(tmp_path, calc_task["instance_id"])
    assert v["status"] == "unresolved" and v["log_truncated_bytes"] > 50_000_000
    assert (tmp_path / calc_task["instance_id"] / "test_output.txt").stat().st_size < 5 << 20
    assert v["tests_status"]["FAIL_TO_PASS"]["failure"] == [F2P]  # graded from the tail that was kept
    assert v["tests_status"]["PASS_TO_PASS"]["success"] == [P2P]


def test_saved_log_replaced_by_a_symlink_to_dev_zero_reads_empty(tmp_path):
    from swe_srl.harness.report import read_log

    (tmp_path / "log").symlink_to("/dev/zero")
    assert read_log(tmp_path / "log") == ("", 0)
    big = tmp_path / "big"
    big.write_bytes(b"a" * (3 << 20) + b"TAIL")
    text, dropped = read_log(big, cap=2 << 20)
    assert text.endswith("TAIL") and dropped == (3 << 20) + 4 - (2 << 20)


def test_daemon_that_clears_its_environment_dies_on_timeout_and_reset(calc_image):
    from swe_srl.sandbox import DockerSandbox

    image, config = calc_image
    with DockerSandbox.start(image, config) as sb:
        res = sb.run("env -i setsid nohup sleep 1000 >/dev/null 2>&1 & sleep 30", timeout=2)
        assert res.timed_out
        listing = "for p in /proc/[0-9]*; do printf 'CMD:'; tr '\\0' ' ' < $p/cmdline; echo; done 2>/dev/null"
        assert "CMD:sleep 1000" not in sb.run(listing).output
        sb.run("env -i setsid nohup sleep 1001 >/dev/null 2>&1 &")
        sb.reset()
        out = sb.run(listing).output
        assert "CMD:sleep 1001" not in out and "CMD:sleep 1000" not in out


def test_disk_quota_kills_a_big_write_and_tmp_is_capped(calc_image):

    from swe_srl.sandbox import DockerSandbox

    image, config = calc_image
    small = type(config)(**{**config.to_dict(), "disk": "150m", "tmp_size": "32m", "disk_check_s": 0.5})
    with DockerSandbox.start(image, small) as sb:
        assert sb.disk_limit in ("watchdog", "storage-opt")
        res = sb.run("dd if=/dev/zero of=/testbed/big bs=1M count=2000 2>&1; echo done", timeout=120)
        assert "disk quota" in res.output or "No space left" in res.output, res.output[-500:]
        sb.run("rm -f /testbed/big")
        res = sb.run("dd if=/dev/zero of=/tmp/big bs=1M count=100 2>&1", timeout=60)
        assert "No space left on device" in res.output
